import type { OperatorFunction } from 'rxjs';
import type { Instance } from '../../core/instance.js';
import type { InstanceSet } from '../../core/instance-set.js';
import { type BalancerExplanation, candidateOf } from '../explain.js';
import { type Balancer, balancerOperator, indexAfter } from './balancer.js';

/** Options of {@link roundRobin}. */
export interface RoundRobinOptions {
  /**
   * Where a new subscription starts: at a random instance, so that a fleet
   * of clients starting together does not send its first calls to the same
   * instance; or at the lowest id (deterministic, for tests).
   * @default 'random'
   */
  readonly start?: 'random' | 'first';
  /**
   * Source of randomness in [0, 1) for the random start.
   * @default Math.random
   */
  readonly random?: () => number;
}

interface RoundRobinState {
  latest: RoundRobinPicker | undefined;
  readonly start: 'random' | 'first';
  readonly random: () => number;
}

class RoundRobinPicker implements Balancer {
  readonly set: InstanceSet;
  readonly #list: readonly Instance[];
  #next: number;
  #last: Instance | undefined;

  constructor(set: InstanceSet, last: Instance | undefined, firstIndex: number) {
    this.set = set;
    this.#list = set.instances;
    this.#last = last;
    this.#next = last === undefined ? firstIndex : indexAfter(this.#list, last.id);
    Object.freeze(this);
  }

  get size(): number {
    return this.#list.length;
  }

  /** The instance picked last, by this picker or the ones before it. */
  get last(): Instance | undefined {
    return this.#last;
  }

  pick(): Instance | undefined {
    const list = this.#list;
    let i = this.#next;
    if (i >= list.length) {
      if (list.length === 0) return undefined;
      i = 0;
    }
    const instance = list[i]!;
    this.#next = i + 1;
    this.#last = instance;
    return instance;
  }

  explain(): BalancerExplanation {
    const list = this.#list;
    const next = list[this.#next >= list.length ? 0 : this.#next];
    return {
      kind: 'roundRobin',
      rule: 'every instance in turn, in id order (weights ignored)',
      candidates: list.map((i) => candidateOf(i, i.weight)),
      ...(next === undefined ? {} : { detail: { next: next.id } }),
    };
  }

  started(): void {}

  finished(): void {}
}

/**
 * Round robin over every instance of the set, in id order, ignoring weights
 * (use {@link weightedRoundRobin} or {@link random} for those). The rotation
 * survives set changes: after an update it goes on with the first instance
 * whose id follows the last one picked, so no instance is skipped or picked
 * twice in a row because of the update. A new subscription starts at a
 * random instance (see {@link RoundRobinOptions.start}).
 *
 * @example
 * ```ts
 * const hello = live(registry.instances$('hello').pipe(healthy(), roundRobin()));
 * hello.pick();
 * ```
 */
export const roundRobin = (
  options: RoundRobinOptions = {},
): OperatorFunction<InstanceSet, Balancer> =>
  balancerOperator<RoundRobinState>(
    () => ({
      latest: undefined,
      start: options.start ?? 'random',
      random: options.random ?? Math.random,
    }),
    (set, state) => {
      const last = state.latest?.last;
      const first =
        last === undefined && state.start === 'random' && set.size > 0
          ? Math.min(set.size - 1, Math.floor(state.random() * set.size))
          : 0;
      const picker = new RoundRobinPicker(set, last, first);
      state.latest = picker;
      return picker;
    },
  );
