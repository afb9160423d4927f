import type { OperatorFunction } from 'rxjs';
import type { Instance } from '../../core/instance.js';
import type { InstanceSet } from '../../core/instance-set.js';
import { type BalancerExplanation, candidateOf } from '../explain.js';
import { type Balancer, balancerOperator, type Outcome } from './balancer.js';
import { type RandomSource, randomSource, twoChoices } from './fast-random.js';
import { Weights, type WeightsOption, weightedTwoChoices, weightPolicies } from './weights.js';

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
  /**
   * Effective weights (`slowStart()`, `loadReported()`; several apply in
   * order): the two candidates are then drawn in proportion to them
   * (starting from the instances' own `weight`) instead of uniformly, so
   * that an idle fleet gets the weights' shares and a busy one still goes
   * to fewer calls in flight. Re-read on the first pick after they changed.
   * @default none (unweighted, uniform draws)
   */
  readonly weights?: WeightsOption;
}

interface LeastRequestState {
  readonly counts: Counts;
  readonly random: RandomSource;
  readonly weights: Weights | undefined;
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
  readonly #effective: Weights | undefined;
  /** Prefix sums of the effective weights (with `weights` only). */
  readonly #ends: Float64Array | undefined;
  #total = 0;
  #generation = -1;

  constructor(set: InstanceSet, state: LeastRequestState) {
    const counts = state.counts;
    this.set = set;
    this.#list = set.instances;
    this.#counts = counts;
    this.#random = state.random;
    this.#effective = state.weights;
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
    if (state.weights !== undefined) {
      this.#ends = new Float64Array(this.#list.length);
      state.weights.update(set);
      this.#refresh(state.weights, this.#ends);
    }
    Object.freeze(this);
  }

  #refresh(effective: Weights, ends: Float64Array): void {
    this.#generation = effective.generation;
    this.#total = effective.fill(this.#list, ends);
    for (let k = 1; k < ends.length; k++) ends[k] = ends[k]! + ends[k - 1]!;
  }

  get size(): number {
    return this.#list.length;
  }

  pick(): Instance | undefined {
    const n = this.#list.length;
    const effective = this.#effective;
    if (effective === undefined) {
      if (n < 2) return this.#list[0];
      twoChoices(this.#random, n, PAIR);
    } else {
      const ends = this.#ends!;
      if (effective.generation !== this.#generation) this.#refresh(effective, ends);
      if (!(this.#total > 0)) return undefined;
      weightedTwoChoices(this.#random, ends, n, this.#total, PAIR);
    }
    const a = PAIR[0]!;
    const b = PAIR[1]!;
    const inFlight = this.#inFlight;
    return this.#list[inFlight[b]!.count < inFlight[a]!.count ? b : a];
  }

  explain(): BalancerExplanation {
    const effective = this.#effective;
    const ends = this.#ends;
    if (
      effective !== undefined &&
      ends !== undefined &&
      effective.generation !== this.#generation
    ) {
      this.#refresh(effective, ends);
    }
    return {
      kind: 'leastRequest',
      rule: 'two candidates drawn at random (by weight, with weights), the one with fewer calls in flight',
      candidates: this.#list.map((i, k) =>
        candidateOf(i, ends === undefined ? 1 : ends[k]! - (k === 0 ? 0 : ends[k - 1]!), {
          inFlight: this.#inFlight[k]!.count,
          score: this.#inFlight[k]!.count,
          scoreIs: 'calls in flight: the lower of two draws is picked',
        }),
      ),
    };
  }

  started(instance: Instance): void {
    const c = this.#counts.get(instance.id);
    if (c === undefined) this.#counts.set(instance.id, { count: 1 });
    else c.count++;
  }

  finished(instance: Instance, outcome: Outcome): void {
    const c = this.#counts.get(instance.id);
    if (c !== undefined && c.count > 0) c.count--;
    this.#effective?.finished(instance, outcome);
  }
}

/**
 * Least request by the power of two choices: each pick draws two different
 * instances at random and takes the one with fewer calls in flight (ties go
 * to the first drawn). Report calls with `started()` and `finished()` (any
 * outcome, cancelled included, counts the call down); the
 * counts are kept by instance id for the whole subscription, so they survive
 * set changes. Unweighted: every instance of the set is a candidate, drawn
 * uniformly; with `weights` (`slowStart()`, `loadReported()`) the two are
 * drawn in proportion to their effective weights (O(log n)). A pick
 * allocates nothing.
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
  const policies = weightPolicies(options.weights);
  return balancerOperator<LeastRequestState>(
    () => ({
      counts: new Map(),
      random: randomSource(custom),
      weights: policies.length === 0 ? undefined : new Weights(policies),
    }),
    (set, state) => new LeastRequestPicker(set, state),
    (state) => state.weights?.stop(),
  );
};
