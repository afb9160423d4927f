/**
 * The options of one call resolved into a {@link Plan}: every option checked
 * (one wording, core/options.ts), every default filled in.
 *
 * @module
 */
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import { type BackoffPolicy, exponentialBackoff } from '../core/backoff.js';
import { ConfigError } from '../core/errors.js';
import type { Instance } from '../core/instance.js';
import { type Instruments, instruments } from '../core/metrics.js';
import { durationOption, type NumberRule, numberOption, ratioOption } from '../core/options.js';
import type { HedgePlan } from './call-hedge.js';
import type {
  AttemptFn,
  CallOptions,
  CallTarget,
  HedgeOptions,
  RetryOptions,
} from './call-options.js';
import type { OutlierDetector } from './outlier-ejection.js';
import { defaultRetryBudget, type RetryBudget } from './retry-budget.js';

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
  /** Reads an answer's load report (loadReported() weights); `undefined`: none. */
  readonly loadReport: ((value: unknown) => string | null | undefined) | undefined;
  readonly detector: OutlierDetector | undefined;
  readonly key: string | undefined;
  readonly budget: RetryBudget | undefined;
  readonly backoff: BackoffPolicy;
  /** Hedging; `undefined`: none. */
  readonly hedge: HedgePlan | undefined;
  /** The app's OpenTelemetry instruments; `undefined`: record nothing. */
  readonly metrics: Instruments | undefined;
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
const ATTEMPT_TIMEOUT: NumberRule = { above: 0, infinite: true };
const PICK_TIMEOUT: NumberRule = { infinite: true };
const NO_RETRY_OPTIONS: RetryOptions = Object.freeze({});
const HEDGE: Shape = {
  fits: (v) => typeof v === 'object' && v !== null,
  rule: '{ afterMs | quantile, max, maxExtraLoadRatio }',
  fix: 'pass hedge: { afterMs: 50 } or hedge: { quantile: 0.95 }',
};
const HEDGE_AFTER: NumberRule = { above: 0 };
const HEDGE_QUANTILE: NumberRule = {
  above: 0,
  max: 0.999,
  fix: 'use e.g. 0.95 (hedge the slowest 5 %)',
};
const HEDGE_MAX: NumberRule = { integer: true, min: 1, max: 10, fix: 'use e.g. 1' };
const HEDGE_LOAD: NumberRule = { max: 10, fix: 'use e.g. 0.05 (at most 5 % more calls)' };

const hedgeOf = (hedge: HedgeOptions | undefined): HedgePlan | undefined => {
  if (hedge === undefined) return undefined;
  shaped('hedge', hedge, HEDGE);
  const { afterMs, quantile } = hedge;
  if ((afterMs === undefined) === (quantile === undefined)) {
    throw new ConfigError(
      'hedge',
      `must set one of afterMs and quantile (got ${afterMs === undefined ? 'neither' : 'both'})`,
      'pass hedge: { afterMs: 50 } or hedge: { quantile: 0.95 }',
    );
  }
  return {
    afterMs:
      afterMs === undefined ? undefined : durationOption('hedge.afterMs', afterMs, 0, HEDGE_AFTER),
    quantile:
      quantile === undefined
        ? undefined
        : numberOption('hedge.quantile', quantile, 0.95, HEDGE_QUANTILE),
    max: numberOption('hedge.max', hedge.max, 1, HEDGE_MAX),
    maxExtraLoadRatio: ratioOption(
      'hedge.maxExtraLoadRatio',
      hedge.maxExtraLoadRatio,
      0.05,
      HEDGE_LOAD,
    ),
  };
};

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
    loadReport: shaped('loadReport', options.loadReport, CALLBACK),
    detector: shaped('detector', options.detector, DETECTOR),
    key: shaped('key', options.key, KEY),
    budget: budget === false ? undefined : (budget ?? defaultRetryBudget()),
    backoff: shaped('retry.backoff', retry.backoff, BACKOFF) ?? DEFAULT_BACKOFF,
    hedge: hedgeOf(options.hedge),
    metrics: instruments(),
  };
};
