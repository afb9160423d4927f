import type { OperatorFunction, SchedulerLike } from 'rxjs';
import type { Instance } from '../../core/instance.js';
import type { InstanceSet } from '../../core/instance-set.js';
import { durationOption } from '../../core/options.js';
import { type BalancerExplanation, candidateOf } from '../explain.js';
import { type Balancer, balancerOperator, type Outcome } from './balancer.js';
import { type RandomSource, randomSource, twoChoices } from './fast-random.js';
import { Weights, type WeightsOption, weightedTwoChoices, weightPolicies } from './weights.js';

/** Scratch for the two choices of a pick (picks are synchronous, so one suffices). */
const PAIR = new Int32Array(2);

/** Options of {@link ewma}. */
export interface EwmaOptions {
  /**
   * Time constant of the decay, in ms: a latency observed `decayMs` ago
   * weighs 1/e of one observed now, and an idle instance's cost falls by
   * the same factor, so that a once-slow instance is tried again.
   * @default 10000
   */
  readonly decayMs?: number;
  /**
   * The latency assumed for an instance that has no observation yet, in ms.
   * @default 30
   */
  readonly initialLatencyMs?: number;
  /**
   * The latency counted for a failed call, when larger than the observed
   * one, so that an instance that fails fast does not attract traffic.
   * @default 1000
   */
  readonly failureLatencyMs?: number;
  /**
   * The clock, in ms. Takes precedence over `scheduler`.
   * @default `scheduler.now()` when a scheduler is given, else `performance.now()`
   */
  readonly now?: () => number;
  /**
   * A scheduler whose `now()` is the clock (a TestScheduler in tests).
   * @default none (`performance.now()`)
   */
  readonly scheduler?: SchedulerLike;
  /**
   * Source of uniform numbers in [0, 1) for choosing the two candidates.
   * @default a fast xoshiro128** generator seeded from `Math.random()` per subscription
   */
  readonly random?: () => number;
  /**
   * Effective weights (`slowStart()`, `loadReported()`; several apply in
   * order): the two candidates are then drawn in proportion to them
   * (starting from the instances' own `weight`) and compared by
   * `latency × (in flight + 1)` alone, the weight having shaped the draw.
   * Re-read on the first pick after they changed.
   * @default none (uniform draws, cost divided by `weight`)
   */
  readonly weights?: WeightsOption;
}

/** What is learnt about one instance id, shared by every picker of a subscription. */
interface Stats {
  /** Peak-EWMA latency in ms, as of `stamp`. */
  cost: number;
  stamp: number;
  inFlight: number;
  /** False until the first outcome: it replaces `initialLatencyMs` in full. */
  observed: boolean;
}

interface Resolved {
  readonly decay: number;
  readonly initial: number;
  readonly failure: number;
  readonly now: () => number;
}

interface EwmaState {
  readonly stats: Map<string, Stats>;
  readonly random: RandomSource;
  readonly options: Resolved;
  readonly weights: Weights | undefined;
}

class EwmaPicker implements Balancer {
  readonly set: InstanceSet;
  readonly size: number;
  readonly #list: readonly Instance[];
  readonly #stats: readonly Stats[];
  readonly #all: Map<string, Stats>;
  readonly #random: RandomSource;
  readonly #options: Resolved;
  readonly #effective: Weights | undefined;
  /** Prefix sums of the effective weights (with `weights` only). */
  readonly #ends: Float64Array | undefined;
  #total = 0;
  #generation = -1;

  constructor(set: InstanceSet, state: EwmaState) {
    this.set = set;
    this.#effective = state.weights;
    this.#all = state.stats;
    this.#random = state.random;
    this.#options = state.options;
    for (const [id, s] of state.stats) {
      if (s.inFlight === 0 && set.get(id) === undefined) state.stats.delete(id);
    }
    const list: Instance[] = [];
    const stats: Stats[] = [];
    const now = state.options.now();
    for (const i of set.instances) {
      if (!(i.weight > 0)) continue;
      list.push(i);
      stats.push(this.#statsOf(i.id, now));
    }
    this.#list = list;
    this.#stats = stats;
    this.size = list.length;
    if (state.weights !== undefined) {
      this.#ends = new Float64Array(list.length);
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

  #statsOf(id: string, now: number): Stats {
    let s = this.#all.get(id);
    if (s === undefined) {
      s = { cost: this.#options.initial, stamp: now, inFlight: 0, observed: false };
      this.#all.set(id, s);
    }
    return s;
  }

  /** Decayed latency × (in flight + 1) ÷ weight; lower is better. */
  #load(k: number, now: number): number {
    const s = this.#stats[k]!;
    const elapsed = now - s.stamp;
    const cost = elapsed > 0 ? s.cost * Math.exp(-elapsed / this.#options.decay) : s.cost;
    const load = cost * (s.inFlight + 1);
    return this.#effective === undefined ? load / this.#list[k]!.weight : load;
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
    const now = this.#options.now();
    return this.#list[this.#load(b, now) < this.#load(a, now) ? b : a];
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
    const now = this.#options.now();
    const excluded = this.set.instances
      .filter((i) => !(i.weight > 0))
      .map((i) => ({ id: i.id, why: 'weight 0' }));
    return {
      kind: 'ewma',
      rule: 'two candidates drawn at random, the one of lower peak-EWMA cost',
      candidates: this.#list.map((i, k) =>
        candidateOf(i, ends === undefined ? i.weight : ends[k]! - (k === 0 ? 0 : ends[k - 1]!), {
          inFlight: this.#stats[k]!.inFlight,
          score: this.#load(k, now),
          scoreIs: `decayed peak-EWMA latency ms × (in flight + 1)${effective === undefined ? ' ÷ weight' : ''}: lower is better`,
        }),
      ),
      ...(excluded.length === 0 ? {} : { excluded }),
    };
  }

  started(instance: Instance): void {
    this.#statsOf(instance.id, this.#options.now()).inFlight++;
  }

  finished(instance: Instance, outcome: Outcome): void {
    this.#effective?.finished(instance, outcome);
    const s = this.#all.get(instance.id);
    if (s === undefined) return;
    if (s.inFlight > 0) s.inFlight--;
    if (outcome.cancelled === true) return; // says nothing of the instance's latency
    const o = this.#options;
    const latency = outcome.ok ? outcome.latencyMs : Math.max(outcome.latencyMs, o.failure);
    if (!(latency >= 0)) return;
    const now = o.now();
    const elapsed = Math.max(0, now - s.stamp);
    s.stamp = now;
    if (!s.observed || latency > s.cost) {
      s.observed = true;
      s.cost = latency; // peak: a slow response counts in full at once
    } else {
      const w = Math.exp(-elapsed / o.decay);
      s.cost = s.cost * w + latency * (1 - w);
    }
  }
}

/**
 * Peak-EWMA latency with the power of two choices, as Finagle and Linkerd
 * balance: each pick draws two different instances at random and takes the
 * one with the lower cost, `latency × (in flight + 1) ÷ weight`, where
 * `latency` is a moving average of observed latencies that jumps up to any
 * slower observation at once (peak) and decays with time (`decayMs`).
 * Report calls with `started()` and `finished(instance, { ok, latencyMs })`
 * (`call()` and `kyFor()` do); failed calls count at least
 * `failureLatencyMs`; a cancelled call (`{ cancelled: true }`) only leaves
 * the calls in flight. What is learnt is kept by instance id for the whole
 * subscription, across set changes. Weight 0 is never picked. A pick is
 * O(1), no allocation.
 *
 * @example
 * ```ts
 * const hello = live(registry.instances$('hello').pipe(healthy(), ewma()));
 * // call() reports every attempt's outcome to the balancer
 * const text = await call(hello, (i, { signal }) =>
 *   fetch(`${baseUrl(i)}/hello`, { signal }).then((r) => r.text()),
 * );
 * ```
 */
export const ewma = (options: EwmaOptions = {}): OperatorFunction<InstanceSet, Balancer> => {
  const scheduler = options.scheduler;
  const resolved: Resolved = {
    decay: durationOption('decayMs', options.decayMs, 10_000, { min: 1 }),
    initial: durationOption('initialLatencyMs', options.initialLatencyMs, 30),
    failure: durationOption('failureLatencyMs', options.failureLatencyMs, 1000),
    now: options.now ?? (scheduler === undefined ? () => performance.now() : () => scheduler.now()),
  };
  const custom = options.random;
  const policies = weightPolicies(options.weights);
  return balancerOperator<EwmaState>(
    () => ({
      stats: new Map(),
      random: randomSource(custom),
      options: resolved,
      weights: policies.length === 0 ? undefined : new Weights(policies),
    }),
    (set, state) => new EwmaPicker(set, state),
    (state) => state.weights?.stop(),
  );
};
