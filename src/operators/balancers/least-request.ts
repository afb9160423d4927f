import type { OperatorFunction } from 'rxjs';
import type { Instance } from '../../core/instance.js';
import type { InstanceSet } from '../../core/instance-set.js';
import { type Balancer, balancerOperator } from './balancer.js';
import { type RandomSource, randomSource, twoChoices } from './fast-random.js';

/** Scratch for the two choices of a pick (picks are synchronous, so one suffices). */
const PAIR = new Int32Array(2);

/** Options of {@link leastRequest}. */
export interface LeastRequestOptions {
  /**
   * Source of uniform numbers in [0, 1) for choosing the two candidates;
   * pass a seeded one for reproducible picks.
   * @default a fast xoshiro128** generator seeded from `Math.random()` per
   *   subscription (allocation-free, unlike `Math.random` itself)
   */
  readonly random?: () => number;
}

/** The in-flight count of one instance id, shared by every picker. */
interface InFlight {
  count: number;
}

/** In-flight counts by id, for one subscription. */
type Counts = Map<string, InFlight>;

class LeastRequestPicker implements Balancer {
  readonly set: InstanceSet;
  readonly #list: readonly Instance[];
  /** `#inFlight[i]` is the counter of `#list[i]`. */
  readonly #inFlight: readonly InFlight[];
  readonly #counts: Counts;
  readonly #random: RandomSource;

  constructor(set: InstanceSet, counts: Counts, random: RandomSource) {
    this.set = set;
    this.#list = set.instances;
    this.#counts = counts;
    this.#random = random;
    // Forget idle counters of instances that left; keep busy ones until
    // their calls finish (they may come back).
    for (const [id, c] of counts) if (c.count === 0 && set.get(id) === undefined) counts.delete(id);
    this.#inFlight = this.#list.map((i) => {
      let c = counts.get(i.id);
      if (c === undefined) {
        c = { count: 0 };
        counts.set(i.id, c);
      }
      return c;
    });
    Object.freeze(this);
  }

  get size(): number {
    return this.#list.length;
  }

  pick(): Instance | undefined {
    const n = this.#list.length;
    if (n < 2) return this.#list[0];
    twoChoices(this.#random, n, PAIR);
    const a = PAIR[0]!;
    const b = PAIR[1]!;
    const inFlight = this.#inFlight;
    return this.#list[inFlight[b]!.count < inFlight[a]!.count ? b : a];
  }

  started(instance: Instance): void {
    const c = this.#counts.get(instance.id);
    if (c === undefined) this.#counts.set(instance.id, { count: 1 });
    else c.count++;
  }

  finished(instance: Instance): void {
    const c = this.#counts.get(instance.id);
    if (c !== undefined && c.count > 0) c.count--;
  }
}

/**
 * Least request by the power of two choices: each pick draws two different
 * instances at random and takes the one with fewer calls in flight (ties go
 * to the first drawn). Report calls with `started()` and `finished()` (any
 * outcome, cancelled included, counts the call down); the
 * counts are kept by instance id for the whole subscription, so they survive
 * set changes. Unweighted: every instance of the set is a candidate. A pick
 * is O(1), no allocation.
 *
 * @example
 * ```ts
 * const hello = live(registry.instances$('hello').pipe(healthy(), leastRequest()));
 * // call() reports started/finished for every attempt
 * const text = await call(hello, (i, { signal }) =>
 *   fetch(`${baseUrl(i)}/hello`, { signal }).then((r) => r.text()),
 * );
 * ```
 */
export const leastRequest = (
  options: LeastRequestOptions = {},
): OperatorFunction<InstanceSet, Balancer> => {
  const custom = options.random;
  return balancerOperator<{ readonly counts: Counts; readonly random: RandomSource }>(
    () => ({ counts: new Map(), random: randomSource(custom) }),
    (set, state) => new LeastRequestPicker(set, state.counts, state.random),
  );
};
