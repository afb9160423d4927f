/**
 * One attempt of a call on one instance: its signal, its timeout, the
 * user's function, and the report of how it ended to the balancer and the
 * detector. Every callback that comes back from outside (a promise, an
 * observable, a timer) runs guarded: a throw fails the call, never the process.
 *
 * @module
 */
import { from, type ObservableInput, type Subscription, timer } from 'rxjs';
import type { Instance } from '../core/instance.js';
import { attributesOf, withAttribute } from '../core/metrics.js';
import { CANCELLED, type CompletedOutcome } from './balancers/balancer.js';
import { AttemptTimeoutError, UnsuccessfulValue } from './call-error.js';
import type { AttemptContext, AttemptKind } from './call-options.js';
import type { Plan } from './call-plan.js';

/** What an attempt reports to (the call it belongs to). */
export interface AttemptOwner<T> {
  readonly plan: Plan<T>;
  /** `attempt` got a successful value after `latencyMs`. */
  succeeded(attempt: Attempt<T>, value: T, latencyMs: number): void;
  /** `attempt` failed with `error` after `latencyMs`. */
  failed(attempt: Attempt<T>, error: unknown, latencyMs: number): void;
  /** Code run for the attempt threw (a user callback): the call fails with `error`. */
  crashed(error: unknown): void;
}

/**
 * The signal of one attempt, made on first use: most calls never read it,
 * and an AbortController is the costliest part of an attempt.
 */
class LazyContext implements AttemptContext {
  #controller: AbortController | undefined;
  #reason: unknown;
  #aborted = false;

  constructor(
    readonly attempt: number,
    readonly kind: AttemptKind,
  ) {}

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

/** The reason a cancelled attempt's signal gets. */
const cancelledBy = (why: string): DOMException => new DOMException(why, 'AbortError');

/** One attempt on one instance; settles once (success, failure or cancel). */
export class Attempt<T> {
  readonly #owner: AttemptOwner<T>;
  readonly instance: Instance;
  readonly #context: LazyContext;
  readonly #t0: number;
  #settled = false;
  /** The load report of the answer (call option `loadReport`), for the outcome. */
  #load: string | undefined;
  #timeout: Subscription | undefined;
  #subscription: Subscription | undefined;

  constructor(owner: AttemptOwner<T>, instance: Instance, attempt: number, kind: AttemptKind) {
    this.#owner = owner;
    this.instance = instance;
    this.#context = new LazyContext(attempt, kind);
    this.#t0 = owner.plan.now();
  }

  /** What started this attempt. */
  get kind(): AttemptKind {
    return this.#context.kind;
  }

  /** Tells the balancer, arms the timeout and runs the user's function. May throw (a user callback). */
  start(): void {
    const p = this.#owner.plan;
    p.metrics?.picks.add(1, attributesOf(this.instance).instance);
    p.target.started(this.instance);
    if (p.attemptTimeoutMs !== Infinity) {
      this.#timeout = timer(p.attemptTimeoutMs, p.scheduler).subscribe(() =>
        this.#onError(new AttemptTimeoutError(this.instance, p.attemptTimeoutMs)),
      );
    }
    let input: ObservableInput<T>;
    try {
      input = p.fn(this.instance, this.#context);
    } catch (e) {
      this.#fail(e);
      return;
    }
    if (input instanceof Promise) {
      input.then(
        (v: T) => this.#onValue(v),
        (e: unknown) => this.#onError(e),
      );
      return;
    }
    const subscription = from(input).subscribe({
      next: (v) => this.#onValue(v),
      error: (e: unknown) => this.#onError(e),
      complete: () => {
        if (!this.#settled) this.#onError(new Error('the call completed without a value'));
      },
    });
    if (this.#settled) subscription.unsubscribe();
    else this.#subscription = subscription;
  }

  /**
   * The caller gave up, or another attempt won: not a failure of the
   * instance (counted down, no latency learnt, not reported to the
   * detector). Returns how long the attempt ran, in ms; may throw (the balancer).
   */
  cancel(why = 'the call was cancelled'): number {
    if (this.#settled) return 0;
    this.#release();
    const p = this.#owner.plan;
    this.#count('cancelled');
    this.#context.abort(cancelledBy(why));
    p.target.finished(this.instance, CANCELLED);
    return p.now() - this.#t0;
  }

  #onValue(value: T): void {
    try {
      this.#succeed(value);
    } catch (e) {
      this.#owner.crashed(e);
    }
  }

  #onError(error: unknown): void {
    try {
      this.#fail(error);
    } catch (e) {
      this.#owner.crashed(e);
    }
  }

  #succeed(value: T): void {
    if (this.#settled) return;
    this.#load = this.#owner.plan.loadReport?.(value) ?? undefined;
    const isSuccess = this.#owner.plan.isSuccess;
    if (isSuccess !== undefined && !isSuccess(value)) {
      this.#fail(new UnsuccessfulValue(value, this.instance));
      return;
    }
    const latencyMs = this.#report(true);
    this.#owner.succeeded(this, value, latencyMs);
  }

  #fail(error: unknown): void {
    if (this.#settled) return;
    const latencyMs = this.#report(false);
    this.#context.abort(error);
    this.#owner.failed(this, error, latencyMs);
  }

  /** Counts the attempt in `rxdisco.call.attempts`, when metrics are on. */
  #count(outcome: 'success' | 'failure' | 'cancelled'): void {
    const m = this.#owner.plan.metrics;
    if (m === undefined) return;
    const byKind = withAttribute(
      attributesOf(this.instance).service,
      'rxdisco.attempt.kind',
      this.kind,
    );
    m.attempts.add(1, withAttribute(byKind, 'rxdisco.attempt.outcome', outcome));
  }

  #release(): void {
    this.#settled = true;
    this.#timeout?.unsubscribe();
    this.#subscription?.unsubscribe();
  }

  /** Settles and reports a completed attempt; returns its latency. */
  #report(ok: boolean): number {
    this.#release();
    const p = this.#owner.plan;
    const latencyMs = p.now() - this.#t0;
    const load = this.#load;
    const outcome: CompletedOutcome =
      load === undefined ? { ok, latencyMs } : { ok, latencyMs, load };
    this.#count(ok ? 'success' : 'failure');
    p.target.finished(this.instance, outcome);
    p.detector?.report(this.instance, outcome);
    return latencyMs;
  }
}
