/**
 * What `discoveryDispatcher()` takes, and how a request's origin is
 * recognised as a service.
 *
 * @module
 */
import type { Observable } from 'rxjs';
import type { Dispatcher, Pool } from 'undici';
import type { InstanceSet } from '../core/instance-set.js';
import type { Balancer } from '../operators/balancers/balancer.js';
import type { RetryOptions } from '../operators/call-options.js';
import type { OutlierDetector } from '../operators/outlier-ejection.js';

/**
 * When a request is tried again on another instance (the `retry` option of
 * {@link DiscoveryDispatcherOptions}; a number there means `attempts`), as
 * for `call()`. What may be retried is decided by the dispatcher (see
 * {@link discoveryDispatcher}); these bound how often and how fast.
 *
 * @example
 * ```ts
 * discoveryDispatcher(registry, { retry: { attempts: 2, backoff: exponentialBackoff({ initialMs: 20 }) } });
 * ```
 */
export type DispatcherRetryOptions = Omit<RetryOptions, 'retryable'>;

/** Options of {@link discoveryDispatcher}. */
export interface DiscoveryDispatcherOptions {
  /**
   * The service a request's origin names, or `undefined` when the origin is
   * not a service (the request then goes to `fallback`). Called once per
   * distinct origin (the answers are cached).
   * @default the host name when it is a single label other than
   *   `localhost` (`http://users/x` is service `users`; `http://10.0.0.1`,
   *   `http://example.com` and `http://localhost` are not services)
   */
  readonly service?: (origin: URL) => string | undefined;
  /**
   * The balancer of a service, made once per service on its first request
   * from `instances$` (the registry's instances of the service). Any rxdisco
   * balancer; put filters (`withTags`, `preferZone`...) before it.
   * @default instances$.pipe(healthy(), detector.operator() (when a
   *   detector is given), roundRobin())
   */
  readonly balancer?: (
    instances$: Observable<InstanceSet>,
    service: string,
  ) => Observable<Balancer>;
  /**
   * The outlier detector every completed attempt is reported to (its
   * `operator()` is in the default balancer).
   * @default none
   */
  readonly detector?: OutlierDetector;
  /**
   * Retries on other instances, as for `call()`: a number of attempts per
   * request (the first one included; 1 for none), or the full
   * {@link DispatcherRetryOptions} (attempts, backoff, budget).
   * @default { attempts: 3 } with call()'s backoff and the process-wide retry budget
   */
  readonly retry?: DispatcherRetryOptions | number;
  /**
   * Milliseconds before an attempt (connect, request and the whole
   * response) is aborted and counted as failed; `Infinity` for none
   * (undici's own `headersTimeout` and `bodyTimeout` still apply).
   * @default Infinity
   */
  readonly attemptTimeoutMs?: number;
  /**
   * Milliseconds a request waits for the service's first instance set from
   * the registry (only its first requests wait; once a set is known, an
   * empty one fails a request at once); `Infinity` waits as long as it takes.
   * @default 5000
   */
  readonly pickTimeoutMs?: number;
  /**
   * Whether a request may be retried after it may have reached an instance.
   * @default its `idempotent` dispatch option when set, else its method is
   *   GET, HEAD, OPTIONS, PUT, DELETE or TRACE
   */
  readonly idempotent?: (options: Dispatcher.DispatchOptions) => boolean;
  /**
   * The key of a request for key-affine balancers (`consistentHash`).
   * @default none
   */
  readonly key?: (options: Dispatcher.DispatchOptions) => string | undefined;
  /**
   * Options of each instance's keep-alive pool (`connections`,
   * `keepAliveTimeout`, `connect` for TLS...).
   * @default undici's Pool defaults
   */
  readonly pool?: Pool.Options;
  /**
   * Where requests to origins that are not services go; not closed by the
   * dispatcher's `close()`.
   * @default an undici Agent of the dispatcher's own (closed with it)
   */
  readonly fallback?: Dispatcher;
}

/** `localhost`, names with a dot, IP addresses (v6 in brackets) and empty hosts are not services. */
const SINGLE_LABEL = /^[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?$/i;

/**
 * The default service recognition: a single-label host name other than
 * `localhost` (and not all digits) names a service.
 *
 * @example
 * ```ts
 * defaultServiceOf(new URL('http://users:8080/x')); // 'users'
 * defaultServiceOf(new URL('https://example.com'));  // undefined
 * ```
 */
export const defaultServiceOf = (origin: URL): string | undefined => {
  const host = origin.hostname;
  if (!SINGLE_LABEL.test(host) || host.toLowerCase() === 'localhost' || /^\d+$/.test(host)) {
    return undefined;
  }
  return host;
};
