import {
  asyncScheduler,
  from,
  Observable,
  type ObservableInput,
  type SchedulerLike,
  type Subscription,
  timer,
} from 'rxjs';
import { type Backoff, type BackoffPolicy, exponentialBackoff } from '../core/backoff.js';
import { ConfigError, NoInstanceError } from '../core/errors.js';
import type { Instance } from '../core/instance.js';
import type { InstanceSet } from '../core/instance-set.js';
import type { Outcome } from './balancers/balancer.js';
import {
  AttemptTimeoutError,
  CallError,
  type CallGiveUp,
  type FailedAttempt,
} from './call-error.js';
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
  pick(key?: string): Instance | undefined;
  started(instance: Instance): void;
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

/** Options of {@link call} and {@link call$}. */
export interface CallOptions {
  /**
   * Attempts in all, the first one included; 1 turns retries off.
   * @default 3
   */
  readonly attempts?: number;
  /**
   * Waits between attempts. Each call starts from this value and takes
   * `next()` after every retry.
   * @default exponentialBackoff({ initialMs: 10, maxMs: 1000 }) (full jitter)
   */
  readonly backoff?: BackoffPolicy;
  /**
   * The retry budget the retries draw from; `false` for none (not advised).
   * @default the process-wide {@link defaultRetryBudget}
   */
  readonly budget?: RetryBudget | false;
  /**
   * Milliseconds before an attempt is aborted (its signal fires) and counts
   * as failed with an `AttemptTimeoutError`; `Infinity` for none.
   * @default 10000
   */
  readonly attemptTimeout?: number;
  /**
   * Whether a failed attempt may be retried on another instance.
   * @default errors with a boolean `retryable` field follow it (rxdisco
   *   errors do); any other error is retryable
   */
  readonly retryable?: (error: unknown, instance: Instance) => boolean;
  /**
   * Whether a value counts as a success for the balancer and the detector
   * (an HTTP 503 response, say, may not).
   * @default every value is a success
   */
  readonly isSuccess?: (value: unknown) => boolean;
  /**
   * The outlier detector to report each attempt's outcome to.
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
   * Milliseconds to wait for a first instance set when nothing can be
   * picked yet (only targets with `pickAsync`, such as `live()`).
   * @default 5000
   */
  readonly pickTimeout?: number;
  /**
   * Scheduler for timeouts and backoff waits (a TestScheduler in tests).
   * @default asyncScheduler
   */
  readonly scheduler?: SchedulerLike;
  /**
   * The clock for measured latencies, in ms.
   * @default `performance.now()`
   */
  readonly now?: () => number;
}

const DEFAULT_BACKOFF = exponentialBackoff({ initialMs: 10, maxMs: 1000 });

const defaultRetryable = (error: unknown): boolean => {
  const flag = (error as { retryable?: unknown } | null)?.retryable;
  return typeof flag === 'boolean' ? flag : true;
};

const perfNow = (): number => performance.now();

/** Picks an instance not in `tried` when there is one (see docs: "a different instance"). */
const pickOther = (
  target: CallTarget,
  key: string | undefined,
  tried: readonly Instance[],
): Instance | undefined => {
  const first = target.pick(key);
  if (first === undefined || tried.length === 0) return first;
  const isTried = (i: Instance): boolean => tried.some((t) => t.id === i.id);
  if (!isTried(first)) return first;
  // Balancers without a key move on by themselves; with a key, derive new keys.
  for (let k = 1; k <= 8; k++) {
    const next = target.pick(key === undefined ? undefined : `${key}\u0000${k}`);
    if (next !== undefined && !isTried(next)) return next;
  }
  const set = target.set;
  if (set !== undefined) {
    for (const i of set.instances) if (i.weight > 0 && !isTried(i)) return i;
  }
  return undefined;
};

const checkAttempts = (n: number): number => {
  if (!Number.isInteger(n) || n < 1 || n > 100) {
    throw new ConfigError(
      'attempts',
      `must be an integer from 1 to 100 (got ${String(n)})`,
      'use 1 for no retries, 3 for two retries',
    );
  }
  return n;
};

const checkTimeout = (name: string, n: number): number => {
  if (typeof n !== 'number' || Number.isNaN(n) || n <= 0) {
    throw new ConfigError(
      name,
      `must be a number of ms > 0 (got ${String(n)})`,
      'or Infinity for none',
    );
  }
  return n;
};

/** Options resolved once per `call`/`call$` (internal). */
interface Plan<T> {
  readonly target: CallTarget;
  readonly fn: AttemptFn<T>;
  readonly maxAttempts: number;
  readonly attemptTimeout: number;
  readonly pickTimeout: number;
  readonly scheduler: SchedulerLike;
  readonly now: () => number;
  readonly retryable: (error: unknown, instance: Instance) => boolean;
  readonly isSuccess: ((value: unknown) => boolean) | undefined;
  readonly detector: OutlierDetector | undefined;
  readonly key: string | undefined;
  readonly budget: RetryBudget | undefined;
  readonly backoff: BackoffPolicy;
}

const plan = <T>(target: CallTarget, fn: AttemptFn<T>, options: CallOptions): Plan<T> => ({
  target,
  fn,
  maxAttempts: checkAttempts(options.attempts ?? 3),
  attemptTimeout: checkTimeout('attemptTimeout', options.attemptTimeout ?? 10_000),
  pickTimeout: options.pickTimeout ?? 5000,
  scheduler: options.scheduler ?? asyncScheduler,
  now: options.now ?? perfNow,
  retryable: options.retryable ?? defaultRetryable,
  isSuccess: options.isSuccess,
  detector: options.detector,
  key: options.key,
  budget: options.budget === false ? undefined : (options.budget ?? defaultRetryBudget()),
  backoff: options.backoff ?? DEFAULT_BACKOFF,
});

/** Where a run delivers its result. */
interface Sink<T> {
  value(value: T): void;
  error(error: unknown): void;
}

/**
 * The signal of one attempt, made on first use: most calls never read it,
 * and an AbortController is the costliest part of an attempt.
 */
class AttemptContextImpl implements AttemptContext {
  #controller: AbortController | undefined;
  #reason: unknown;
  #aborted = false;

  constructor(readonly attempt: number) {}

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#aborted) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  abort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#controller?.abort(reason);
  }
}

/** One attempt on one instance. */
class Attempt<T> {
  readonly context: AttemptContextImpl;
  readonly t0: number;
  settled = false;
  timeout: Subscription | undefined;
  subscription: Subscription | undefined;

  constructor(
    readonly run: CallRun<T>,
    readonly instance: Instance,
    attempt: number,
  ) {
    this.context = new AttemptContextImpl(attempt);
    this.t0 = run.plan.now();
  }

  start(): void {
    const p = this.run.plan;
    p.target.started(this.instance);
    if (p.attemptTimeout !== Infinity) {
      this.timeout = timer(p.attemptTimeout, p.scheduler).subscribe(() =>
        this.fail(new AttemptTimeoutError(this.instance, p.attemptTimeout)),
      );
    }
    let input: ObservableInput<T>;
    try {
      input = p.fn(this.instance, this.context);
    } catch (e) {
      this.fail(e);
      return;
    }
    if (input instanceof Promise) {
      input.then(
        (v: T) => this.succeed(v),
        (e: unknown) => this.fail(e),
      );
      return;
    }
    const subscription = from(input).subscribe({
      next: (v) => this.succeed(v),
      error: (e: unknown) => this.fail(e),
      complete: () => {
        if (!this.settled) this.fail(new Error('the call completed without a value'));
      },
    });
    if (this.settled) subscription.unsubscribe();
    else this.subscription = subscription;
  }

  #settle(ok: boolean): number {
    this.settled = true;
    this.timeout?.unsubscribe();
    this.subscription?.unsubscribe();
    const p = this.run.plan;
    const latencyMs = p.now() - this.t0;
    const outcome: Outcome = { ok, latencyMs };
    p.target.finished(this.instance, outcome);
    p.detector?.report(this.instance, outcome);
    return latencyMs;
  }

  succeed(value: T): void {
    if (this.settled) return;
    const isSuccess = this.run.plan.isSuccess;
    if (isSuccess !== undefined && !isSuccess(value)) {
      this.fail(new UnsuccessfulValue(value));
      return;
    }
    this.#settle(true);
    this.run.succeeded(value);
  }

  fail(error: unknown): void {
    if (this.settled) return;
    const latencyMs = this.#settle(false);
    this.context.abort(error);
    this.run.failed(this.instance, error, latencyMs);
  }

  /** The caller gave up: not a failure of the instance (counted down, not reported). */
  cancel(): void {
    if (this.settled) return;
    this.settled = true;
    this.timeout?.unsubscribe();
    this.subscription?.unsubscribe();
    const p = this.run.plan;
    p.target.finished(this.instance, { ok: true, latencyMs: p.now() - this.t0 });
    this.context.abort(new DOMException('the call was cancelled', 'AbortError'));
  }
}

/** One call: its attempts, backoff and result. */
class CallRun<T> {
  readonly plan: Plan<T>;
  readonly #sink: Sink<T>;
  readonly #tried: Instance[] = [];
  readonly #failures: FailedAttempt[] = [];
  #backoff: Backoff;
  #attempt: Attempt<T> | undefined;
  #wait: Subscription | undefined;
  #closed = false;

  constructor(p: Plan<T>, sink: Sink<T>) {
    this.plan = p;
    this.#sink = sink;
    this.#backoff = p.backoff.start();
  }

  start(): void {
    const p = this.plan;
    p.budget?.deposit();
    const first = p.target.pick(p.key);
    if (first !== undefined) {
      this.#run(first);
      return;
    }
    const target = p.target;
    if (target.pickAsync !== undefined) {
      target.pickAsync(p.key, { timeout: p.pickTimeout }).then(
        (instance) => {
          if (!this.#closed) this.#run(instance);
        },
        (e: unknown) => this.#error(e),
      );
      return;
    }
    const set = target.set;
    this.#error(
      new NoInstanceError(
        'the balancer has no instance to pick',
        set === undefined ? {} : { service: set.service, registry: set.registry },
      ),
    );
  }

  cancel(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#wait?.unsubscribe();
    const attempt = this.#attempt;
    this.#attempt = undefined;
    attempt?.cancel();
  }

  #run(instance: Instance): void {
    this.#tried.push(instance);
    const attempt = new Attempt(this, instance, this.#tried.length);
    this.#attempt = attempt;
    attempt.start();
  }

  #error(e: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sink.error(e);
  }

  succeeded(value: T): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#attempt = undefined;
    this.#sink.value(value);
  }

  failed(instance: Instance, error: unknown, latencyMs: number): void {
    if (this.#closed) return;
    this.#attempt = undefined;
    this.#failures.push({ instance, error, latencyMs });
    const p = this.plan;
    const stop: CallGiveUp | undefined = !p.retryable(error, instance)
      ? 'not-retryable'
      : this.#tried.length >= p.maxAttempts
        ? 'attempts'
        : p.budget !== undefined && !p.budget.withdraw()
          ? 'budget'
          : undefined;
    if (stop !== undefined) {
      this.#giveUp(stop);
      return;
    }
    const delay = this.#backoff.delayMs;
    this.#backoff = this.#backoff.next();
    if (delay > 0) this.#wait = timer(delay, p.scheduler).subscribe(() => this.#retry());
    else this.#retry();
  }

  #retry(): void {
    if (this.#closed) return;
    const other = pickOther(this.plan.target, this.plan.key, this.#tried);
    if (other === undefined) this.#giveUp('no-instance');
    else this.#run(other);
  }

  #giveUp(reason: CallGiveUp): void {
    const failures = this.#failures;
    const last = failures.at(-1);
    const lastRetryable = last !== undefined && this.plan.retryable(last.error, last.instance);
    const service = this.#tried[0]?.service ?? this.plan.target.set?.service;
    this.#error(
      new CallError(service, failures, reason, reason !== 'not-retryable' && lastRetryable),
    );
  }
}

/**
 * Runs `fn` on an instance picked from `target` and, on a retryable failure,
 * backs off and runs it again on a *different* instance, within `attempts`
 * and the retry budget. Emits the first successful value, then completes.
 * Each attempt gets an `AbortSignal` that fires on its timeout or when the
 * subscriber unsubscribes. Every attempt is reported to the balancer
 * (`started`/`finished`, which feeds `ewma()` and `leastRequest()`) and to
 * `detector`. Fails with a {@link CallError} naming the service and every
 * attempt, or a `NoInstanceError` when nothing could be picked at all.
 * Options are checked at the call (a `ConfigError` is thrown).
 *
 * @example
 * ```ts
 * const hello = live(registry.instances$('hello').pipe(healthy(), ewma()));
 * call$(hello, (i, { signal }) => fetch(`${baseUrl(i)}/hello`, { signal }).then((r) => r.text()))
 *   .subscribe((text) => console.log(text));
 * ```
 */
export const call$ = <T>(
  target: CallTarget,
  fn: AttemptFn<T>,
  options: CallOptions = {},
): Observable<T> => {
  const p = plan(target, fn, options);
  return new Observable<T>((subscriber) => {
    const run = new CallRun(p, {
      value: (v) => {
        subscriber.next(v);
        subscriber.complete();
      },
      error: (e) => subscriber.error(e),
    });
    run.start();
    return () => run.cancel();
  });
};

/**
 * A value that `isSuccess` rejected; the attempt counts as failed. The value
 * (an HTTP response, say) is in `value`.
 *
 * @example
 * ```ts
 * const last = e.attempts.at(-1)?.error;
 * if (last instanceof UnsuccessfulValue) console.log(last.value);
 * ```
 */
export class UnsuccessfulValue extends Error {
  override readonly name = 'UnsuccessfulValue';
  /** True: an unsuccessful value is worth another instance. */
  readonly retryable = true;

  constructor(readonly value: unknown) {
    super(`unsuccessful result: ${describeValue(value)}`);
  }
}

const describeValue = (v: unknown): string => {
  if (typeof Response !== 'undefined' && v instanceof Response) return `HTTP ${v.status}`;
  try {
    return JSON.stringify(v)?.slice(0, 60) ?? String(v);
  } catch {
    return String(v);
  }
};

/**
 * The Promise form of {@link call$}: resolves with the first successful
 * value; rejects with a {@link CallError}, a `NoInstanceError`, or
 * `options.signal.reason` when the signal aborts (the attempt in flight is
 * aborted too).
 *
 * @example
 * ```ts
 * const hello = live(registry.instances$('hello').pipe(healthy(), leastRequest()));
 * const text = await call(
 *   hello,
 *   (i, { signal }) => fetch(`${baseUrl(i)}/hello`, { signal }).then((r) => r.text()),
 *   { attempts: 3, signal: AbortSignal.timeout(5000) },
 * );
 * ```
 */
export const call = <T>(
  target: CallTarget,
  fn: AttemptFn<T>,
  options: CallOptions = {},
): Promise<T> => {
  const p = plan(target, fn, options);
  const signal = options.signal;
  return new Promise<T>((resolve, reject) => {
    if (signal === undefined) {
      new CallRun(p, { value: resolve, error: reject }).start();
      return;
    }
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      run.cancel();
      reject(signal.reason);
    };
    const run = new CallRun(p, {
      value: (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      error: (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    });
    signal.addEventListener('abort', onAbort, { once: true });
    run.start();
  });
};
