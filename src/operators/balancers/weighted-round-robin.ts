import type { OperatorFunction } from 'rxjs';
import type { Instance } from '../../core/instance.js';
import { compareIds, type InstanceSet } from '../../core/instance-set.js';
import { type BalancerExplanation, candidateOf } from '../explain.js';
import { type Balancer, balancerOperator, type Outcome } from './balancer.js';
import { Weights, type WeightsOption, weightPolicies } from './weights.js';

/** Options of {@link weightedRoundRobin}. */
export interface WeightedRoundRobinOptions {
  /**
   * Effective weights read instead of the instances' own `weight`
   * (`slowStart()`, `loadReported()`; several apply in order). They are
   * re-read on the first pick after they changed.
   * @default none (the instances' `weight`)
   */
  readonly weights?: WeightsOption;
}

interface WeightedRoundRobinState {
  latest: WeightedRoundRobinPicker | undefined;
  readonly weights: Weights | undefined;
}

class WeightedRoundRobinPicker implements Balancer {
  readonly set: InstanceSet;
  readonly size: number;
  /** Instances of weight > 0, sorted by id. */
  readonly #candidates: readonly Instance[];
  readonly #weights: Float64Array;
  /** nginx's `current_weight` of each candidate. */
  readonly #current: Float64Array;
  #total: number;
  readonly #effective: Weights | undefined;
  #generation = -1;

  constructor(
    set: InstanceSet,
    previous: WeightedRoundRobinPicker | undefined,
    effective: Weights | undefined,
  ) {
    this.set = set;
    const candidates: Instance[] = [];
    for (const i of set.instances) if (i.weight > 0) candidates.push(i);
    const n = candidates.length;
    const weights = new Float64Array(n);
    const current = new Float64Array(n);
    let total = 0;
    for (let i = 0; i < n; i++) {
      weights[i] = candidates[i]!.weight;
      total += weights[i]!;
    }
    if (previous !== undefined) {
      // Carry the current weights over by id: both lists are sorted by id.
      const old = previous.#candidates;
      const oldCurrent = previous.#current;
      let j = 0;
      for (let i = 0; i < n && j < old.length; i++) {
        const id = candidates[i]!.id;
        while (j < old.length && compareIds(old[j]!.id, id) < 0) j++;
        if (j < old.length && old[j]!.id === id) current[i] = oldCurrent[j]!;
      }
    }
    this.#candidates = candidates;
    this.#weights = weights;
    this.#current = current;
    this.#total = total;
    this.#effective = effective;
    this.size = n;
    if (effective !== undefined) {
      effective.update(set);
      this.#refresh(effective);
    }
    Object.freeze(this);
  }

  #refresh(effective: Weights): void {
    this.#generation = effective.generation;
    this.#total = effective.fill(this.#candidates, this.#weights);
  }

  pick(): Instance | undefined {
    const n = this.#candidates.length;
    if (n === 0) return undefined;
    const effective = this.#effective;
    if (effective !== undefined && effective.generation !== this.#generation) {
      this.#refresh(effective);
    }
    if (!(this.#total > 0)) return undefined;
    const weights = this.#weights;
    const current = this.#current;
    let best = 0;
    let bestWeight = -Infinity;
    for (let i = 0; i < n; i++) {
      const c = current[i]! + weights[i]!;
      current[i] = c;
      if (c > bestWeight) {
        bestWeight = c;
        best = i;
      }
    }
    current[best] = bestWeight - this.#total;
    return this.#candidates[best];
  }

  explain(): BalancerExplanation {
    const effective = this.#effective;
    if (effective !== undefined && effective.generation !== this.#generation) {
      this.#refresh(effective);
    }
    const excluded = this.set.instances
      .filter((i) => !(i.weight > 0))
      .map((i) => ({ id: i.id, why: 'weight 0' }));
    return {
      kind: 'weightedRoundRobin',
      rule: 'smooth weighted round robin (nginx): the highest current weight goes next',
      candidates: this.#candidates.map((i, k) =>
        candidateOf(i, this.#weights[k]!, {
          score: this.#current[k]! + this.#weights[k]!,
          scoreIs: 'current weight + weight: the highest is picked next',
        }),
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
 * Smooth weighted round robin, as nginx does it: every pick adds each
 * instance's `weight` to its current weight, picks the highest and lowers
 * it by the total. Weights 5, 1, 1 give `a a b a c a a`: exact shares,
 * spread out rather than in bursts. Weight 0 is never picked. Current
 * weights are carried across set changes by id (a new instance starts at 0),
 * so an update does not restart the sequence. With `weights`
 * (`slowStart()`, `loadReported()`) the shares follow the effective
 * weights instead. A pick is O(n), no allocation.
 *
 * @example
 * ```ts
 * const hello = live(registry.instances$('hello').pipe(healthy(), weightedRoundRobin()));
 * hello.pick();
 * ```
 */
export const weightedRoundRobin = (
  options: WeightedRoundRobinOptions = {},
): OperatorFunction<InstanceSet, Balancer> => {
  const policies = weightPolicies(options.weights);
  return balancerOperator<WeightedRoundRobinState>(
    () => ({
      latest: undefined,
      weights: policies.length === 0 ? undefined : new Weights(policies),
    }),
    (set, state) => {
      const picker = new WeightedRoundRobinPicker(set, state.latest, state.weights);
      state.latest = picker;
      return picker;
    },
    (state) => state.weights?.stop(),
  );
};
