/**
 * DNS answers, validated with io-ts in this one place: `dns-packet` turns
 * the binary message into plain objects, and nothing of them is trusted
 * until these codecs have checked it. A message whose envelope does not
 * decode is a {@link DecodeError} for the whole answer; a record that does
 * not decode (an SRV with port 0, an A record that is no IPv4 address, a
 * target that is no host name) is skipped and reported on its own.
 *
 * @module
 */
import { isIPv4, isIPv6 } from 'node:net';
import * as t from 'io-ts';
import { decode, Port, struct } from '../../core/codecs.js';
import type { DecodeError, ErrorContext } from '../../core/errors.js';

const UInt16 = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 0 && n <= 65535, 'UInt16');
/** A TTL in seconds: RFC 2181 §8, 0 to 2^31 - 1. */
const Ttl = t.refinement(t.number, (n) => Number.isInteger(n) && n >= 0 && n <= 2 ** 31 - 1, 'Ttl');
/** A domain name as dns-packet writes it (no trailing dot; `''` or `.` is the root). */
const DomainName = t.refinement(
  t.string,
  (s) => s === '' || s === '.' || (s.length <= 253 && /^[A-Za-z0-9_*-][A-Za-z0-9_.-]*$/.test(s)),
  'DomainName',
);
const IPv4 = t.refinement(t.string, (s) => isIPv4(s), 'IPv4');
const IPv6 = t.refinement(t.string, (s) => isIPv6(s), 'IPv6');

/** The envelope of a decoded message: header, question and the three sections. */
const Envelope = struct(
  {
    id: UInt16,
    flags: UInt16,
    flag_tc: t.boolean,
    questions: t.array(struct({ name: t.string, type: t.string }, {})),
    answers: t.array(t.unknown),
    authorities: t.array(t.unknown),
    additionals: t.array(t.unknown),
  },
  {},
  'DnsMessage',
);

const Srv = struct(
  {
    name: DomainName,
    ttl: Ttl,
    data: struct({ priority: UInt16, weight: UInt16, port: Port, target: DomainName }, {}),
  },
  {},
);
const A = struct({ name: DomainName, ttl: Ttl, data: IPv4 }, {});
const AAAA = struct({ name: DomainName, ttl: Ttl, data: IPv6 }, {});
const Cname = struct({ name: DomainName, ttl: Ttl, data: DomainName }, {});
const Soa = struct({ name: DomainName, ttl: Ttl, data: struct({ minimum: Ttl }, {}) }, {});

/** A record rxdisco uses; every other type is ignored. Names are lower case. */
export type DnsRecord =
  | {
      readonly type: 'SRV';
      readonly name: string;
      readonly ttl: number;
      readonly priority: number;
      readonly weight: number;
      readonly port: number;
      readonly target: string;
    }
  | {
      readonly type: 'A' | 'AAAA';
      readonly name: string;
      readonly ttl: number;
      readonly address: string;
    }
  | { readonly type: 'CNAME'; readonly name: string; readonly ttl: number; readonly target: string }
  | { readonly type: 'SOA'; readonly name: string; readonly ttl: number; readonly minimum: number };

/** A DNS message, checked: the header fields rxdisco reads and the records it uses. */
export interface DnsMessage {
  readonly id: number;
  /** The response code: 0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED... */
  readonly rcode: number;
  /** TC: the answer did not fit (ask again over TCP). */
  readonly truncated: boolean;
  readonly questions: readonly { readonly name: string; readonly type: string }[];
  readonly answers: readonly DnsRecord[];
  readonly authorities: readonly DnsRecord[];
  readonly additionals: readonly DnsRecord[];
  /** Records of a type rxdisco uses that did not decode, each reported once. */
  readonly skipped: readonly DecodeError[];
}

const field = (v: unknown, k: string): unknown =>
  typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined;

/** What names a record in a report: `SRV _http._tcp.x -> a1.x:0`, `A a1.x`. */
const keyOf = (raw: unknown): string => {
  const type = String(field(raw, 'type'));
  const name = String(field(raw, 'name'));
  const data = field(raw, 'data');
  if (type === 'SRV')
    return `SRV ${name} -> ${String(field(data, 'target'))}:${String(field(data, 'port'))}`;
  return `${type} ${name}`;
};

const lower = (s: string): string => s.toLowerCase();

const record = (raw: unknown, context: ErrorContext): { r?: DnsRecord; e?: DecodeError } => {
  switch (field(raw, 'type')) {
    case 'SRV': {
      const d = decode(Srv, raw, keyOf(raw), context);
      if (!d.ok) return { e: d.error };
      const { priority, weight, port, target } = d.value.data;
      return {
        r: {
          type: 'SRV',
          name: lower(d.value.name),
          ttl: d.value.ttl,
          priority,
          weight,
          port,
          target: lower(target),
        },
      };
    }
    case 'A':
    case 'AAAA': {
      const type = field(raw, 'type') as 'A' | 'AAAA';
      const d = decode(type === 'A' ? A : AAAA, raw, keyOf(raw), context);
      if (!d.ok) return { e: d.error };
      return { r: { type, name: lower(d.value.name), ttl: d.value.ttl, address: d.value.data } };
    }
    case 'CNAME': {
      const d = decode(Cname, raw, keyOf(raw), context);
      if (!d.ok) return { e: d.error };
      return {
        r: {
          type: 'CNAME',
          name: lower(d.value.name),
          ttl: d.value.ttl,
          target: lower(d.value.data),
        },
      };
    }
    case 'SOA': {
      const d = decode(Soa, raw, keyOf(raw), context);
      if (!d.ok) return { e: d.error };
      return {
        r: {
          type: 'SOA',
          name: lower(d.value.name),
          ttl: d.value.ttl,
          minimum: d.value.data.minimum,
        },
      };
    }
    default:
      return {};
  }
};

/**
 * Checks what `dns-packet` decoded. `key` names the answer in a report
 * (`SRV _http._tcp.hello.example from 127.0.0.1:53`).
 */
export const decodeMessage = (
  value: unknown,
  key: string,
  context: ErrorContext,
):
  | { readonly ok: true; readonly value: DnsMessage }
  | { readonly ok: false; readonly error: DecodeError } => {
  const d = decode(Envelope, value, key, context);
  if (!d.ok) return d;
  const skipped: DecodeError[] = [];
  const section = (raws: readonly unknown[]): DnsRecord[] => {
    const out: DnsRecord[] = [];
    for (const raw of raws) {
      const { r, e } = record(raw, context);
      if (r !== undefined) out.push(r);
      if (e !== undefined) skipped.push(e);
    }
    return out;
  };
  const m = d.value;
  return {
    ok: true,
    value: {
      id: m.id,
      rcode: m.flags & 0xf,
      truncated: m.flag_tc,
      questions: m.questions.map((q) => ({ name: lower(q.name), type: q.type })),
      answers: section(m.answers),
      authorities: section(m.authorities),
      additionals: section(m.additionals),
      skipped,
    },
  };
};
