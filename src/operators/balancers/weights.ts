import { ConfigError } from '../../core/errors.js';
import type { Instance } from '../../core/instance.js';
import type { InstanceSet } from '../../core/instance-set.js';
import type { Outcome } from './balancer.js';
import type { RandomSource } from './fast-random.js';

/**
 * The weights of one balancer subscription, as a {@link WeightPolicy} keeps
 * them: told of every set and call outcome, asked to rewrite the weights
 * when the balancer refreshes them.
 *
 * @example
 * ```ts
 * const halve: WeightRun = {
 *   update() {},
 *   apply(_list, weights) { for (let k = 0; k < weights.length; k++) weights[k]! /= 2; },
 *   stop() {},
 * };
 * ```
 */
export interface WeightRun {
  /** A new set reached the balancer (note the new instances, forget the ones that left). */
  update(set: InstanceSet): void;
  /**
   * Rewrites in place `weights[k]`, the weight of `list[k]` so far (the
   * instance's own `weight`, then what the policies before this one made of
   * it). A weight that is not a finite number >= 0 counts as 0.
   */
  apply(list: readonly Instance[], weights: Float64Array): void;
  /** A call on `instance` ended (a report of its load may ride on the outcome). */
  finished?(instance: Instance, outcome: Outcome): void;
  /** The balancer's subscription ended: release timers. */
  stop(): void;
}

/**
 * A recipe for effective weights that a weighted balancer reads instead of
 * the instances' own `weight` (`slowStart()`, `loadReported()`): each
 * balancer subscription starts its own run. The run calls `changed()` when
 * the weights should be read again (a timer, a report); the balancer then
 * refreshes them on its next pick, without allocating.
 *
 * @example
 * ```ts
 * registry.instances$('hello').pipe(healthy(), weightedRoundRobin({ weights: slowStart() }));
 * ```
 */
export interface WeightPolicy {
  /** Begins the weights of one balancer subscription. */
  start(changed: () => void): WeightRun;
}

/** The `weights` option of the weighted balancers: one policy or several, applied in order. */
export type WeightsOption = WeightPolicy | readonly WeightPolicy[];

/**
 * The effective weights of one balancer subscription (internal): the runs of
 * its policies, and a generation number that moves whenever the weights
 * must be read again, so that a picker refreshes them when it moved.
 */
export class Weights {
  /** Moves when the weights changed; pickers compare it with the one they read. */
  generation = 0;
  readonly #runs: readonly WeightRun[];

  constructor(policies: readonly WeightPolicy[]) {
    const bump = (): void => {
      this.generation++;
    };
    this.#runs = policies.map((p) => p.start(bump));
  }

  update(set: InstanceSet): void {
    for (const r of this.#runs) r.update(set);
    this.generation++;
  }

  /** Writes the effective weight of `list[k]` into `out[k]`; returns their sum. */
  fill(list: readonly Instance[], out: Float64Array): number {
    const n = list.length;
    for (let k = 0; k < n; k++) out[k] = list[k]!.weight;
    for (const r of this.#runs) r.apply(list, out);
    let total = 0;
    for (let k = 0; k < n; k++) {
      const w = out[k]!;
      if (w >= 0 && w < Infinity) total += w;
      else out[k] = 0;
    }
    return total;
  }

  finished(instance: Instance, outcome: Outcome): void {
    for (const r of this.#runs) r.finished?.(instance, outcome);
  }

  stop(): void {
    for (const r of this.#runs) r.stop();
  }
}

/**
 * The policies of a `weights` option, checked when the balancer is made (internal).
 *
 * @throws {ConfigError} when an entry is not a weight policy.
 */
export const weightPolicies = (value: WeightsOption | undefined): readonly WeightPolicy[] => {
  if (value === undefined) return [];
  const list: readonly unknown[] = Array.isArray(value) ? value : [value];
  for (const p of list) {
    if (typeof (p as WeightPolicy | null)?.start !== 'function') {
      throw new ConfigError(
        'weights',
        `must be a weight policy or an array of them (got ${p === null ? 'null' : typeof p})`,
        'pass slowStart(), loadReported() or an array of them',
      );
    }
  }
  return list as readonly WeightPolicy[];
};

/**
 * Index of the entry of `ends` (prefix sums of weights, `ends[n-1]` the
 * total) where `target` in [0, total) falls: a weighted draw in O(log n).
 */
export const drawIndex = (ends: Float64Array, n: number, target: number): number => {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ends[mid]! > target) hi = mid;
    else lo = mid + 1;
  }
  return lo;
};

/**
 * The two candidates of a weighted power-of-two-choices pick (internal):
 * both drawn in proportion to their weight (`ends` holds the prefix sums,
 * `total` their sum > 0), the second different from the first when another
 * instance has weight (a few draws, then the first weighted one after it).
 * Written into `out` so that a pick allocates nothing.
 */
export const weightedTwoChoices = (
  random: RandomSource,
  ends: Float64Array,
  n: number,
  total: number,
  out: Int32Array,
): void => {
  const a = drawIndex(ends, n, random.next() * total);
  out[0] = a;
  for (let tries = 0; tries < 4; tries++) {
    const b = drawIndex(ends, n, random.next() * total);
    if (b !== a) {
      out[1] = b;
      return;
    }
  }
  for (let k = 1; k < n; k++) {
    const b = (a + k) % n;
    if (ends[b]! > (b === 0 ? 0 : ends[b - 1]!)) {
      out[1] = b;
      return;
    }
  }
  out[1] = a;
};
