import { defer, finalize, map, type OperatorFunction } from 'rxjs';
import type { Instance } from '../../core/instance.js';
import type { InstanceSet } from '../../core/instance-set.js';
import type { BalancerExplanation } from '../explain.js';

/**
 * A call that ran to its end on an instance: it succeeded or failed, and
 * took `latencyMs`. What latency-aware balancers (`ewma()`) learn from and
 * what an outlier detector judges an instance by.
 *
 * @example
 * ```ts
 * balancer.finished(target, { ok: response.ok, latencyMs: performance.now() - t0 });
 * ```
 */
export interface CompletedOutcome {
  /** Absent or false: the call ran to its end (see {@link CancelledOutcome}). */
  readonly cancelled?: false;
  /** True when the call succeeded. */
  readonly ok: boolean;
  /** How long the call took, in milliseconds. */
  readonly latencyMs: number;
  /**
   * The load the instance reported with its answer, as ORCA's text form of
   * the `endpoint-load-metrics` header (`TEXT cpu_utilization=0.3,
   * rps_fractional=120, eps=2`), for balancers weighted by `loadReported()`.
   * @default none
   */
  readonly load?: string | undefined;
}

/**
 * A call the caller gave up on before it ended (unsubscribed, aborted): it
 * says nothing about the instance, so balancers learn no latency from it;
 * they only count it out of the calls in flight.
 *
 * @example
 * ```ts
 * signal.addEventListener('abort', () => balancer.finished(target, { cancelled: true }));
 * ```
 */
export interface CancelledOutcome {
  /** The call was cancelled by its caller. */
  readonly cancelled: true;
}

/**
 * How a call on an instance ended, for balancers that learn from calls:
 * completed (`{ ok, latencyMs }`) or cancelled (`{ cancelled: true }`).
 * Narrow on `cancelled` before reading `ok` or `latencyMs`.
 *
 * @example
 * ```ts
 * const latency = (o: Outcome) => (o.cancelled ? undefined : o.latencyMs);
 * ```
 */
export type Outcome = CompletedOutcome | CancelledOutcome;

/**
 * The outcome of a cancelled call (frozen, so that reporting one allocates
 * nothing).
 *
 * @example
 * ```ts
 * balancer.finished(target, CANCELLED); // in-flight count down, no latency learnt
 * ```
 */
export const CANCELLED: CancelledOutcome = Object.freeze({ cancelled: true });

/**
 * A picker built from one instance set: what a balancer operator emits for
 * every set it receives. `pick()` is synchronous and allocates nothing. The
 * pickers of one subscription share the balancer's state (rotation position,
 * in-flight counts...), so that state survives set changes; always use the
 * latest picker ({@link live} does).
 *
 * @example
 * ```ts
 * registry.instances$('hello').pipe(roundRobin()).subscribe((balancer) => {
 *   const target = balancer.pick();   // Instance | undefined
 * });
 * ```
 */
export interface Balancer {
  /** The set this picker was built from (stale or fresh). */
  readonly set: InstanceSet;
  /** How many instances it can pick from. */
  readonly size: number;
  /**
   * Picks an instance; `undefined` when there is none to pick from. `key`
   * is used by key-affine balancers (consistent hashing) and ignored by the others.
   */
  pick(key?: string): Instance | undefined;
  /**
   * Reports that a call began on `instance`. Balancers that count in-flight
   * calls (`leastRequest`) use it; the others ignore it.
   */
  started(instance: Instance): void;
  /**
   * Reports that a call on `instance` ended, with its outcome. Balancers that
   * count in-flight calls or learn from outcomes use it; the others ignore it.
   * A {@link CancelledOutcome} counts the call out of the calls in flight and
   * teaches nothing else.
   */
  finished(instance: Instance, outcome: Outcome): void;
  /**
   * What the balancer would say of its state: its candidates with their
   * weights, scores or in-flight counts (read by `explain()` of `live()`).
   * Optional: a balancer without it is explained by its set alone. Not
   * for the hot path (it allocates).
   */
  explain?(): BalancerExplanation;
}

/**
 * Builds a balancer operator from a strategy: `init` makes the state of one
 * subscription (carried across sets), `build` makes the picker of each set,
 * reading and updating that state. Each subscription gets its own state;
 * `release`, when given, is called with it when the subscription ends (to
 * stop the timers a state holds).
 *
 * @example
 * ```ts
 * const first = (): OperatorFunction<InstanceSet, Balancer> =>
 *   balancerOperator(
 *     () => undefined,
 *     (set) => ({ set, size: set.size, pick: () => set.instances[0], started() {}, finished() {} }),
 *   );
 * ```
 */
export const balancerOperator =
  <S>(
    init: () => S,
    build: (set: InstanceSet, state: S) => Balancer,
    release?: (state: S) => void,
  ): OperatorFunction<InstanceSet, Balancer> =>
  (source) =>
    defer(() => {
      const state = init();
      const balancers = source.pipe(map((set) => build(set, state)));
      return release === undefined ? balancers : balancers.pipe(finalize(() => release(state)));
    });

/**
 * The index of the first instance of `list` (sorted by id) whose id sorts
 * after `id`; `list.length` when none does. O(log n).
 *
 * @example
 * ```ts
 * indexAfter(set.instances, 'b'); // 2 for ids a, b, c
 * ```
 */
export const indexAfter = (list: readonly Instance[], id: string): number => {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.id <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
};
