/**
 * A `fetch` for ky over `node:http` / `node:https` with an agent of its own:
 * the backend's keep-alive sockets belong to it and are destroyed by
 * `close()` (no idle socket outlives a closed discovery), TLS takes the
 * `ca` / `cert` / `key` of a `consuls://` URL, and an aborted request
 * destroys its socket at once.
 *
 * @module
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** TLS material for `https` endpoints (PEM contents). */
export interface TlsMaterial {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/** A fetch function bound to its own connection pool. */
export interface PooledFetch {
  readonly fetch: (input: string | URL | Request, init?: RequestInit) => Promise<Response>;
  /** Destroys every socket of the pool. */
  close(): void;
}

const abortError = (signal: AbortSignal): Error =>
  signal.reason instanceof Error
    ? signal.reason
    : new DOMException('The operation was aborted.', 'AbortError');

/** Creates a {@link PooledFetch}; `tls` applies to `https:` URLs. */
export const pooledFetch = (tls: TlsMaterial = {}): PooledFetch => {
  const http = new HttpAgent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const https = new HttpsAgent({
    keepAlive: true,
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key }),
  });
  const fetch = async (given: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const input = given instanceof Request && init === undefined ? given : new Request(given, init);
    const url = new URL(input.url);
    const secure = url.protocol === 'https:';
    const body = input.body === null ? undefined : Buffer.from(await input.arrayBuffer());
    const signal = input.signal;
    if (signal.aborted) throw abortError(signal);
    const headers: Record<string, string> = {};
    input.headers.forEach((value, key) => {
      headers[key] = value;
    });
    if (body !== undefined) headers['content-length'] = String(body.length);
    return new Promise<Response>((resolve, reject) => {
      const req = (secure ? httpsRequest : httpRequest)(url, {
        method: input.method,
        headers,
        agent: secure ? https : http,
      });
      const onAbort = (): void => {
        req.destroy(abortError(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      const done = (): void => signal.removeEventListener('abort', onAbort);
      req.once('error', (e) => {
        done();
        reject(signal.aborted ? abortError(signal) : e);
      });
      req.once('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', (e) => {
          done();
          reject(signal.aborted ? abortError(signal) : e);
        });
        res.once('end', () => {
          done();
          const responseHeaders = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            if (Array.isArray(v)) for (const x of v) responseHeaders.append(k, x);
            else if (v !== undefined) responseHeaders.set(k, v);
          }
          const status = res.statusCode ?? 0;
          const noBody = status === 204 || status === 304 || input.method === 'HEAD';
          resolve(
            new Response(noBody ? null : Buffer.concat(chunks), {
              status,
              statusText: res.statusMessage ?? '',
              headers: responseHeaders,
            }),
          );
        });
      });
      req.end(body);
    });
  };
  return {
    fetch,
    close: () => {
      http.destroy();
      https.destroy();
    },
  };
};
