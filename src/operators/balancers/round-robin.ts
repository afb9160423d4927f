import type { OperatorFunction } from 'rxjs';
import type { Instance } from '../../core/instance.js';
import type { InstanceSet } from '../../core/instance-set.js';
import { type Balancer, balancerOperator, indexAfter } from './balancer.js';

interface RoundRobinState {
  latest: RoundRobinPicker | undefined;
}

class RoundRobinPicker implements Balancer {
  readonly set: InstanceSet;
  readonly #list: readonly Instance[];
  #next: number;
  #last: Instance | undefined;

  constructor(set: InstanceSet, last: Instance | undefined) {
    this.set = set;
    this.#list = set.instances;
    this.#last = last;
    this.#next = last === undefined ? 0 : indexAfter(this.#list, last.id);
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

  started(): void {}

  finished(): void {}
}

/**
 * Round robin over every instance of the set, in id order, ignoring weights
 * (use {@link weightedRoundRobin} or {@link random} for those). The rotation
 * survives set changes: after an update it goes on with the first instance
 * whose id follows the last one picked, so no instance is skipped or picked
 * twice in a row because of the update.
 *
 * @example
 * ```ts
 * const hello = live(registry.instances$('hello').pipe(healthy(), roundRobin()));
 * hello.pick();
 * ```
 */
export const roundRobin = (): OperatorFunction<InstanceSet, Balancer> =>
  balancerOperator<RoundRobinState>(
    () => ({ latest: undefined }),
    (set, state) => {
      const picker = new RoundRobinPicker(set, state.latest?.last);
      state.latest = picker;
      return picker;
    },
  );
