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
  /** 1 for the first attempt, 2 for the next one (a retry or a hedge)... */
  readonly attempt: number;
  /**
   * `first`, `retry` (after a failed attempt) or `hedge` (started while an
   * earlier attempt still runs; see {@link HedgeOptions}).
   */
  readonly kind: AttemptKind;
}

/**
 * What started an attempt: the call itself (`first`), a failed attempt
 * (`retry`) or a slow one (`hedge`).
 *
 * @example
 * ```ts
 * call(hello, (i, { signal, kind }) => fetch(url(i), { signal, headers: { 'x-attempt': kind } }));
 * ```
 */
export type AttemptKind = 'first' | 'retry' | 'hedge';

/**
 * Hedged calls (Finagle's backup requests, gRPC's hedging): when an attempt
 * is still running after a delay, a second attempt starts on another
 * instance; the first success wins and the others are cancelled (reported
 * to the balancer as cancelled, not as failures). Set the delay with
 * `afterMs` or `quantile`, not both. Hedges draw on the retry budget, and
 * never exceed `maxExtraLoadRatio` of the calls (over the last 10 s) on a target.
 *
 * @example
 * ```ts
 * // A second attempt when the first is slower than 95 % of recent ones, at most 5 % more calls.
 * call(hello, getUser, { hedge: { quantile: 0.95, maxExtraLoadRatio: 0.05 } });
 * // Or after a fixed 50 ms.
 * call(hello, getUser, { hedge: { afterMs: 50 } });
 * ```
 */
export interface HedgeOptions {
  /**
   * Milliseconds after which an attempt still running gets a hedge. Give
   * this or `quantile`.
   * @default none (give `afterMs` or `quantile`)
   */
  readonly afterMs?: number;
  /**
   * The delay as a quantile (above 0, below 1) of the latencies of this
   * target's recent attempts (the last 10 to 20 s; a cancelled attempt
   * counts as long as it ran). Until the target has enough of them
   * (`max(20, 2 / (1 - quantile))`), no hedge is made. Give this or `afterMs`.
   * @default none (give `afterMs` or `quantile`)
   */
  readonly quantile?: number;
  /**
   * Hedges per call at most (each one another `afterMs` or quantile after
   * the previous). Hedges do not count in `retry.attempts`.
   * @default 1
   */
  readonly max?: number;
  /**
   * The largest share of extra calls hedges may add on a target, from 0 to
   * 10 (above 1 only makes sense with `max` above 1): within the last 10 s,
   * hedges number at most `maxExtraLoadRatio` × calls.
   * @default 0.05
   */
  readonly maxExtraLoadRatio?: number;
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
   * Hedged calls: another attempt on another instance when one is slow; see
   * {@link HedgeOptions}.
   * @default none (no hedging)
   */
  readonly hedge?: HedgeOptions;
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
   * The load report an answer carries, handed to the balancer with the
   * attempt's outcome (`{ ok, latencyMs, load }`) for `loadReported()`
   * weights: ORCA's text form, usually the `endpoint-load-metrics` header,
   * `(r) => (r as Response).headers.get('endpoint-load-metrics')`. Read
   * from every value, accepted or refused by `isSuccess`. A throw fails
   * the call with the thrown error.
   * @default none
   */
  readonly loadReport?: (value: unknown) => string | null | undefined;
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
