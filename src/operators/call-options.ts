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
import { durationOption, type NumberRule, numberOption } from '../core/options.js';
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

/** What a non-numeric option must be, and the fix to suggest. */
interface Shape {
  readonly fits: (v: unknown) => boolean;
  readonly rule: string;
  readonly fix: string;
}

/** `value` when it is absent or fits; else a ConfigError in the wording of core/options.ts. */
const shaped = <V>(field: string, value: V, shape: Shape): V => {
  if (value === undefined || shape.fits(value)) return value;
  throw new ConfigError(field, `must be ${shape.rule} (got ${show(value)})`, shape.fix);
};

const withMethods =
  (...methods: string[]) =>
  (v: unknown): boolean =>
    typeof v === 'object' &&
    v !== null &&
    methods.every((m) => typeof (v as Record<string, unknown>)[m] === 'function');

const hasBudget = withMethods('deposit', 'withdraw');

// Made once: a call checks its options without allocating for them.
const TARGET: Shape = {
  fits: withMethods('pick', 'started', 'finished'),
  rule: 'a balancer or live()',
  fix: 'pass live(instances$.pipe(roundRobin()))',
};
const FN: Shape = {
  fits: (v) => typeof v === 'function',
  rule: 'a function',
  fix: 'pass (instance, { signal }) => fetch(...)',
};
const CALLBACK: Shape = { ...FN, fix: 'pass a function, or leave it out' };
const RETRY: Shape = {
  fits: (v) => typeof v === 'object' && v !== null,
  rule: 'a number of attempts or { attempts, backoff, budget, retryable }',
  fix: 'pass retry: 3, or retry: { attempts: 3 }',
};
const BUDGET: Shape = {
  fits: (v) => v === false || hasBudget(v),
  rule: 'a retryBudget() or false',
  fix: 'pass retryBudget({ ratio: 0.2 }), or false for none',
};
const BACKOFF: Shape = {
  fits: withMethods('start'),
  rule: 'a backoff policy',
  fix: 'pass exponentialBackoff({ ... })',
};
const SIGNAL: Shape = {
  fits: (v) => v instanceof AbortSignal,
  rule: 'an AbortSignal',
  fix: 'pass controller.signal or AbortSignal.timeout(ms)',
};
const SCHEDULER: Shape = {
  fits: withMethods('now', 'schedule'),
  rule: 'a scheduler',
  fix: 'pass an RxJS scheduler, or leave it out',
};
const DETECTOR: Shape = {
  fits: withMethods('report'),
  rule: 'an outlier detector',
  fix: 'pass createOutlierDetector(), or leave it out',
};
const KEY: Shape = {
  fits: (v) => typeof v === 'string',
  rule: 'a string',
  fix: 'pass the request key as a string',
};
const ATTEMPTS: NumberRule = {
  integer: true,
  min: 1,
  max: 100,
  fix: 'use 1 for no retries, 3 for two retries',
};
const ATTEMPT_TIMEOUT: NumberRule = { above: 0, min: undefined, infinite: true }; // `above` says it all
const PICK_TIMEOUT: NumberRule = { infinite: true };
const NO_RETRY_OPTIONS: RetryOptions = Object.freeze({});

const retryOf = (retry: RetryOptions | number | undefined): RetryOptions =>
  retry === undefined
    ? NO_RETRY_OPTIONS
    : typeof retry === 'number'
      ? { attempts: retry }
      : shaped('retry', retry, RETRY);

/**
 * Checks and resolves the options of one call.
 *
 * @throws {ConfigError} naming the first option that is wrong.
 */
export const plan = <T>(target: CallTarget, fn: AttemptFn<T>, options: CallOptions): Plan<T> => {
  shaped('target', target, TARGET);
  shaped('fn', fn, FN);
  shaped('signal', options.signal, SIGNAL);
  const retry = retryOf(options.retry);
  const budget = shaped('retry.budget', retry.budget, BUDGET);
  const scheduler = shaped('scheduler', options.scheduler, SCHEDULER);
  return {
    target,
    fn,
    maxAttempts: numberOption('retry.attempts', retry.attempts, 3, ATTEMPTS),
    attemptTimeoutMs: durationOption(
      'attemptTimeoutMs',
      options.attemptTimeoutMs,
      10_000,
      ATTEMPT_TIMEOUT,
    ),
    pickTimeoutMs: durationOption('pickTimeoutMs', options.pickTimeoutMs, 5000, PICK_TIMEOUT),
    scheduler: scheduler ?? asyncScheduler,
    now: scheduler === undefined || scheduler === asyncScheduler ? perfNow : () => scheduler.now(),
    retryable: shaped('retry.retryable', retry.retryable, CALLBACK) ?? defaultRetryable,
    isSuccess: shaped('isSuccess', options.isSuccess, CALLBACK),
    detector: shaped('detector', options.detector, DETECTOR),
    key: shaped('key', options.key, KEY),
    budget: budget === false ? undefined : (budget ?? defaultRetryBudget()),
    backoff: shaped('retry.backoff', retry.backoff, BACKOFF) ?? DEFAULT_BACKOFF,
  };
};
