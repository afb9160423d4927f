import ky, { type KyInstance, type Options as KyOptions } from 'ky';
import { isObservable, type Observable } from 'rxjs';
import type { BackoffPolicy } from '../core/backoff.js';
import { baseUrl, type Instance } from '../core/instance.js';
import type { Balancer } from '../operators/balancers/balancer.js';
import { call, UnsuccessfulValue } from '../operators/call.js';
import { isAttemptTimeoutError, isCallError } from '../operators/call-error.js';
import { type LiveBalancer, live } from '../operators/live.js';
import type { OutlierDetector } from '../operators/outlier-ejection.js';
import type { RetryBudget } from '../operators/retry-budget.js';

/** Options of {@link kyFor}. */
export interface KyForOptions {
  /**
   * Options for the ky instance (headers, hooks, `prefixUrl` path...). rxdisco
   * owns `fetch`; the origin of `prefixUrl` is replaced by the picked
   * instance's `http(s)://host:port` on every attempt, its path is kept.
   * @default { prefixUrl: 'http://rxdisco.invalid/', retry: 0, timeout: false }
   */
  readonly ky?: KyOptions;
  /**
   * Attempts per request, the first one included.
   * @default 3
   */
  readonly attempts?: number;
  /**
   * Waits between attempts.
   * @default exponentialBackoff({ initialMs: 10, maxMs: 1000 })
   */
  readonly backoff?: BackoffPolicy;
  /**
   * The retry budget retries draw from; `false` for none.
   * @default the process-wide `defaultRetryBudget()`
   */
  readonly budget?: RetryBudget | false;
  /**
   * Milliseconds before one attempt is aborted and counted as failed.
   * @default 10000
   */
  readonly attemptTimeout?: number;
  /**
   * Response statuses that count as a failure of the instance and are retried
   * on another instance (idempotent methods only); after the last attempt the
   * response is returned (and ky throws its `HTTPError` as usual).
   * @default [502, 503, 504]
   */
  readonly retryStatuses?: readonly number[];
  /**
   * Outlier detector to report each attempt to.
   * @default none
   */
  readonly detector?: OutlierDetector;
  /**
   * The key of a request for key-affine balancers (`consistentHash`).
   * @default none
   */
  readonly key?: (request: Request) => string | undefined;
  /**
   * The fetch used for each attempt.
   * @default globalThis.fetch (Node's built-in fetch)
   */
  readonly fetch?: (request: Request) => Promise<Response>;
}

/**
 * A ky instance bound to a service, with the balancer behind it.
 *
 * @example
 * ```ts
 * const api: ServiceKy = kyFor(registry.instances$('users').pipe(ewma()));
 * api.balancer.set?.size; // instances behind it
 * api.close();
 * ```
 */
export type ServiceKy = KyInstance & {
  /** The balancer requests are sent through. */
  readonly balancer: LiveBalancer;
  /** Releases the balancer when `kyFor` made it (from a stream); otherwise does nothing. */
  close(): void;
};

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Connection errors where the request cannot have reached the server. */
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

const codeOf = (e: unknown): string | undefined => {
  let x: unknown = e;
  for (let depth = 0; depth < 4 && x !== null && typeof x === 'object'; depth++) {
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    x = (x as { cause?: unknown }).cause;
  }
  return undefined;
};

const isNetworkError = (e: unknown): boolean => e instanceof TypeError || codeOf(e) !== undefined;

const cancelBody = (r: Response): void => {
  if (r.body !== null && !r.bodyUsed) r.body.cancel().catch(() => undefined);
};

/**
 * A ky instance whose requests go to instances of a service: each attempt
 * picks an instance from `target` (a balancer stream or a `live()`
 * balancer), sends the request to its `http(s)://host:port` plus the
 * request's path, and reports the outcome to the balancer (which feeds
 * `ewma()` and `leastRequest()`) and to `detector`. A request is retried on
 * another instance, within `attempts` and the retry budget, when the
 * connection failed before it was sent (any method), or for idempotent
 * methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) on any network error,
 * attempt timeout or a `retryStatuses` response. ky's own retry is off and
 * its timeout is off by default (`attemptTimeout` bounds each attempt; set
 * `ky.timeout` to bound the whole request). Works with Node's fetch.
 *
 * @example
 * ```ts
 * import { discovery, ewma, healthy } from 'rxdisco';
 * import { kyFor } from 'rxdisco/ky';
 *
 * const registry = discovery('memory://');
 * const api = kyFor(registry.instances$('users').pipe(healthy(), ewma()), {
 *   ky: { prefixUrl: 'http://users/api/v1' },
 * });
 * const user = await api.get('users/42').json();
 * api.close();
 * ```
 */
export const kyFor = (
  target: Observable<Balancer> | LiveBalancer,
  options: KyForOptions = {},
): ServiceKy => {
  const owned = isObservable(target);
  const balancer: LiveBalancer = owned
    ? live(target as Observable<Balancer>)
    : (target as LiveBalancer);
  const retryStatuses = new Set(options.retryStatuses ?? [502, 503, 504]);
  const send = options.fetch ?? ((request: Request) => globalThis.fetch(request));

  const fetchVia = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(input, init);
    const method = request.method.toUpperCase();
    const idempotent = IDEMPOTENT.has(method);
    const body = request.body === null ? undefined : await request.arrayBuffer();
    const url = new URL(request.url);
    const path = `${url.pathname}${url.search}`;
    const unsuccessful: Response[] = [];
    const key = options.key?.(request);
    const attempt = async (instance: Instance, { signal }: { signal: AbortSignal }) => {
      const response = await send(
        new Request(`${baseUrl(instance)}${path}`, {
          method,
          headers: request.headers,
          body,
          signal,
          redirect: request.redirect,
          credentials: request.credentials,
          integrity: request.integrity,
          keepalive: request.keepalive,
          referrer: request.referrer,
          referrerPolicy: request.referrerPolicy,
        }),
      );
      if (response.status >= 500) unsuccessful.push(response);
      return response;
    };
    try {
      const response = await call(balancer, attempt, {
        ...(options.attempts === undefined ? {} : { attempts: options.attempts }),
        ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
        ...(options.budget === undefined ? {} : { budget: options.budget }),
        ...(options.attemptTimeout === undefined ? {} : { attemptTimeout: options.attemptTimeout }),
        ...(options.detector === undefined ? {} : { detector: options.detector }),
        ...(key === undefined ? {} : { key }),
        signal: request.signal,
        isSuccess: (r) => (r as Response).status < 500,
        retryable: (e) => {
          if (e instanceof UnsuccessfulValue) {
            return idempotent && retryStatuses.has((e.value as Response).status);
          }
          if (NOT_SENT.has(codeOf(e) ?? '')) return true;
          return idempotent && (isAttemptTimeoutError(e) || isNetworkError(e));
        },
      });
      for (const r of unsuccessful) if (r !== response) cancelBody(r);
      return response;
    } catch (e) {
      const last = isCallError(e) ? e.attempts.at(-1)?.error : undefined;
      const kept = last instanceof UnsuccessfulValue ? (last.value as Response) : undefined;
      for (const r of unsuccessful) if (r !== kept) cancelBody(r);
      if (kept !== undefined) return kept;
      throw e;
    }
  };

  const instance = ky.create({
    prefixUrl: 'http://rxdisco.invalid/',
    retry: 0,
    timeout: false,
    ...options.ky,
    fetch: fetchVia,
  });
  return Object.assign(instance, {
    balancer,
    close: (): void => {
      if (owned) balancer.close();
    },
  });
};
