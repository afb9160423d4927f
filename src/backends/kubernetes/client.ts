/**
 * The two requests the backend makes to the API server, over `node:https`
 * with one keep-alive pool per backend: a list (an answer read whole and
 * parsed) and a watch (a chunked stream of JSON lines, one watch event per
 * line, as an Observable whose teardown destroys the request). Statuses
 * become typed errors: 401 and 403 an {@link AuthenticationError} that
 * names the verb, the resource and the namespace; 410 a {@link GoneError};
 * anything else, and any socket fault, a retryable
 * {@link RegistryUnavailableError}.
 *
 * @module
 */
import { Agent, request } from 'node:https';
import { Observable } from 'rxjs';
import {
  AuthenticationError,
  brandError,
  type ErrorContext,
  RegistryUnavailableError,
  RxdiscoError,
} from '../../core/errors.js';
import type { KubernetesConnection } from './credentials.js';

/** What a request is for, for the messages of its errors. */
export interface RequestPurpose {
  /** `list` or `watch`. */
  readonly verb: string;
  /** `endpointslices.discovery.k8s.io`, `services`. */
  readonly resource: string;
  readonly namespace: string;
  readonly context: ErrorContext;
}

/**
 * The resource version a list or watch asked for is gone (HTTP 410, or a
 * watch `ERROR` event with code 410): re-list. Retryable.
 */
export class GoneError extends RxdiscoError {
  static {
    brandError(GoneError, 'GoneError');
  }
  override readonly name: string = 'GoneError';

  constructor(context: ErrorContext = {}) {
    super('resource version expired (410 Gone): listing again', true, context);
  }
}

const apiMessage = (text: string): string => {
  try {
    const m = (JSON.parse(text) as { message?: unknown }).message;
    return typeof m === 'string' ? m : text.slice(0, 300);
  } catch {
    return text.slice(0, 300);
  }
};

/** The typed error of a non-2xx answer. */
export const statusError = (
  status: number,
  text: string,
  purpose: RequestPurpose,
): RxdiscoError => {
  const { verb, resource, namespace, context } = purpose;
  if (status === 401 || status === 403) {
    return new AuthenticationError(
      `${status} ${status === 401 ? 'Unauthorized' : 'Forbidden'}: the credentials may not ${
        verb === 'list' || verb === 'watch' ? 'list/watch' : verb
      } ${resource} in namespace ${namespace} (API server: ${apiMessage(text)}); grant them with a Role and RoleBinding (see docs/kubernetes.md) or fix the kubeconfig/service account token`,
      context,
    );
  }
  if (status === 410) return new GoneError(context);
  return new RegistryUnavailableError(
    `${verb} ${resource} answered ${status}: ${apiMessage(text)}`,
    context,
  );
};

/** One event line of a watch, or the moment its answer's headers arrived. */
export type WatchLine =
  | { readonly type: 'OPEN' }
  | { readonly type: string; readonly object: unknown };

/** The HTTP client of one backend. */
export interface KubernetesClient {
  /** GETs `path` and parses the JSON answer (a non-200 status rejects with its typed error). */
  list(path: string, purpose: RequestPurpose, timeoutMs: number): Promise<unknown>;
  /** Sends one request; resolves with any status (the caller maps it), rejects on socket faults. */
  send(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    purpose: RequestPurpose,
    timeoutMs: number,
    body?: unknown,
    contentType?: string,
  ): Promise<{ readonly status: number; readonly text: string; readonly body: unknown }>;
  /** GETs a watch `path`: `OPEN` once the answer is 200, then one value per JSON line; completes when the server ends it. */
  watch(path: string, purpose: RequestPurpose): Observable<WatchLine>;
  /** Destroys every socket. */
  close(): void;
}

/** A client of the API server of `conn`. */
export const kubernetesClient = (conn: KubernetesConnection): KubernetesClient => {
  const client = sendingClient(conn);
  return {
    ...client,
    list: async (path, purpose, timeoutMs) => {
      const r = await client.send('GET', path, purpose, timeoutMs);
      if (r.status !== 200) throw statusError(r.status, r.text, purpose);
      return r.body;
    },
  };
};

const sendingClient = (conn: KubernetesConnection): Omit<KubernetesClient, 'list'> => {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const base = {
    host: conn.server.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: conn.server.port === '' ? 443 : Number(conn.server.port),
    agent,
  };
  const unavailable = (e: unknown, purpose: RequestPurpose): RxdiscoError =>
    e instanceof RxdiscoError
      ? e
      : new RegistryUnavailableError(
          `${purpose.verb} ${purpose.resource}: ${e instanceof Error ? e.message : String(e)}`,
          { ...purpose.context, cause: e },
        );

  return {
    send: async (method, path, purpose, timeoutMs, body, contentType = 'application/json') => {
      const opts = await conn.requestOptions();
      const payload = body === undefined ? undefined : JSON.stringify(body);
      return new Promise((resolve, reject) => {
        const req = request(
          {
            ...opts,
            ...base,
            method,
            path,
            headers: {
              ...opts.headers,
              accept: 'application/json',
              ...(payload === undefined
                ? {}
                : { 'content-type': contentType, 'content-length': Buffer.byteLength(payload) }),
            },
          },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('error', (e) => reject(unavailable(e, purpose)));
            res.on('end', () => {
              const text = Buffer.concat(chunks).toString('utf8');
              const status = res.statusCode ?? 0;
              let parsed: unknown;
              try {
                parsed = text === '' ? undefined : JSON.parse(text);
              } catch (e) {
                if (status >= 200 && status < 300) return reject(unavailable(e, purpose));
              }
              resolve({ status, text, body: parsed });
            });
          },
        );
        req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
        req.on('error', (e) => reject(unavailable(e, purpose)));
        req.end(payload);
      });
    },
    watch: (path, purpose) =>
      new Observable<WatchLine>((subscriber) => {
        let req: ReturnType<typeof request> | undefined;
        let done = false;
        const fail = (e: unknown): void => {
          if (done) return;
          done = true;
          subscriber.error(unavailable(e, purpose));
        };
        conn.requestOptions().then((opts) => {
          if (subscriber.closed) return;
          req = request(
            {
              ...opts,
              ...base,
              method: 'GET',
              path,
              headers: { ...opts.headers, accept: 'application/json' },
            },
            (res) => {
              const status = res.statusCode ?? 0;
              res.setEncoding('utf8');
              if (status !== 200) {
                let text = '';
                res.on('data', (c: string) => {
                  text += c;
                });
                res.on('end', () => fail(statusError(status, text, purpose)));
                res.on('error', fail);
                return;
              }
              subscriber.next({ type: 'OPEN' });
              let pending = '';
              res.on('data', (c: string) => {
                pending += c;
                for (;;) {
                  const nl = pending.indexOf('\n');
                  if (nl < 0) break;
                  const line = pending.slice(0, nl).trim();
                  pending = pending.slice(nl + 1);
                  if (line === '') continue;
                  let value: unknown;
                  try {
                    value = JSON.parse(line);
                  } catch (e) {
                    return fail(e);
                  }
                  const v = value as { type?: unknown; object?: unknown };
                  subscriber.next({
                    type: typeof v.type === 'string' ? v.type : '',
                    object: v.object,
                  });
                  if (done || subscriber.closed) return;
                }
              });
              res.on('error', fail);
              res.on('end', () => {
                if (done) return;
                done = true;
                subscriber.complete();
              });
            },
          );
          req.on('error', fail);
          req.end();
        }, fail);
        return () => {
          done = true;
          req?.destroy();
        };
      }),
    close: () => agent.destroy(),
  };
};
