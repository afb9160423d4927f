/**
 * One run of a call: the first pick, the attempts, the retry decisions
 * (retryable, attempt limit, budget), the backoff waits between them and the
 * final result. A throw from any user callback ends the run with that error.
 *
 * @module
 */
import type { Subscription } from 'rxjs';
import { timer } from 'rxjs';
import type { Backoff } from '../core/backoff.js';
import { NoInstanceError } from '../core/errors.js';
import type { Instance } from '../core/instance.js';
import { Attempt, type AttemptOwner } from './call-attempt.js';
import { CallError, type CallGiveUp, type FailedAttempt } from './call-error.js';
import type { CallTarget } from './call-options.js';
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

/** One call: its attempts, backoff and result. */
export class CallRun<T> implements AttemptOwner<T> {
  readonly plan: Plan<T>;
  readonly #sink: Sink<T>;
  readonly #tried: Instance[] = [];
  readonly #failures: FailedAttempt[] = [];
  #backoff: Backoff | undefined;
  #attempt: Attempt<T> | undefined;
  #wait: Subscription | undefined;
  /** Stops waiting for a first set (`pickAsync`), when the call waits for one. */
  #stopPicking: AbortController | undefined;
  #closed = false;

  constructor(p: Plan<T>, sink: Sink<T>) {
    this.plan = p;
    this.#sink = sink;
  }

  /** Picks (or waits for a first set) and runs the first attempt. */
  start(): void {
    try {
      this.#start();
    } catch (e) {
      this.crashed(e);
    }
  }

  /** The caller gave up: the attempt in flight is aborted and counted down; no result is delivered. */
  cancel(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#wait?.unsubscribe();
    this.#stopPicking?.abort();
    const attempt = this.#attempt;
    this.#attempt = undefined;
    attempt?.cancel();
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
    const retryable = p.retryable(error, instance);
    const stop: CallGiveUp | undefined = !retryable
      ? 'not-retryable'
      : this.#tried.length >= p.maxAttempts
        ? 'attempts'
        : p.budget !== undefined && !p.budget.withdraw()
          ? 'budget'
          : undefined;
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
    const first = p.target.pick(p.key);
    if (first !== undefined) {
      this.#run(first);
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
            this.#run(instance);
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

  #retry(): void {
    if (this.#closed) return;
    const other = pickOther(this.plan.target, this.plan.key, this.#tried);
    if (other === undefined) this.#giveUp('no-instance', true);
    else this.#run(other);
  }

  /** Fails the call with a CallError; `lastRetryable`: what `retryable` said of the last error. */
  #giveUp(reason: CallGiveUp, lastRetryable: boolean): void {
    const service = this.#tried[0]?.service ?? this.plan.target.set?.service;
    this.#error(
      new CallError(service, this.#failures, reason, reason !== 'not-retryable' && lastRetryable),
    );
  }
}
