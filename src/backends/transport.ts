/**
 * The HTTP transport of the HTTP backends (Consul, Eureka): `node:http(s)`
 * with one keep-alive pool per backend, whose sockets `close()` destroys (no
 * idle socket outlives the discovery). Requests are sent and answered whole,
 * without the Request/Response/stream objects of fetch (and ky on top):
 * measured, that costs about 0.5-1 ms of latency and CPU per answer, which
 * is most of what separates a Consul change from its emission and most of
 * the CPU of a Eureka refresh.
 *
 * @module
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

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
  /** Milliseconds before the request fails with a `TimeoutError`. */
  readonly timeoutMs: number;
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

const abortError = (signal: AbortSignal): Error =>
  signal.reason instanceof Error
    ? signal.reason
    : new DOMException('The operation was aborted.', 'AbortError');

const timeoutError = (ms: number): Error =>
  Object.assign(new Error(`no answer within ${ms} ms`), { name: 'TimeoutError' });

/** A transport with its own keep-alive pool (and TLS material for https). */
export const transport = (tls: TlsMaterial = {}): Transport => {
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
      const release = (): void => {
        clearTimeout(deadline);
        signal?.removeEventListener('abort', onAbort);
      };
      const fail = (e: Error): void => {
        if (settled) return;
        settled = true;
        release();
        reject(signal?.aborted ? abortError(signal) : e);
      };
      const onAbort = (): void => {
        if (!settled) req.destroy(abortError(signal!));
      };
      const deadline = setTimeout(() => {
        const e = timeoutError(r.timeoutMs);
        req.destroy(e);
        fail(e);
      }, r.timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      req.once('error', fail);
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', fail);
        res.once('end', () => {
          if (settled) return;
          settled = true;
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            text: body.toString('utf8'),
            bytes: body.length,
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
 * payloads through a fake fetch.
 */
export const fetchTransport = (fetch: typeof globalThis.fetch): Transport => ({
  send: async (r) => {
    const ctl = new AbortController();
    const deadline = setTimeout(() => ctl.abort(timeoutError(r.timeoutMs)), r.timeoutMs);
    const onAbort = (): void => ctl.abort(r.signal?.reason);
    r.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await sendWith(fetch, r, ctl.signal);
    } finally {
      clearTimeout(deadline);
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
