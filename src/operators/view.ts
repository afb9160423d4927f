import type { MonoTypeOperatorFunction } from 'rxjs';
import type { Instance } from '../core/instance.js';
import { filterSet, type InstanceSet } from '../core/instance-set.js';
import { operate } from './operate.js';

/**
 * The shared body of the filter operators (internal): a view of each set
 * keeping the instances that satisfy `keep`, calling `keep` only on the
 * instances that changed (then copying the sorted array once) through
 * {@link filterSet} when the input carries a delta from the previous input.
 * The view keeps the staleness of its input, and nothing is emitted when an
 * input change leaves the view unchanged in effect (`filterSet` then returns
 * the previous view object).
 *
 * @example
 * ```ts
 * const secure = (): MonoTypeOperatorFunction<InstanceSet> => view((i) => i.secure);
 * ```
 */
export const view = (
  keep: (instance: Instance) => boolean,
): MonoTypeOperatorFunction<InstanceSet> =>
  operate((out) => {
    let previous: { input: InstanceSet; output: InstanceSet } | undefined;
    return {
      next: (set) => {
        const output = filterSet(set, keep, previous);
        previous = { input: set, output };
        out.emit(output);
      },
    };
  });
