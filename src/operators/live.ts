import { type Observable, type Subscription, timer } from 'rxjs';
import { NoInstanceError } from '../core/errors.js';
import type { Instance } from '../core/instance.js';
import type { InstanceSet } from '../core/instance-set.js';
import { durationOption } from '../core/options.js';
import type { Balancer, Outcome } from './balancers/balancer.js';
import {
  addressOf,
  type BalancerExplanation,
  candidateOf,
  notesOf,
  type PickExplanation,
} from './explain.js';

/** Options of {@link LiveBalancer.pickAsync}. */
export interface PickAsyncOptions {
  /**
   * Milliseconds to wait for the first set before rejecting with a
   * {@link NoInstanceError}; `Infinity` waits as long as it takes.
   * @default 5000
   */
  readonly timeoutMs?: number;
  /**
   * Stops waiting: the promise rejects with the signal's reason.
   * @default undefined (no signal)
   */
  readonly signal?: AbortSignal;
}

/**
 * The latest balancer of a stream, held for synchronous picks. Made by {@link live}.
 *
 * @example
 * ```ts
 * const hello = live(registry.instances$('hello').pipe(healthy(), roundRobin()));
 * const now = hello.pick();                       // Instance | undefined
 * const soon = await hello.pickAsync();           // waits for the first set
 * hello.close();
 * ```
 */
export interface LiveBalancer {
  /** The latest balancer; `undefined` before the first set and after `close()`. */
  readonly current: Balancer | undefined;
  /** The set of the latest balancer. */
  readonly set: InstanceSet | undefined;
  /** The stream's error if it failed (the last balancer stays in use). */
  readonly error: unknown;
  /** Picks from the latest balancer; `undefined` before the first set, from an empty set, after `close()`. */
  pick(key?: string): Instance | undefined;
  /**
   * Picks, waiting for the first set if none came yet. Rejects with a
   * {@link NoInstanceError} when the set is empty, when no set came within
   * `timeoutMs`, or after `close()`; with the stream's error when it failed
   * and nothing can be picked; with the signal's reason when aborted.
   */
  pickAsync(key?: string, options?: PickAsyncOptions): Promise<Instance>;
  /** Tells the latest balancer that a call began on `instance`. */
  started(instance: Instance): void;
  /** Tells the latest balancer that a call on `instance` ended. */
  finished(instance: Instance, outcome: Outcome): void;
  /**
   * Why the last pick was made: the set (service, registry, staleness,
   * size), the instance picked last and its key, the balancer's candidates
   * with their weights, scores or in-flight counts, and the notes of the
   * set operators upstream (which locality tier and share, which subset,
   * who is ejected and for how long). A plain object for logs and the CLI;
   * it allocates, so call it when asked, not per call.
   */
  explain(): PickExplanation;
  /** Unsubscribes from the stream and rejects pending `pickAsync()` calls; later picks return `undefined`. Idempotent. */
  close(): void;
}

interface Waiter {
  readonly key: string | undefined;
  readonly resolve: (instance: Instance) => void;
  readonly reject: (reason: unknown) => void;
  timer: Subscription | undefined;
  release: (() => void) | undefined;
}

const DEFAULT_TIMEOUT_MS = 5000;

const context = (set: InstanceSet | undefined) =>
  set === undefined ? {} : { service: set.service, registry: set.registry };

/** A balancer without an `explain` hook: its set's pickable instances. */
const fromSet = (balancer: Balancer): BalancerExplanation => {
  const candidates = [];
  const excluded = [];
  for (const i of balancer.set.instances) {
    if (i.weight > 0) candidates.push(candidateOf(i, i.weight));
    else excluded.push({ id: i.id, why: 'weight 0' });
  }
  return {
    kind: 'unknown',
    rule: 'a balancer without an explain hook: its set',
    candidates,
    ...(excluded.length === 0 ? {} : { excluded }),
  };
};

class Live implements LiveBalancer {
  #current: Balancer | undefined;
  /** The last instance picked, and its key (two fields: picking allocates nothing). */
  #picked: Instance | undefined;
  #pickedKey: string | undefined;
  #error: unknown;
  #failed = false;
  #completed = false;
  #closed = false;
  #subscription: Subscription | undefined;
  readonly #waiters = new Set<Waiter>();

  constructor(balancer$: Observable<Balancer>) {
    const subscription = balancer$.subscribe({
      next: (balancer) => {
        if (this.#closed) return;
        this.#current = balancer;
        this.#settleAll();
      },
      error: (e: unknown) => {
        this.#failed = true;
        this.#error = e;
        this.#settleAll();
      },
      complete: () => {
        this.#completed = true;
        this.#settleAll();
      },
    });
    if (this.#closed) subscription.unsubscribe();
    else this.#subscription = subscription;
  }

  get current(): Balancer | undefined {
    return this.#current;
  }

  get set(): InstanceSet | undefined {
    return this.#current?.set;
  }

  get error(): unknown {
    return this.#error;
  }

  pick(key?: string): Instance | undefined {
    const current = this.#current;
    if (current === undefined) return undefined;
    const instance = current.pick(key);
    if (instance !== undefined) {
      this.#picked = instance;
      this.#pickedKey = key;
    }
    return instance;
  }

  explain(): PickExplanation {
    const current = this.#current;
    const set = current?.set;
    const picked = this.#picked;
    const key = this.#pickedKey;
    const error = this.#error;
    return {
      service: set?.service,
      registry: set?.registry,
      stale: set?.stale ?? false,
      size: set?.size ?? 0,
      picked:
        picked === undefined
          ? undefined
          : { id: picked.id, address: addressOf(picked), ...(key === undefined ? {} : { key }) },
      balancer: current === undefined ? undefined : (current.explain?.() ?? fromSet(current)),
      // Plain copies: a note's detail may be built on first read.
      notes:
        set === undefined
          ? []
          : notesOf(set).map((n) => ({ operator: n.operator, detail: n.detail })),
      ...(this.#failed
        ? { error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }
        : {}),
    };
  }

  started(instance: Instance): void {
    this.#current?.started(instance);
  }

  finished(instance: Instance, outcome: Outcome): void {
    this.#current?.finished(instance, outcome);
  }

  pickAsync(key?: string, options: PickAsyncOptions = {}): Promise<Instance> {
    return new Promise<Instance>((resolve, reject) => {
      const waiter: Waiter = { key, resolve, reject, timer: undefined, release: undefined };
      if (this.#settle(waiter)) return;
      let timeout: number;
      try {
        timeout = durationOption('timeoutMs', options.timeoutMs, DEFAULT_TIMEOUT_MS, {
          infinite: true,
          fix: 'pass a timeoutMs such as 5000, or Infinity to wait as long as it takes',
        });
      } catch (e) {
        reject(e);
        return;
      }
      const signal = options.signal;
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      this.#waiters.add(waiter);
      if (timeout !== Infinity) {
        waiter.timer = timer(timeout).subscribe(() => {
          this.#release(waiter);
          reject(new NoInstanceError(`no instance set arrived within ${timeout} ms`));
        });
      }
      if (signal !== undefined) {
        const onAbort = (): void => {
          this.#release(waiter);
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        waiter.release = () => signal.removeEventListener('abort', onAbort);
      }
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#current = undefined;
    this.#subscription?.unsubscribe();
    this.#subscription = undefined;
    this.#settleAll();
  }

  /** Resolves or rejects `waiter` if its outcome is known now; true when it did. */
  #settle(waiter: Waiter): boolean {
    if (this.#closed) {
      waiter.reject(new NoInstanceError('the live balancer was closed'));
      return true;
    }
    const current = this.#current;
    if (current !== undefined) {
      const instance = this.pick(waiter.key);
      if (instance !== undefined) waiter.resolve(instance);
      else if (this.#failed) waiter.reject(this.#error);
      else {
        const why =
          current.set.size === 0
            ? 'the instance set is empty'
            : `none of the ${current.set.size} instances can be picked (weight 0?)`;
        waiter.reject(new NoInstanceError(why, context(current.set)));
      }
      return true;
    }
    if (this.#failed) {
      waiter.reject(this.#error);
      return true;
    }
    if (this.#completed) {
      waiter.reject(new NoInstanceError('the balancer stream completed before any set'));
      return true;
    }
    return false;
  }

  #settleAll(): void {
    for (const waiter of [...this.#waiters]) {
      if (this.#settle(waiter)) this.#release(waiter);
    }
  }

  #release(waiter: Waiter): void {
    this.#waiters.delete(waiter);
    waiter.timer?.unsubscribe();
    waiter.release?.();
  }
}

/**
 * Subscribes to a balancer stream at once and holds its latest balancer, so
 * that `pick()` is a synchronous call. Picking before the first set, from an
 * empty set or after `close()` returns `undefined`; `pickAsync()` waits for
 * the first set and rejects with a {@link NoInstanceError} instead. When the
 * stream fails, the last balancer stays in use and `error` tells why.
 *
 * @example
 * ```ts
 * const hello = live(registry.instances$('hello').pipe(healthy(), roundRobin()));
 * const target = hello.pick() ?? (await hello.pickAsync(undefined, { timeoutMs: 1000 }));
 * // ... on shutdown
 * hello.close();
 * ```
 */
export const live = (balancer$: Observable<Balancer>): LiveBalancer => new Live(balancer$);
