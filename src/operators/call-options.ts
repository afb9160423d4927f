/**
 * What `call()` / `call$()` take: the target, the user's function and the
 * options (resolved once per call by `call-plan.ts`).
 *
 * @module
 */
import type { ObservableInput, SchedulerLike } from 'rxjs';
import type { BackoffPolicy } from '../core/backoff.js';
import type { Instance } from '../core/instance.js';
import type { InstanceSet } from '../core/instance-set.js';
import type { Outcome } from './balancers/balancer.js';
import type { PickAsyncOptions } from './live.js';
import type { OutlierDetector } from './outlier-ejection.js';
import type { RetryBudget } from './retry-budget.js';

/**
 * What a call runs on: a `LiveBalancer` (from `live()`) or a single
 * `Balancer`. Anything that picks and takes call reports will do.
 *
 * @example
 * ```ts
 * const target: CallTarget = live(registry.instances$('hello').pipe(ewma()));
 * ```
 */
export interface CallTarget {
  /** Picks an instance; `undefined` when there is none. */
  pick(key?: string): Instance | undefined;
  /** Told when an attempt begins on `instance`. */
  started(instance: Instance): void;
  /** Told when that attempt ends: completed (`{ ok, latencyMs }`) or cancelled. */
  finished(instance: Instance, outcome: Outcome): void;
  /** The set picked from, when known (names the service in errors). */
  readonly set?: InstanceSet | undefined;
  /** Waits for a first set (a `LiveBalancer` has it). */
  pickAsync?(key?: string, options?: PickAsyncOptions): Promise<Instance>;
}

/**
 * What the user's function gets with the instance of one attempt.
 *
 * @example
 * ```ts
 * call(hello, (i, { signal, attempt }) => fetch(`${baseUrl(i)}/x?try=${attempt}`, { signal }));
 * ```
 */
export interface AttemptContext {
  /** Aborted when the attempt times out or the call is cancelled: pass it to fetch. */
  readonly signal: AbortSignal;
  /** 1 for the first attempt, 2 for the first retry... */
  readonly attempt: number;
}

/**
 * The user's call, run once per attempt on the picked instance: a Promise
 * or an Observable (its first value is the result).
 *
 * @example
 * ```ts
 * const getUser: AttemptFn<User> = (i, { signal }) =>
 *   fetch(`${baseUrl(i)}/users/42`, { signal }).then((r) => r.json());
 * ```
 */
export type AttemptFn<T> = (instance: Instance, context: AttemptContext) => ObservableInput<T>;

/**
 * When and how a failed attempt is tried again on another instance (the
 * `retry` option of {@link CallOptions}; a number there means `attempts`).
 *
 * @example
 * ```ts
 * call(hello, getUser, { retry: { attempts: 4, backoff: exponentialBackoff({ initialMs: 50 }) } });
 * ```
 */
export interface RetryOptions {
  /**
   * Attempts in all, the first one included; 1 turns retries off.
   * @default 3
   */
  readonly attempts?: number;
  /**
   * The waits between attempts: each call starts a fresh run of this policy
   * (its own jittered delays) and moves to the next delay after every retry.
   * @default exponentialBackoff({ initialMs: 10, maxMs: 1000 }) (full jitter)
   */
  readonly backoff?: BackoffPolicy;
  /**
   * The retry budget the retries draw from; `false` for none (not advised).
   * @default the process-wide `defaultRetryBudget()`
   */
  readonly budget?: RetryBudget | false;
  /**
   * Whether a failed attempt may be retried on another instance. A throw
   * fails the call with the thrown error.
   * @default errors with a boolean `retryable` field follow it (rxdisco
   *   errors do); any other error is retryable
   */
  readonly retryable?: (error: unknown, instance: Instance) => boolean;
}

/** Options of {@link call} and {@link call$}. */
export interface CallOptions {
  /**
   * Retries: a number of attempts in all (the first one included; 1 for no
   * retries), or the full {@link RetryOptions}.
   * @default { attempts: 3 } with the defaults of {@link RetryOptions}
   */
  readonly retry?: RetryOptions | number;
  /**
   * Milliseconds before an attempt is aborted (its signal fires) and counts
   * as failed with an `AttemptTimeoutError`; `Infinity` for none.
   * @default 10000
   */
  readonly attemptTimeoutMs?: number;
  /**
   * Milliseconds to wait for a first instance set when nothing can be
   * picked yet (only targets with `pickAsync`, such as `live()`);
   * `Infinity` waits as long as it takes.
   * @default 5000
   */
  readonly pickTimeoutMs?: number;
  /**
   * Whether a value counts as a success for the balancer and the detector
   * (an HTTP 503 response, say, may not): a refused value fails the attempt
   * with an `UnsuccessfulValue`. A throw fails the call with the thrown error.
   * @default every value is a success
   */
  readonly isSuccess?: (value: unknown) => boolean;
  /**
   * The outlier detector to report each completed attempt's outcome to.
   * @default none
   */
  readonly detector?: OutlierDetector;
  /**
   * The key for key-affine balancers (`consistentHash`): the first attempt
   * goes to the key's instance, retries to other instances.
   * @default none
   */
  readonly key?: string;
  /**
   * Cancels the call (Promise form): the attempt in flight is aborted and
   * the promise rejects with `signal.reason`.
   * @default none
   */
  readonly signal?: AbortSignal;
  /**
   * The one clock of a call: its attempt timeouts and backoff waits run on
   * it, and latencies are measured with its `now()` (a TestScheduler in
   * tests). With the default, latencies are measured with
   * `performance.now()` (sub-millisecond, monotonic).
   * @default asyncScheduler
   */
  readonly scheduler?: SchedulerLike;
}
