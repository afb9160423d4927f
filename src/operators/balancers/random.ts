import type { OperatorFunction } from 'rxjs';
import type { Instance } from '../../core/instance.js';
import type { InstanceSet } from '../../core/instance-set.js';
import { type BalancerExplanation, candidateOf } from '../explain.js';
import { type Balancer, balancerOperator, type Outcome } from './balancer.js';
import { type RandomSource, randomSource } from './fast-random.js';
import { drawIndex, Weights, type WeightsOption, weightPolicies } from './weights.js';

/** Options of {@link random}. */
export interface RandomOptions {
  /**
   * Source of uniform numbers in [0, 1); pass a seeded one for reproducible picks.
   * @default a fast xoshiro128** generator seeded from `Math.random()` per
   *   subscription (allocation-free, unlike `Math.random` itself)
   */
  readonly random?: () => number;
  /**
   * Effective weights read instead of the instances' own `weight`
   * (`slowStart()`, `loadReported()`; several apply in order), re-read on
   * the first pick after they changed.
   * @default none (the instances' `weight`)
   */
  readonly weights?: WeightsOption;
}

interface RandomState {
  readonly random: RandomSource;
  readonly weights: Weights | undefined;
}

class RandomPicker implements Balancer {
  readonly set: InstanceSet;
  readonly size: number;
  readonly #candidates: readonly Instance[];
  /** `#ends[i]`: the sum of the weights of candidates 0..i. */
  readonly #ends: Float64Array;
  #total: number;
  readonly #random: RandomSource;
  readonly #effective: Weights | undefined;
  #generation = -1;

  constructor(set: InstanceSet, state: RandomState) {
    this.set = set;
    this.#random = state.random;
    this.#effective = state.weights;
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
    if (this.#effective !== undefined) {
      this.#effective.update(set);
      this.#refresh(this.#effective);
    }
    Object.freeze(this);
  }

  /** Effective weights into `#ends`, then prefix sums in place. */
  #refresh(effective: Weights): void {
    this.#generation = effective.generation;
    const ends = this.#ends;
    this.#total = effective.fill(this.#candidates, ends);
    for (let k = 1; k < ends.length; k++) ends[k] = ends[k]! + ends[k - 1]!;
  }

  pick(): Instance | undefined {
    const n = this.#candidates.length;
    if (n === 0) return undefined;
    const effective = this.#effective;
    if (effective !== undefined && effective.generation !== this.#generation) {
      this.#refresh(effective);
    }
    if (!(this.#total > 0)) return undefined;
    return this.#candidates[drawIndex(this.#ends, n, this.#random.next() * this.#total)];
  }

  explain(): BalancerExplanation {
    const effective = this.#effective;
    if (effective !== undefined && effective.generation !== this.#generation) {
      this.#refresh(effective);
    }
    const ends = this.#ends;
    const excluded = this.set.instances
      .filter((i) => !(i.weight > 0))
      .map((i) => ({ id: i.id, why: 'weight 0' }));
    return {
      kind: 'random',
      rule: 'random, in proportion to the weights',
      candidates: this.#candidates.map((i, k) =>
        candidateOf(i, ends[k]! - (k === 0 ? 0 : ends[k - 1]!)),
      ),
      ...(excluded.length === 0 ? {} : { excluded }),
    };
  }

  started(): void {}

  finished(instance: Instance, outcome: Outcome): void {
    this.#effective?.finished(instance, outcome);
  }
}

/**
 * Picks at random, each instance with a probability proportional to its
 * `weight` (or to its effective weight with `weights`); weight 0 is never
 * picked. A pick is a binary search over prefix sums of the weights:
 * O(log n), no allocation.
 *
 * @example
 * ```ts
 * const hello = live(registry.instances$('hello').pipe(healthy(), random()));
 * hello.pick();
 * ```
 */
export const random = (options: RandomOptions = {}): OperatorFunction<InstanceSet, Balancer> => {
  const custom = options.random;
  const policies = weightPolicies(options.weights);
  return balancerOperator<RandomState>(
    () => ({
      random: randomSource(custom),
      weights: policies.length === 0 ? undefined : new Weights(policies),
    }),
    (set, state) => new RandomPicker(set, state),
    (state) => state.weights?.stop(),
  );
};
