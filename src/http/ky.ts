import ky, { type KyInstance, type Options as KyOptions } from 'ky';
import { isObservable, type Observable } from 'rxjs';
import { baseUrl, type Instance } from '../core/instance.js';
import { numberOption } from '../core/options.js';
import type { Balancer } from '../operators/balancers/balancer.js';
import { call } from '../operators/call.js';
import {
  isAttemptTimeoutError,
  isCallError,
  isUnsuccessfulValue,
} from '../operators/call-error.js';
import type { CallOptions, CallTarget, RetryOptions } from '../operators/call-options.js';
import { plan } from '../operators/call-plan.js';
import { type LiveBalancer, live } from '../operators/live.js';
import type { OutlierDetector } from '../operators/outlier-ejection.js';
import { errorCode, IDEMPOTENT_METHODS, NOT_SENT_CODES } from './request-errors.js';

/**
 * When a request is tried again on another instance (the `retry` option of
 * {@link KyForOptions}; a number there means `attempts`). What is retried is
 * decided by kyFor (see {@link kyFor}); these bound how often and how fast.
 *
 * @example
 * ```ts
 * kyFor(users$, { retry: { attempts: 2, statusCodes: [503] } });
 * ```
 */
export interface KyRetryOptions extends Omit<RetryOptions, 'retryable'> {
  /**
   * Response statuses that count as a failure of the instance and are
   * retried on another instance (idempotent methods only); after the last
   * attempt the response is returned (and ky throws its `HTTPError` as usual).
   * @default [502, 503, 504]
   */
  readonly statusCodes?: readonly number[];
}

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
   * Retries on other instances: a number of attempts per request (the
   * first one included), or the full {@link KyRetryOptions} (attempts,
   * backoff, budget, statusCodes), as for `call()`.
   * @default { attempts: 3, statusCodes: [502, 503, 504] }
   */
  readonly retry?: KyRetryOptions | number;
  /**
   * Milliseconds before one attempt is aborted and counted as failed;
   * `Infinity` for none.
   * @default 10000
   */
  readonly attemptTimeoutMs?: number;
  /**
   * Milliseconds to wait for a first instance set when nothing can be
   * picked yet; `Infinity` waits as long as it takes.
   * @default 5000
   */
  readonly pickTimeoutMs?: number;
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

/** Stands for the balancer while kyFor() checks its options (never called). */
const NO_TARGET: CallTarget = { pick: () => undefined, started() {}, finished() {} };

const isNetworkError = (e: unknown): boolean =>
  e instanceof TypeError || errorCode(e) !== undefined;

const cancelBody = (r: Response): void => {
  if (r.body !== null && !r.bodyUsed) r.body.cancel().catch(() => undefined);
};

/**
 * A ky instance whose requests go to instances of a service: each attempt
 * picks an instance from `target` (a balancer stream or a `live()`
 * balancer), sends the request to its `http(s)://host:port` plus the
 * request's path, and reports the outcome to the balancer (which feeds
 * `ewma()` and `leastRequest()`) and to `detector`. A request is retried on
 * another instance, within `retry.attempts` and the retry budget, when the
 * connection failed before it was sent (any method), or for idempotent
 * methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) on any network error,
 * attempt timeout or a `retry.statusCodes` response. ky's own retry is off and
 * its timeout is off by default (`attemptTimeoutMs` bounds each attempt; set
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
  const { statusCodes, ...retry }: KyRetryOptions =
    typeof options.retry === 'number' ? { attempts: options.retry } : (options.retry ?? {});
  const retryStatuses = new Set(
    (statusCodes ?? [502, 503, 504]).map((code, k) =>
      numberOption(`retry.statusCodes[${k}]`, code, 0, { integer: true, min: 100, max: 599 }),
    ),
  );
  const retryableFor =
    (idempotent: boolean) =>
    (e: unknown): boolean => {
      if (isUnsuccessfulValue(e)) {
        return idempotent && retryStatuses.has((e.value as Response).status);
      }
      if (NOT_SENT_CODES.has(errorCode(e) ?? '')) return true;
      return idempotent && (isAttemptTimeoutError(e) || isNetworkError(e));
    };
  const base = (idempotent: boolean): CallOptions => ({
    ...(options.attemptTimeoutMs === undefined
      ? {}
      : { attemptTimeoutMs: options.attemptTimeoutMs }),
    ...(options.pickTimeoutMs === undefined ? {} : { pickTimeoutMs: options.pickTimeoutMs }),
    ...(options.detector === undefined ? {} : { detector: options.detector }),
    isSuccess: (r) => (r as Response).status < 500,
    retry: { ...retry, retryable: retryableFor(idempotent) },
  });
  const idempotentCall = base(true);
  const otherCall = base(false);
  // Checks every call option now, not at the first request.
  plan(NO_TARGET, () => [], idempotentCall);
  const owned = isObservable(target);
  const balancer: LiveBalancer = owned
    ? live(target as Observable<Balancer>)
    : (target as LiveBalancer);
  const send = options.fetch ?? ((request: Request) => globalThis.fetch(request));

  const fetchVia = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = input instanceof Request ? input : new Request(input, init);
    const method = request.method.toUpperCase();
    const idempotent = IDEMPOTENT_METHODS.has(method);
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
      const common = idempotent ? idempotentCall : otherCall;
      const response = await call(
        balancer,
        attempt,
        key === undefined
          ? { ...common, signal: request.signal }
          : { ...common, key, signal: request.signal },
      );
      for (const r of unsuccessful) if (r !== response) cancelBody(r);
      return response;
    } catch (e) {
      const last = isCallError(e) ? e.attempts.at(-1)?.error : undefined;
      const kept = isUnsuccessfulValue(last) ? (last.value as Response) : undefined;
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
