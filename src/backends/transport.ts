/**
 * The HTTP transport of the HTTP backends (Consul, Eureka): `node:http(s)`
 * with one keep-alive pool per backend, whose sockets `close()` destroys (no
 * idle socket outlives the discovery). Requests are sent and answered whole,
 * without the Request/Response/stream objects of fetch (and ky on top):
 * measured, that costs about 0.5-1 ms of latency and CPU per answer, which
 * is most of what separates a Consul change from its emission and most of
 * the CPU of a Eureka refresh.
 *
 * What a broken or hostile server can do to a request is bounded
 * ({@link AnswerLimits}): a request has one deadline for its headers
 * (`timeoutMs`); once they are in, the body must keep coming (no gap longer
 * than `idleReadTimeoutMs`) and be complete within `bodyTimeoutMs`; an
 * answer larger than `maxAnswerBytes` is not read further (the socket is
 * destroyed) and fails with an {@link AnswerTooLargeError}. The body is read
 * into one buffer (sized from `Content-Length` when the server sends one)
 * and decoded to one string: two copies, then the parser's.
 *
 * @module
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { gunzip } from 'node:zlib';
import { type Subscription, timer } from 'rxjs';
import {
  brandError,
  type ErrorContext,
  errorGuard,
  RegistryUnavailableError,
} from '../core/errors.js';
import { durationOption, numberOption } from '../core/options.js';

/** PEM material for `consuls://` (`?ca=`, `?cert=`, `?key=`). */
export interface TlsMaterial {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** One request, sent whole. */
export interface RawRequest {
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly signal?: AbortSignal;
  /** Milliseconds before the request fails with a `TimeoutError` if its headers are not in. */
  readonly timeoutMs: number;
  /** Registry and service, for the errors of {@link AnswerLimits}. */
  readonly context?: ErrorContext;
  /**
   * Ask for a gzip answer (`Accept-Encoding: gzip`) and inflate it, to at
   * most `maxAnswerBytes` (the limits then bound the compressed body).
   * @default false
   */
  readonly gzip?: boolean;
}

/** One answer, read whole. */
export interface RawAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
  /** Bytes of the body as received. */
  readonly bytes: number;
}

/** A connection pool that sends {@link RawRequest}s. */
export interface Transport {
  send(req: RawRequest): Promise<RawAnswer>;
  /** Destroys every socket of the pool. */
  close(): void;
}

/**
 * Bounds on what one answer may cost, the same options on Consul and
 * Eureka (see docs/registries.md, "what a broken registry can and cannot
 * do to your process").
 */
export interface AnswerLimits {
  /**
   * Largest answer body read, in bytes. A larger one is not read further (the
   * socket is destroyed) and fails with an {@link AnswerTooLargeError}: the
   * watch keeps its last set, marked stale. 64 MiB holds about 150,000
   * Consul health entries or Eureka instances.
   * @default 67_108_864 (64 MiB)
   */
  readonly maxAnswerBytes?: number;
  /**
   * Milliseconds an answer may go without a byte once its headers are in
   * (a stalled server); then the request fails with a `TimeoutError`.
   * @default 5000
   */
  readonly idleReadTimeoutMs?: number;
  /**
   * Milliseconds an answer's whole body may take once its headers are in (a
   * server that trickles a byte at a time); then the request fails with a
   * `TimeoutError`.
   * @default 10_000
   */
  readonly bodyTimeoutMs?: number;
}

/** {@link AnswerLimits} with every default applied. */
export type ResolvedAnswerLimits = { readonly [K in keyof AnswerLimits]-?: number };

/** The defaults of {@link AnswerLimits}. */
export const DEFAULT_ANSWER_LIMITS: ResolvedAnswerLimits = Object.freeze({
  maxAnswerBytes: 64 * 1024 * 1024,
  idleReadTimeoutMs: 5000,
  bodyTimeoutMs: 10_000,
});

/**
 * Applies the defaults of {@link AnswerLimits} and checks them.
 *
 * @throws {ConfigError} naming the option out of range.
 */
export const resolveAnswerLimits = (
  o: AnswerLimits,
  context: ErrorContext,
): ResolvedAnswerLimits => ({
  maxAnswerBytes: numberOption(
    'maxAnswerBytes',
    o.maxAnswerBytes,
    DEFAULT_ANSWER_LIMITS.maxAnswerBytes,
    { integer: true, min: 1024, max: 2 ** 31 - 1, fix: 'e.g. 67108864 (64 MiB)' },
    context,
  ),
  idleReadTimeoutMs: durationOption(
    'idleReadTimeoutMs',
    o.idleReadTimeoutMs,
    DEFAULT_ANSWER_LIMITS.idleReadTimeoutMs,
    { min: 1, max: 600_000 },
    context,
  ),
  bodyTimeoutMs: durationOption(
    'bodyTimeoutMs',
    o.bodyTimeoutMs,
    DEFAULT_ANSWER_LIMITS.bodyTimeoutMs,
    { min: 1, max: 3_600_000 },
    context,
  ),
});

/**
 * An answer was larger than `maxAnswerBytes`: it was not read further.
 * Transient like any registry fault (the watch keeps its last set, stale,
 * and retries with backoff); raise the option if the registry is that large.
 */
export class AnswerTooLargeError extends RegistryUnavailableError {
  static {
    brandError(AnswerTooLargeError, 'AnswerTooLargeError');
  }
  override readonly name: string = 'AnswerTooLargeError';
  /** Bytes known when reading stopped: the `Content-Length`, or what was read. */
  readonly bytes: number;
  /** The limit, `maxAnswerBytes`. */
  readonly limit: number;
  /** The option that sets the limit: `maxAnswerBytes`. */
  readonly option = 'maxAnswerBytes';

  constructor(what: string, bytes: number, limit: number, context: ErrorContext = {}) {
    super(
      `the answer to ${what} is larger than maxAnswerBytes (${bytes} bytes or more, limit ${limit}); not read further (raise the maxAnswerBytes option if the registry is that large)`,
      context,
    );
    this.bytes = bytes;
    this.limit = limit;
  }
}

/** True when `e` is an {@link AnswerTooLargeError} (of any copy of rxdisco). */
export const isAnswerTooLargeError = errorGuard<AnswerTooLargeError>('AnswerTooLargeError');

const abortError = (signal: AbortSignal): Error =>
  signal.reason instanceof Error
    ? signal.reason
    : new DOMException('The operation was aborted.', 'AbortError');

const timeoutError = (message: string): Error =>
  Object.assign(new Error(message), { name: 'TimeoutError' });

/** The path of a request, for messages (never its query: it may hold a token). */
const whatOf = (r: RawRequest): string => `${r.method} ${r.url.pathname}`;

/** A transport with its own keep-alive pool (and TLS material for https). */
export const transport = (
  tls: TlsMaterial = {},
  limits: ResolvedAnswerLimits = DEFAULT_ANSWER_LIMITS,
): Transport => {
  const http = new HttpAgent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const https = new HttpsAgent({
    keepAlive: true,
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key }),
  });
  const send: Transport['send'] = (r) =>
    new Promise<RawAnswer>((resolve, reject) => {
      const signal = r.signal;
      if (signal?.aborted) {
        reject(abortError(signal));
        return;
      }
      const secure = r.url.protocol === 'https:';
      const headers: Record<string, string> = { accept: 'application/json', ...r.headers };
      if (r.gzip) headers['accept-encoding'] = 'gzip';
      if (r.body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(Buffer.byteLength(r.body));
      }
      const req = (secure ? httpsRequest : httpRequest)(r.url, {
        method: r.method,
        headers,
        agent: secure ? https : http,
      });
      let settled = false;
      // One timer at a time: the headers' deadline, then the body's (the
      // earlier of its deadline and the idle limit, re-armed as bytes come).
      let clock: Subscription | undefined;
      const release = (): void => {
        clock?.unsubscribe();
        signal?.removeEventListener('abort', onAbort);
      };
      const fail = (e: Error): void => {
        if (settled) return;
        settled = true;
        release();
        reject(signal?.aborted ? abortError(signal) : e);
      };
      const stop = (e: Error): void => {
        req.destroy(e);
        fail(e);
      };
      const onAbort = (): void => {
        if (!settled) req.destroy(abortError(signal!));
      };
      clock = timer(r.timeoutMs).subscribe(() =>
        stop(timeoutError(`no answer within ${r.timeoutMs} ms`)),
      );
      signal?.addEventListener('abort', onAbort, { once: true });
      req.once('error', fail);
      req.once('response', (res) => {
        clock?.unsubscribe();
        const max = limits.maxAnswerBytes;
        const declared = Number(res.headers['content-length']);
        const tooLarge = (bytes: number): void =>
          stop(new AnswerTooLargeError(whatOf(r), bytes, max, r.context));
        if (declared > max) {
          tooLarge(declared);
          return;
        }
        const bodyEnd = Date.now() + limits.bodyTimeoutMs;
        let lastByte = Date.now();
        const arm = (): void => {
          const now = Date.now();
          const idleEnd = lastByte + limits.idleReadTimeoutMs;
          if (now >= bodyEnd) {
            stop(
              timeoutError(
                `the body of ${whatOf(r)} took more than bodyTimeoutMs (${limits.bodyTimeoutMs} ms) after the headers`,
              ),
            );
          } else if (now >= idleEnd) {
            stop(
              timeoutError(
                `the body of ${whatOf(r)} stalled: no byte for idleReadTimeoutMs (${limits.idleReadTimeoutMs} ms)`,
              ),
            );
          } else clock = timer(Math.min(bodyEnd, idleEnd) - now).subscribe(arm);
        };
        arm();
        // One buffer: sized from Content-Length when sent, else grown by doubling.
        let body = Buffer.allocUnsafe(Number.isSafeInteger(declared) ? declared : 16 * 1024);
        let length = 0;
        res.on('data', (c: Buffer) => {
          if (settled) return;
          lastByte = Date.now();
          if (length + c.length > max) {
            tooLarge(length + c.length);
            return;
          }
          if (length + c.length > body.length) {
            const grown = Buffer.allocUnsafe(
              Math.min(max, Math.max(body.length * 2, length + c.length)),
            );
            body.copy(grown, 0, 0, length);
            body = grown;
          }
          c.copy(body, length);
          length += c.length;
        });
        res.once('error', fail);
        res.once('end', () => {
          if (settled) return;
          if (r.gzip && res.headers['content-encoding'] === 'gzip') {
            clock?.unsubscribe();
            gunzip(body.subarray(0, length), { maxOutputLength: max }, (e, inflated) => {
              if (e !== null) {
                fail(
                  (e as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE'
                    ? new AnswerTooLargeError(whatOf(r), max + 1, max, r.context)
                    : e,
                );
                return;
              }
              if (settled) return;
              settled = true;
              resolve({
                status: res.statusCode ?? 0,
                headers: res.headers,
                text: inflated.toString('utf8'),
                bytes: length,
              });
              setImmediate(release);
            });
            return;
          }
          settled = true;
          clock?.unsubscribe();
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: body.toString('utf8', 0, length),
            bytes: length,
          });
          // Off the answer's path: removing a listener from an AbortSignal
          // costs more than the rest of this handler (measured cold: ~25 µs).
          // `settled` already makes a late timeout or abort a no-op.
          setImmediate(release);
        });
      });
      req.end(r.body);
    });
  return {
    send,
    close: () => {
      http.destroy();
      https.destroy();
    },
  };
};

/**
 * A transport over a fetch function, for tests that replay recorded
 * payloads through a fake fetch. Only `maxAnswerBytes` of the limits
 * applies (checked on the whole body).
 */
export const fetchTransport = (
  fetch: typeof globalThis.fetch,
  limits: ResolvedAnswerLimits = DEFAULT_ANSWER_LIMITS,
): Transport => ({
  send: async (r) => {
    const ctl = new AbortController();
    const deadline = timer(r.timeoutMs).subscribe(() =>
      ctl.abort(timeoutError(`no answer within ${r.timeoutMs} ms`)),
    );
    const onAbort = (): void => ctl.abort(r.signal?.reason);
    r.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const answer = await sendWith(fetch, r, ctl.signal);
      if (answer.bytes > limits.maxAnswerBytes) {
        throw new AnswerTooLargeError(whatOf(r), answer.bytes, limits.maxAnswerBytes, r.context);
      }
      return answer;
    } finally {
      deadline.unsubscribe();
      r.signal?.removeEventListener('abort', onAbort);
    }
  },
  close: () => undefined,
});

const sendWith = async (
  fetch: typeof globalThis.fetch,
  r: RawRequest,
  signal: AbortSignal,
): Promise<RawAnswer> => {
  const response = await fetch(r.url, {
    method: r.method,
    headers: {
      accept: 'application/json',
      ...r.headers,
      ...(r.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(r.body === undefined ? {} : { body: r.body }),
    signal,
  });
  const body = Buffer.from(await response.arrayBuffer());
  const headers: IncomingHttpHeaders = {};
  response.headers.forEach((v, k) => {
    headers[k] = v;
  });
  return { status: response.status, headers, text: body.toString('utf8'), bytes: body.length };
};
