import type { OperatorFunction } from 'rxjs';
import { type Instance, sameInstance } from '../core/instance.js';
import { compareIds, type InstanceSet, type InstanceUpdate } from '../core/instance-set.js';
import { operate } from './operate.js';

/**
 * What changed between two sets of a stream.
 *
 * @example
 * ```ts
 * set$.pipe(diff()).subscribe(({ added, removed }) => {
 *   for (const i of added) pool.open(i);
 *   for (const i of removed) pool.close(i.id);
 * });
 * ```
 */
export interface SetDiff {
  /** The set these changes lead to. */
  readonly set: InstanceSet;
  /** Instances that were not in the previous set (every instance the first time). */
  readonly added: readonly Instance[];
  /** Instances of the previous set that are gone. */
  readonly removed: readonly Instance[];
  /** Instances whose fields changed (same id). */
  readonly updated: readonly InstanceUpdate[];
}

const NONE: readonly never[] = Object.freeze([]);

/** Full compare of two sorted sets: a merge walk in O(n + m). */
const compare = (
  previous: InstanceSet,
  set: InstanceSet,
): Pick<SetDiff, 'added' | 'removed' | 'updated'> => {
  const a = previous.instances;
  const b = set.instances;
  const added: Instance[] = [];
  const removed: Instance[] = [];
  const updated: InstanceUpdate[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    const order = compareIds(x.id, y.id);
    if (order < 0) {
      removed.push(x);
      i++;
    } else if (order > 0) {
      added.push(y);
      j++;
    } else {
      if (!sameInstance(x, y)) updated.push({ previous: x, current: y });
      i++;
      j++;
    }
  }
  while (i < a.length) removed.push(a[i++]!);
  while (j < b.length) added.push(b[j++]!);
  return { added, removed, updated };
};

/**
 * Turns a set stream into change events: the first emission lists every
 * instance as added (and is emitted even for an empty set); afterwards one
 * emission per set that adds, removes or updates instances. A change of
 * staleness alone emits nothing.
 *
 * When a set's `delta` starts from the set seen just before (`delta.from`
 * is its `version`), the delta is used as is: O(changes), however large the
 * set. Otherwise (a set built from scratch, or sets skipped upstream) the
 * two sets are compared in full, in O(n).
 *
 * @example
 * ```ts
 * registry.instances$('hello').pipe(diff()).subscribe((d) => {
 *   console.log(`+${d.added.length} -${d.removed.length} ~${d.updated.length}`);
 * });
 * ```
 */
export const diff = (): OperatorFunction<InstanceSet, SetDiff> =>
  operate((out) => {
    let previous: InstanceSet | undefined;
    return {
      next: (set) => {
        const before = previous;
        previous = set;
        if (before === undefined) {
          out.emit(Object.freeze({ set, added: set.instances, removed: NONE, updated: NONE }));
          return;
        }
        if (set === before) return;
        const delta = set.delta;
        const change =
          delta !== undefined && delta.from === before.version ? delta : compare(before, set);
        if (change.added.length + change.removed.length + change.updated.length === 0) return;
        out.emit(
          Object.freeze({
            set,
            added: change.added,
            removed: change.removed,
            updated: change.updated,
          }),
        );
      },
    };
  });
