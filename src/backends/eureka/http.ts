/**
 * A `fetch` for ky over `node:http` / `node:https` with an agent the
 * backend owns: keep-alive sockets that `close()` destroys (no handle
 * outlives the backend), and a CA file for `eurekas://...?ca=`.
 *
 * @module
 */
import http from 'node:http';
import https from 'node:https';

/** A fetch function bound to its agents, with a way to release them. */
export interface OwnedFetch {
  readonly fetch: typeof globalThis.fetch;
  /** Destroys every socket of the agents. */
  close(): void;
}

const NULL_BODY = new Set([101, 204, 205, 304]);

/** A fetch over agents of our own; `ca` (PEM) is trusted for https. */
export const ownedFetch = (
  tls: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer } = {},
): OwnedFetch => {
  const plain = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const secure = new https.Agent({
    keepAlive: true,
    maxSockets: 8,
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key }),
  });
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(input, init);
    const url = new URL(request.url);
    const body = request.body === null ? undefined : Buffer.from(await request.arrayBuffer());
    const isHttps = url.protocol === 'https:';
    const headers: Record<string, string> = {};
    request.headers.forEach((v, k) => {
      headers[k] = v;
    });
    if (body !== undefined) headers['content-length'] = String(body.length);
    return new Promise<Response>((resolve, reject) => {
      const req = (isHttps ? https : http).request(
        url,
        {
          method: request.method,
          headers,
          agent: isHttps ? secure : plain,
          signal: request.signal,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const status = res.statusCode ?? 500;
            const out = new Headers();
            for (const [k, v] of Object.entries(res.headers)) {
              if (v === undefined) continue;
              for (const x of Array.isArray(v) ? v : [v]) out.append(k, x);
            }
            resolve(
              new Response(NULL_BODY.has(status) ? null : Buffer.concat(chunks), {
                status,
                statusText: res.statusMessage ?? '',
                headers: out,
              }),
            );
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  };
  return {
    fetch: fetch as typeof globalThis.fetch,
    close: () => {
      plain.destroy();
      secure.destroy();
    },
  };
};
