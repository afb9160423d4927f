/**
 * One resolution of a name into instances, and the wait until the next:
 *
 * - `dns+srv://`: the SRV records of the name (after its CNAMEs), each
 *   target's addresses from the additional section when the answer has them,
 *   else from A and AAAA queries; an instance per (address, port), `weight`
 *   the SRV weight, `metadata.priority` and `metadata.target` from the record;
 * - `dns://`: the A and AAAA records of the name, an instance per address on
 *   the watch's port.
 *
 * The id is `address:port` (`[v6]:port`): two records that point at the
 * same endpoint are one instance (the one of lowest priority, then highest
 * weight). NXDOMAIN, no data and an SRV target of `.` are an empty set. The
 * wait is the smallest TTL of the records used (the negative-caching TTL of
 * the SOA for an empty answer), bounded by `minTtlMs` and `maxTtlMs`.
 *
 * @module
 */
import { forkJoin, map, type Observable, of, switchMap } from 'rxjs';
import { DecodeError, type ErrorContext } from '../../core/errors.js';
import { createInstance, type Instance } from '../../core/instance.js';
import { formatHostPort } from '../../core/url.js';
import type { DnsClient } from './client.js';
import type { DnsMessage, DnsRecord } from './codecs.js';
import type { ResolvedDnsOptions } from './options.js';

/** One resolution: the instances, the records skipped, and when to resolve again. */
export interface Resolution {
  readonly instances: readonly Instance[];
  readonly skipped: readonly DecodeError[];
  /** The records' TTL, bounded: the wait before the next resolution. */
  readonly ttlMs: number;
}

/** What a resolution needs. */
export interface ResolveDeps {
  readonly client: DnsClient;
  readonly options: ResolvedDnsOptions;
  readonly registry: string;
  readonly secure: boolean;
}

const NXDOMAIN = 3;

/** The TTL of a negative answer: the SOA's `min(ttl, minimum)` (RFC 2308), if any. */
const negativeTtl = (m: DnsMessage): number | undefined => {
  const soa = m.authorities.find((r) => r.type === 'SOA');
  return soa?.type === 'SOA' ? Math.min(soa.ttl, soa.minimum) : undefined;
};

/** The names `name` stands for in `records`: itself, then its CNAME chain; and their smallest TTL. */
const aliases = (
  name: string,
  records: readonly DnsRecord[],
): { readonly names: ReadonlySet<string>; readonly ttl: number | undefined } => {
  const names = new Set([name]);
  let ttl: number | undefined;
  for (let current = name, hops = 0; hops < 16; hops++) {
    const c = records.find((r) => r.type === 'CNAME' && r.name === current);
    if (c?.type !== 'CNAME' || names.has(c.target)) break;
    names.add(c.target);
    ttl = Math.min(ttl ?? c.ttl, c.ttl);
    current = c.target;
  }
  return { names, ttl };
};

/** Addresses and their smallest TTL (undefined: nothing known). */
interface Addresses {
  readonly addresses: readonly string[];
  readonly ttl: number | undefined;
  /** Address records that did not decode. */
  readonly skipped?: readonly DecodeError[];
}

/** The A/AAAA addresses of `name` among `records` (following its CNAMEs). */
const addressesIn = (name: string, records: readonly DnsRecord[]): Addresses => {
  const chain = aliases(name, records);
  let ttl = chain.ttl;
  const addresses: string[] = [];
  for (const r of records) {
    if ((r.type === 'A' || r.type === 'AAAA') && chain.names.has(r.name)) {
      addresses.push(r.address);
      ttl = Math.min(ttl ?? r.ttl, r.ttl);
    }
  }
  return { addresses, ttl };
};

const smallest = (...ttls: (number | undefined)[]): number | undefined => {
  const known = ttls.filter((t): t is number => t !== undefined);
  return known.length === 0 ? undefined : Math.min(...known);
};

const bounded = (ttlSeconds: number | undefined, o: ResolvedDnsOptions): number =>
  Math.min(o.maxTtlMs, Math.max(o.minTtlMs, (ttlSeconds ?? 0) * 1000));

/** The A and AAAA answers of `name`, queried together. */
const lookup = (
  deps: ResolveDeps,
  name: string,
  context: ErrorContext,
): Observable<Addresses & { readonly negative: number | undefined }> =>
  forkJoin([deps.client.ask(name, 'A', context), deps.client.ask(name, 'AAAA', context)]).pipe(
    map(([a, aaaa]) => {
      const fromA = addressesIn(name, a.answers);
      const fromAaaa = addressesIn(name, aaaa.answers);
      return {
        addresses: [...fromA.addresses, ...fromAaaa.addresses],
        ttl: smallest(fromA.ttl, fromAaaa.ttl),
        negative: smallest(negativeTtl(a), negativeTtl(aaaa)),
        skipped: [...a.skipped, ...aaaa.skipped],
      };
    }),
  );

/** One candidate endpoint before de-duplication. */
interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly weight: number;
  readonly priority: number | undefined;
  readonly target: string | undefined;
}

/** Instances from endpoints: one per address:port, lowest priority then highest weight first. */
const instancesOf = (
  endpoints: readonly Endpoint[],
  service: string,
  deps: ResolveDeps,
): Instance[] => {
  const best = new Map<string, Endpoint>();
  for (const e of endpoints) {
    const id = formatHostPort(e.host, e.port);
    const known = best.get(id);
    const better =
      known === undefined ||
      (e.priority ?? 0) < (known.priority ?? 0) ||
      ((e.priority ?? 0) === (known.priority ?? 0) && e.weight > known.weight);
    if (better) best.set(id, e);
  }
  return [...best].map(([id, e]) =>
    createInstance(
      {
        id,
        service,
        host: e.host,
        port: e.port,
        secure: deps.secure,
        weight: e.weight,
        metadata:
          e.target === undefined ? {} : { target: e.target, priority: String(e.priority ?? 0) },
      },
      deps.registry,
    ),
  );
};

/** Resolves the SRV name `service` (`_http._tcp.hello.example`, `hello.service.consul`). */
export const resolveSrv = (deps: ResolveDeps, service: string): Observable<Resolution> => {
  const context = { registry: deps.registry, service };
  const name = service.toLowerCase();
  return deps.client.ask(name, 'SRV', context).pipe(
    switchMap((m) => {
      const chain = aliases(name, m.answers);
      const srvs = m.answers.filter(
        (r): r is Extract<DnsRecord, { type: 'SRV' }> =>
          r.type === 'SRV' && chain.names.has(r.name),
      );
      if (m.rcode === NXDOMAIN || srvs.length === 0) {
        return of<Resolution>({
          instances: [],
          skipped: m.skipped,
          ttlMs: bounded(smallest(chain.ttl, negativeTtl(m)), deps.options),
        });
      }
      // A target of "." means: decidedly not available here (RFC 2782).
      const targets = [...new Set(srvs.map((s) => s.target))].filter((t) => t !== '' && t !== '.');
      const addresses$ = targets.map((t): Observable<Addresses> => {
        const given = addressesIn(t, m.additionals);
        return given.addresses.length > 0 ? of(given) : lookup(deps, t, context);
      });
      return (addresses$.length === 0 ? of([]) : forkJoin(addresses$)).pipe(
        map((found): Resolution => {
          const byTarget = new Map(targets.map((t, i) => [t, found[i]!]));
          const skipped = [...m.skipped, ...found.flatMap((a) => a.skipped ?? [])];
          const endpoints: Endpoint[] = [];
          let ttl = smallest(chain.ttl, ...srvs.map((s) => s.ttl));
          for (const s of srvs) {
            const a = byTarget.get(s.target);
            if (a === undefined) continue;
            ttl = smallest(ttl, a.ttl);
            if (a.addresses.length === 0) {
              skipped.push(
                new DecodeError(
                  `SRV ${s.name} -> ${s.target}:${s.port}`,
                  ['target: expected a name with A or AAAA records, got none'],
                  context,
                ),
              );
            }
            for (const host of a.addresses) {
              endpoints.push({
                host,
                port: s.port,
                weight: s.weight,
                priority: s.priority,
                target: s.target,
              });
            }
          }
          return {
            instances: instancesOf(endpoints, service, deps),
            skipped,
            ttlMs: bounded(ttl, deps.options),
          };
        }),
      );
    }),
  );
};

/** Resolves the host name `service` into instances on `port`. */
export const resolveHost = (
  deps: ResolveDeps,
  service: string,
  port: number,
): Observable<Resolution> => {
  const context = { registry: deps.registry, service };
  return lookup(deps, service.toLowerCase(), context).pipe(
    map(
      (a): Resolution => ({
        instances: instancesOf(
          a.addresses.map((host) => ({
            host,
            port,
            weight: 1,
            priority: undefined,
            target: undefined,
          })),
          service,
          deps,
        ),
        skipped: a.skipped ?? [],
        ttlMs: bounded(
          a.addresses.length === 0 ? smallest(a.ttl, a.negative) : a.ttl,
          deps.options,
        ),
      }),
    ),
  );
};
