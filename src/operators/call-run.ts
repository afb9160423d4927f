/**
 * One run of a call: the first pick, the attempts, the retry decisions
 * (retryable, attempt limit, budget), the backoff waits between them, the
 * hedges (another attempt while one is slow; the first success wins) and the
 * final result. A throw from any user callback ends the run with that error.
 *
 * @module
 */
import type { Subscription } from 'rxjs';
import { timer } from 'rxjs';
import type { Backoff } from '../core/backoff.js';
import { NoInstanceError } from '../core/errors.js';
import type { Instance } from '../core/instance.js';
import { attributesOf, withAttribute } from '../core/metrics.js';
import { Attempt, type AttemptOwner } from './call-attempt.js';
import { CallError, type CallGiveUp, type FailedAttempt } from './call-error.js';
import { type HedgeState, hedgeStateOf } from './call-hedge.js';
import type { AttemptKind, CallTarget } from './call-options.js';
import type { Plan } from './call-plan.js';

/** Where a run delivers its result, once. */
export interface Sink<T> {
  value(value: T): void;
  error(error: unknown): void;
}

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

/** The reason a hedge's losers are cancelled with. */
const LOST = 'another attempt of the call succeeded';

/** One call: its attempts, hedges, backoff and result. */
export class CallRun<T> implements AttemptOwner<T> {
  readonly plan: Plan<T>;
  readonly #sink: Sink<T>;
  readonly #tried: Instance[] = [];
  readonly #failures: FailedAttempt[] = [];
  /** The attempts running now: one, or more while hedging. */
  #inFlight: Attempt<T>[] = [];
  #backoff: Backoff | undefined;
  #wait: Subscription | undefined;
  /** The wait before the next hedge. */
  #hedgeWait: Subscription | undefined;
  readonly #hedging: HedgeState | undefined;
  #hedges = 0;
  /** Stops waiting for a first set (`pickAsync`), when the call waits for one. */
  #stopPicking: AbortController | undefined;
  #closed = false;

  constructor(p: Plan<T>, sink: Sink<T>) {
    this.plan = p;
    this.#sink = sink;
    this.#hedging = p.hedge === undefined ? undefined : hedgeStateOf(p.target, p.now);
  }

  /** Picks (or waits for a first set) and runs the first attempt. */
  start(): void {
    try {
      this.#start();
    } catch (e) {
      this.crashed(e);
    }
  }

  /** The caller gave up: the attempts in flight are aborted and counted down; no result is delivered. */
  cancel(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopWaiting();
    this.#stopPicking?.abort();
    this.#cancelInFlight('the call was cancelled');
  }

  crashed(error: unknown): void {
    if (this.#closed) return;
    try {
      this.cancel();
    } catch {
      // The first throw is the one the call fails with.
    }
    this.#sink.error(error);
  }

  succeeded(attempt: Attempt<T>, value: T, latencyMs: number): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#remove(attempt);
    this.#stopWaiting();
    this.#hedging?.record(latencyMs);
    let thrown: { e: unknown } | undefined;
    try {
      this.#cancelInFlight(LOST);
    } catch (e) {
      thrown = { e };
    }
    if (thrown === undefined) this.#sink.value(value);
    else this.#sink.error(thrown.e);
  }

  failed(attempt: Attempt<T>, error: unknown, latencyMs: number): void {
    if (this.#closed) return;
    this.#remove(attempt);
    const instance = attempt.instance;
    this.#failures.push({ instance, error, latencyMs });
    const p = this.plan;
    const retryable = p.retryable(error, instance);
    if (retryable && this.#inFlight.length > 0) return; // a hedge still runs: it may succeed
    this.#hedgeWait?.unsubscribe();
    this.#hedgeWait = undefined;
    const stop: CallGiveUp | undefined = !retryable
      ? 'not-retryable'
      : this.#tried.length - this.#hedges >= p.maxAttempts
        ? 'attempts'
        : p.budget !== undefined && !p.budget.withdraw()
          ? 'budget'
          : undefined;
    if (stop === 'budget') this.#exhausted(instance, 'retry', 'retry');
    if (stop !== undefined) {
      this.#giveUp(stop, retryable);
      return;
    }
    // A fresh run of the policy per call: its own jitter, drawn now.
    const backoff = this.#backoff ?? p.backoff.start();
    const delay = backoff.delayMs;
    this.#backoff = backoff.next();
    if (delay > 0) {
      this.#wait = timer(delay, p.scheduler).subscribe(() => {
        try {
          this.#retry();
        } catch (e) {
          this.crashed(e);
        }
      });
    } else this.#retry();
  }

  #start(): void {
    const p = this.plan;
    p.budget?.deposit();
    const h = p.hedge;
    if (h !== undefined) this.#hedging?.load(h.maxExtraLoadRatio).deposit();
    const first = p.target.pick(p.key);
    if (first !== undefined) {
      this.#run(first, 'first');
      return;
    }
    const target = p.target;
    if (target.pickAsync !== undefined) {
      const stop = new AbortController();
      this.#stopPicking = stop;
      target.pickAsync(p.key, { timeoutMs: p.pickTimeoutMs, signal: stop.signal }).then(
        (instance) => {
          if (this.#closed) return;
          try {
            this.#run(instance, 'first');
          } catch (e) {
            this.crashed(e);
          }
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

  #run(instance: Instance, kind: AttemptKind): void {
    this.#tried.push(instance);
    const attempt = new Attempt(this, instance, this.#tried.length, kind);
    this.#inFlight.push(attempt);
    attempt.start();
    this.#armHedge();
  }

  #remove(attempt: Attempt<T>): void {
    const k = this.#inFlight.indexOf(attempt);
    if (k >= 0) this.#inFlight.splice(k, 1);
  }

  /** Cancels every attempt in flight; records how long they ran (a lower bound of their latency). */
  #cancelInFlight(why: string): void {
    const attempts = this.#inFlight;
    if (attempts.length === 0) return;
    this.#inFlight = [];
    let thrown: { e: unknown } | undefined;
    for (const a of attempts) {
      try {
        const ran = a.cancel(why);
        if (why === LOST) this.#hedging?.record(ran);
      } catch (e) {
        thrown ??= { e };
      }
    }
    if (thrown !== undefined) throw thrown.e;
  }

  #stopWaiting(): void {
    this.#wait?.unsubscribe();
    this.#wait = undefined;
    this.#hedgeWait?.unsubscribe();
    this.#hedgeWait = undefined;
  }

  /** Waits for the hedge delay, when hedging and hedges are left. */
  #armHedge(): void {
    const h = this.plan.hedge;
    const state = this.#hedging;
    if (h === undefined || state === undefined || this.#hedgeWait !== undefined) return;
    if (this.#closed || this.#inFlight.length === 0 || this.#hedges >= h.max) return;
    const delay = state.delayMs(h);
    if (delay === undefined) return;
    this.#hedgeWait = timer(delay, this.plan.scheduler).subscribe(() => {
      this.#hedgeWait = undefined;
      try {
        this.#hedge();
      } catch (e) {
        this.crashed(e);
      }
    });
  }

  /** Starts a hedge on another instance, within the extra-load cap and the retry budget. */
  #hedge(): void {
    const p = this.plan;
    const h = p.hedge;
    const state = this.#hedging;
    const last = this.#inFlight.at(-1);
    if (this.#closed || h === undefined || state === undefined || last === undefined) return;
    const load = state.load(h.maxExtraLoadRatio);
    if (load.balance < 1) {
      this.#exhausted(last.instance, 'hedge', 'hedge_load');
      return;
    }
    if (p.budget !== undefined && p.budget.balance < 1) {
      this.#exhausted(last.instance, 'hedge', 'retry');
      return;
    }
    const other = pickOther(p.target, p.key, this.#tried);
    if (other === undefined) return;
    load.withdraw();
    p.budget?.withdraw();
    this.#hedges++;
    p.metrics?.hedges.add(1, attributesOf(other).service);
    this.#run(other, 'hedge');
  }

  /** Counts a retry or hedge that a budget refused (`rxdisco.call.budget_exhausted`). */
  #exhausted(instance: Instance, kind: AttemptKind, budget: 'retry' | 'hedge_load'): void {
    const m = this.plan.metrics;
    if (m === undefined) return;
    const byKind = withAttribute(attributesOf(instance).service, 'rxdisco.attempt.kind', kind);
    m.budgetExhausted.add(1, withAttribute(byKind, 'rxdisco.budget', budget));
  }

  #error(e: unknown): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopWaiting();
    try {
      this.#cancelInFlight('the call failed');
    } catch {
      // The call fails with `e`; a balancer that threw while counting down changes nothing.
    }
    this.#sink.error(e);
  }

  #retry(): void {
    if (this.#closed) return;
    const other = pickOther(this.plan.target, this.plan.key, this.#tried);
    if (other === undefined) this.#giveUp('no-instance', true);
    else {
      this.plan.metrics?.retries.add(1, attributesOf(other).service);
      this.#run(other, 'retry');
    }
  }

  /** Fails the call with a CallError; `lastRetryable`: what `retryable` said of the last error. */
  #giveUp(reason: CallGiveUp, lastRetryable: boolean): void {
    const service = this.#tried[0]?.service ?? this.plan.target.set?.service;
    this.#error(
      new CallError(service, this.#failures, reason, reason !== 'not-retryable' && lastRetryable),
    );
  }
}
