import type { OperatorFunction } from 'rxjs';
import type { Instance } from '../../core/instance.js';
import type { InstanceSet } from '../../core/instance-set.js';
import { type Balancer, balancerOperator } from './balancer.js';
import { type RandomSource, randomSource } from './fast-random.js';

/** Options of {@link random}. */
export interface RandomOptions {
  /**
   * Source of uniform numbers in [0, 1); pass a seeded one for reproducible picks.
   * @default a fast xoshiro128** generator seeded from `Math.random()` per
   *   subscription (allocation-free, unlike `Math.random` itself)
   */
  readonly random?: () => number;
}

class RandomPicker implements Balancer {
  readonly set: InstanceSet;
  readonly size: number;
  readonly #candidates: readonly Instance[];
  /** `#ends[i]`: the sum of the weights of candidates 0..i. */
  readonly #ends: Float64Array;
  readonly #total: number;
  readonly #random: RandomSource;

  constructor(set: InstanceSet, random: RandomSource) {
    this.set = set;
    this.#random = random;
    const candidates: Instance[] = [];
    for (const i of set.instances) if (i.weight > 0) candidates.push(i);
    const ends = new Float64Array(candidates.length);
    let total = 0;
    for (let i = 0; i < candidates.length; i++) {
      total += candidates[i]!.weight;
      ends[i] = total;
    }
    this.#candidates = candidates;
    this.#ends = ends;
    this.#total = total;
    this.size = candidates.length;
    Object.freeze(this);
  }

  pick(): Instance | undefined {
    const n = this.#candidates.length;
    if (n === 0) return undefined;
    const target = this.#random.next() * this.#total;
    const ends = this.#ends;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ends[mid]! > target) hi = mid;
      else lo = mid + 1;
    }
    return this.#candidates[lo];
  }

  started(): void {}

  finished(): void {}
}

/**
 * Picks at random, each instance with a probability proportional to its
 * `weight`; weight 0 is never picked. A pick is a binary search over
 * prefix sums of the weights: O(log n), no allocation.
 *
 * @example
 * ```ts
 * const hello = live(registry.instances$('hello').pipe(healthy(), random()));
 * hello.pick();
 * ```
 */
export const random = (options: RandomOptions = {}): OperatorFunction<InstanceSet, Balancer> => {
  const custom = options.random;
  return balancerOperator(
    () => randomSource(custom),
    (set, source) => new RandomPicker(set, source),
  );
};
