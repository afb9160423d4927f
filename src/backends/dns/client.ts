/**
 * The resolver client: one question at a time, over UDP (a socket per
 * query, so the source port is random, and a random transaction id; an
 * answer from elsewhere or for another question is ignored) with a
 * deadline, again over TCP when the answer comes truncated, and on to the
 * next resolver on a timeout, a socket error, a malformed message or a
 * SERVFAIL / REFUSED. Every query is an Observable: unsubscribing closes its
 * socket and its timer.
 *
 * @module
 */
import { randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { getServers } from 'node:dns';
import { connect, isIPv6 } from 'node:net';
import { catchError, Observable, type SchedulerLike, throwError, timer } from 'rxjs';
import { type ErrorContext, RegistryUnavailableError } from '../../core/errors.js';
import { type Endpoint, formatHostPort } from '../../core/url.js';
import { type DnsMessage, decodeMessage } from './codecs.js';
import type { ResolvedDnsOptions } from './options.js';

/** The part of `dns-packet` the client uses (loaded by the backend, an optional peer). */
export interface PacketCodec {
  encode(packet: object): Uint8Array;
  decode(message: Uint8Array): unknown;
}

/** The record types the backends ask for. */
export type QuestionType = 'SRV' | 'A' | 'AAAA';

/** Asks resolvers questions. */
export interface DnsClient {
  /**
   * The answer to (`name`, `type`), from the first resolver that gives a
   * usable one (NOERROR or NXDOMAIN).
   * @throws {RegistryUnavailableError} (in the stream) when none does.
   */
  ask(name: string, type: QuestionType, context: ErrorContext): Observable<DnsMessage>;
}

/** What the client needs. */
export interface ClientDeps {
  readonly packet: PacketCodec;
  /** The resolvers, in order (never empty). */
  readonly resolvers: readonly Endpoint[];
  readonly options: ResolvedDnsOptions;
  readonly scheduler: SchedulerLike;
}

const RCODES: Readonly<Record<number, string>> = {
  1: 'FORMERR',
  2: 'SERVFAIL',
  4: 'NOTIMP',
  5: 'REFUSED',
};

/**
 * The system's resolvers (`node:dns` `getServers()`, from
 * `/etc/resolv.conf`): `1.2.3.4`, `1.2.3.4:5353`, `::1`, `[::1]:5353`.
 */
export const systemResolvers = (servers: readonly string[] = getServers()): Endpoint[] =>
  servers.map((s) => {
    const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
    if (bracketed !== null) return { host: bracketed[1]!, port: Number(bracketed[2] ?? 53) };
    if (isIPv6(s)) return { host: s, port: 53 };
    const [host, port] = s.split(':');
    return { host: host!, port: Number(port ?? 53) };
  });

/** `ECONNREFUSED`, or the message when it does not name its code. */
const reason = (e: NodeJS.ErrnoException): string =>
  e.code !== undefined && !e.message.includes(e.code) ? `${e.code} ${e.message}` : e.message;

const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
};

/** One exchange with one resolver: what to send and how to judge what comes back. */
interface Exchange {
  readonly server: Endpoint;
  readonly id: number;
  readonly query: Uint8Array;
  readonly name: string;
  readonly type: QuestionType;
  /** `SRV x to 127.0.0.1:53`, for messages. */
  readonly what: string;
  readonly context: ErrorContext;
}

const unavailable = (x: Exchange, problem: string, cause?: unknown): RegistryUnavailableError =>
  new RegistryUnavailableError(`DNS query ${x.what} ${problem}`, {
    ...x.context,
    ...(cause === undefined ? {} : { cause }),
  });

/**
 * Reads one answer: the message decoded and checked, or why it is unusable;
 * `undefined` for a message that is not the answer to this query.
 */
const judge = (
  deps: ClientDeps,
  x: Exchange,
  bytes: Uint8Array,
): { readonly message: DnsMessage } | { readonly error: RegistryUnavailableError } | undefined => {
  if (bytes.length < 2 || ((bytes[0]! << 8) | bytes[1]!) !== x.id) return undefined;
  let raw: unknown;
  try {
    raw = deps.packet.decode(bytes);
  } catch (e) {
    return { error: unavailable(x, `got a malformed answer (${(e as Error).message})`, e) };
  }
  const d = decodeMessage(raw, `answer to ${x.what}`, x.context);
  if (!d.ok) return { error: unavailable(x, 'got a malformed answer', d.error) };
  const q = d.value.questions[0];
  if (d.value.questions.length !== 1 || q?.name !== x.name || q.type !== x.type) return undefined;
  const rcode = RCODES[d.value.rcode];
  if (rcode !== undefined) return { error: unavailable(x, `was answered ${rcode}`) };
  return { message: d.value };
};

const overUdp = (deps: ClientDeps, x: Exchange): Observable<DnsMessage> =>
  new Observable<DnsMessage>((subscriber) => {
    const socket = createSocket(isIPv6(x.server.host) ? 'udp6' : 'udp4');
    const fail = (e: RegistryUnavailableError): void => subscriber.error(e);
    socket.on('error', (e: NodeJS.ErrnoException) =>
      fail(unavailable(x, `failed: ${reason(e)}`, e)),
    );
    socket.on('message', (bytes) => {
      const r = judge(deps, x, bytes);
      if (r === undefined) return;
      if ('error' in r) return fail(r.error);
      subscriber.next(r.message);
      subscriber.complete();
    });
    // Connected: only the resolver's datagrams arrive, and a closed port fails at once.
    socket.connect(x.server.port, x.server.host, () => socket.send(x.query));
    const deadline = timer(deps.options.timeoutMs, deps.scheduler).subscribe(() =>
      fail(unavailable(x, `timed out after ${deps.options.timeoutMs} ms`)),
    );
    return () => {
      deadline.unsubscribe();
      socket.removeAllListeners('message');
      socket.on('error', () => undefined);
      try {
        socket.close();
      } catch {
        // already closed by an error
      }
    };
  });

const overTcp = (deps: ClientDeps, x: Exchange): Observable<DnsMessage> =>
  new Observable<DnsMessage>((subscriber) => {
    const socket = connect({ host: x.server.host, port: x.server.port });
    const fail = (e: RegistryUnavailableError): void => subscriber.error(e);
    let received = Buffer.alloc(0);
    socket.on('connect', () => socket.write(Buffer.concat([u16(x.query.length), x.query])));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 2 || received.length < 2 + received.readUInt16BE(0)) return;
      const r = judge(deps, x, received.subarray(2, 2 + received.readUInt16BE(0)));
      if (r === undefined)
        return fail(unavailable(x, 'over TCP got an answer to another question'));
      if ('error' in r) return fail(r.error);
      subscriber.next(r.message);
      subscriber.complete();
    });
    socket.on('error', (e: NodeJS.ErrnoException) =>
      fail(unavailable(x, `over TCP failed: ${reason(e)}`, e)),
    );
    socket.on('end', () => fail(unavailable(x, 'over TCP: the resolver closed before answering')));
    const deadline = timer(deps.options.timeoutMs, deps.scheduler).subscribe(() =>
      fail(unavailable(x, `over TCP timed out after ${deps.options.timeoutMs} ms`)),
    );
    return () => {
      deadline.unsubscribe();
      socket.removeAllListeners('data');
      socket.on('error', () => undefined);
      socket.destroy();
    };
  });

const exchange = (deps: ClientDeps, x: Exchange): Observable<DnsMessage> =>
  new Observable<DnsMessage>((subscriber) => {
    let inner = overUdp(deps, x).subscribe({
      next: (m) => {
        if (!m.truncated) {
          subscriber.next(m);
          subscriber.complete();
          return;
        }
        // Truncated: the same question again over TCP (RFC 7766).
        inner = overTcp(deps, x).subscribe(subscriber);
      },
      error: (e) => subscriber.error(e),
    });
    return () => inner.unsubscribe();
  });

/** A {@link DnsClient} over `deps.resolvers`. */
export const dnsClient = (deps: ClientDeps): DnsClient => {
  const attempts = deps.options.attempts ?? 2 * deps.resolvers.length;
  const payload = deps.options.udpPayloadSize;
  return {
    ask: (name, type, context) => {
      const question = name.toLowerCase();
      const attempt = (i: number): Observable<DnsMessage> => {
        const server = deps.resolvers[i % deps.resolvers.length]!;
        const id = randomInt(0, 65536);
        const query = deps.packet.encode({
          type: 'query',
          id,
          flags: 0x100, // RD: a recursive resolver resolves; an authoritative one ignores it
          questions: [{ type, name: question, class: 'IN' }],
          additionals: payload > 512 ? [{ type: 'OPT', name: '.', udpPayloadSize: payload }] : [],
        });
        const x: Exchange = {
          server,
          id,
          query,
          name: question,
          type,
          what: `${type} ${question} to ${formatHostPort(server.host, server.port)}`,
          context,
        };
        return exchange(deps, x).pipe(
          catchError((e: unknown) => (i + 1 < attempts ? attempt(i + 1) : throwError(() => e))),
        );
      };
      return attempt(0);
    },
  };
};
