/**
 * The options of `call()` / `call$()` and their resolution, once per call,
 * into a {@link Plan}: every option checked (one wording, core/options.ts),
 * every default filled in.
 *
 * @module
 */
import { asyncScheduler, type ObservableInput, type SchedulerLike } from 'rxjs';
import { type BackoffPolicy, exponentialBackoff } from '../core/backoff.js';
import { ConfigError } from '../core/errors.js';
import type { Instance } from '../core/instance.js';
import type { InstanceSet } from '../core/instance-set.js';
import { durationOption, numberOption } from '../core/options.js';
import type { Outcome } from './balancers/balancer.js';
import type { PickAsyncOptions } from './live.js';
import type { OutlierDetector } from './outlier-ejection.js';
import { defaultRetryBudget, type RetryBudget } from './retry-budget.js';

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

/** A call's options, checked and resolved (internal). */
export interface Plan<T> {
  readonly target: CallTarget;
  readonly fn: AttemptFn<T>;
  readonly maxAttempts: number;
  readonly attemptTimeoutMs: number;
  readonly pickTimeoutMs: number;
  readonly scheduler: SchedulerLike;
  /** Milliseconds for latencies: `performance.now()` or `scheduler.now()`. */
  readonly now: () => number;
  readonly retryable: (error: unknown, instance: Instance) => boolean;
  readonly isSuccess: ((value: unknown) => boolean) | undefined;
  readonly detector: OutlierDetector | undefined;
  readonly key: string | undefined;
  readonly budget: RetryBudget | undefined;
  readonly backoff: BackoffPolicy;
}

/** The default waits between attempts: a recipe; each call starts its own run. */
const DEFAULT_BACKOFF = exponentialBackoff({ initialMs: 10, maxMs: 1000 });

const defaultRetryable = (error: unknown): boolean => {
  const flag = (error as { retryable?: unknown } | null)?.retryable;
  return typeof flag === 'boolean' ? flag : true;
};

const perfNow = (): number => performance.now();

const show = (v: unknown): string =>
  v === null ? 'null' : typeof v === 'string' ? `'${v}'` : typeof v;

/** A non-numeric option, in the wording of core/options.ts. */
const shape = <V>(
  field: string,
  value: V,
  fits: (v: V) => boolean,
  rule: string,
  fix: string,
): V => {
  if (value === undefined || fits(value)) return value;
  throw new ConfigError(field, `must be ${rule} (got ${show(value)})`, fix);
};

const isFunction = (v: unknown): boolean => typeof v === 'function';
const has =
  (...methods: string[]) =>
  (v: unknown): boolean =>
    typeof v === 'object' &&
    v !== null &&
    methods.every((m) => typeof (v as Record<string, unknown>)[m] === 'function');

const retryOf = (retry: RetryOptions | number | undefined): RetryOptions => {
  if (retry === undefined) return {};
  if (typeof retry === 'number') return { attempts: retry };
  return shape(
    'retry',
    retry,
    (r) => typeof r === 'object' && r !== null,
    'a number of attempts or { attempts, backoff, budget, retryable }',
    'pass retry: 3, or retry: { attempts: 3 }',
  );
};

/**
 * Checks and resolves the options of one call.
 *
 * @throws {ConfigError} naming the first option that is wrong.
 */
export const plan = <T>(target: CallTarget, fn: AttemptFn<T>, options: CallOptions): Plan<T> => {
  shape(
    'target',
    target,
    has('pick', 'started', 'finished'),
    'a balancer or live()',
    'pass live(instances$.pipe(roundRobin()))',
  );
  shape('fn', fn, isFunction, 'a function', 'pass (instance, { signal }) => fetch(...)');
  const retry = retryOf(options.retry);
  const fix = 'pass a function, or leave it out';
  const budget = shape(
    'retry.budget',
    retry.budget,
    (b) => b === false || has('deposit', 'withdraw')(b),
    'a retryBudget() or false',
    'pass retryBudget({ ratio: 0.2 }), or false for none',
  );
  shape(
    'signal',
    options.signal,
    (s) => s instanceof AbortSignal,
    'an AbortSignal',
    'pass controller.signal or AbortSignal.timeout(ms)',
  );
  const scheduler = shape(
    'scheduler',
    options.scheduler,
    has('now', 'schedule'),
    'a scheduler',
    'pass an RxJS scheduler, or leave it out',
  );
  return {
    target,
    fn,
    maxAttempts: numberOption('retry.attempts', retry.attempts, 3, {
      integer: true,
      min: 1,
      max: 100,
      fix: 'use 1 for no retries, 3 for two retries',
    }),
    attemptTimeoutMs: durationOption('attemptTimeoutMs', options.attemptTimeoutMs, 10_000, {
      above: 0,
      min: undefined, // `above` says it all
      infinite: true,
    }),
    pickTimeoutMs: durationOption('pickTimeoutMs', options.pickTimeoutMs, 5000, { infinite: true }),
    scheduler: scheduler ?? asyncScheduler,
    now: scheduler === undefined || scheduler === asyncScheduler ? perfNow : () => scheduler.now(),
    retryable:
      shape('retry.retryable', retry.retryable, isFunction, 'a function', fix) ?? defaultRetryable,
    isSuccess: shape('isSuccess', options.isSuccess, isFunction, 'a function', fix),
    detector: shape(
      'detector',
      options.detector,
      has('report'),
      'an outlier detector',
      'pass createOutlierDetector(), or leave it out',
    ),
    key: shape(
      'key',
      options.key,
      (k) => typeof k === 'string',
      'a string',
      'pass the request key as a string',
    ),
    budget: budget === false ? undefined : (budget ?? defaultRetryBudget()),
    backoff:
      shape(
        'retry.backoff',
        retry.backoff,
        has('start'),
        'a backoff policy',
        'pass exponentialBackoff({ ... })',
      ) ?? DEFAULT_BACKOFF,
  };
};
