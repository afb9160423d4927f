import {
  asyncScheduler,
  type MonoTypeOperatorFunction,
  type SchedulerLike,
  type Subscription,
  timer,
} from 'rxjs';
import type { Instance } from '../core/instance.js';
import { applyChanges, type InstanceSet, stalenessOf } from '../core/instance-set.js';
import { durationOption } from '../core/options.js';
import { operate } from './operate.js';

/** Options of {@link holdRemovals}. */
export interface HoldRemovalsOptions {
  /**
   * How long a removed instance stays in the output, in ms. If it comes
   * back within that time, the removal never shows.
   * @default 5000
   */
  readonly probationMs?: number;
  /**
   * Scheduler for the probation timers (a TestScheduler in tests).
   * @default asyncScheduler
   */
  readonly scheduler?: SchedulerLike;
}

/**
 * Flap damping: holds each removal for a probation period before passing
 * it on, so that an instance that disappears and comes back (a lease that
 * was renewed late, a flapping health check) does not churn connection
 * pools and balancer state. Additions and updates pass at once (and cancel a
 * pending removal); staleness follows the input. Works with any backend.
 * Status changes are updates, not removals: an instance going `DOWN` shows
 * at once (put `healthy()` after this operator to drop it).
 *
 * @example
 * ```ts
 * registry.instances$('hello').pipe(holdRemovals({ probationMs: 10_000 }), healthy(), roundRobin());
 * ```
 */
export const holdRemovals = (
  options: HoldRemovalsOptions = {},
): MonoTypeOperatorFunction<InstanceSet> => {
  const probation = durationOption('probationMs', options.probationMs, 5000, {
    fix: 'use e.g. 5000',
  });
  const scheduler = options.scheduler ?? asyncScheduler;
  return operate((out) => {
    let input: InstanceSet | undefined;
    /** Pending removals: id → timer. */
    const held = new Map<string, Subscription>();

    const release = out.guard((id: string): void => {
      held.delete(id);
      const output = out.last;
      if (output === undefined || input === undefined || input.get(id) !== undefined) return;
      out.emit(applyChanges(output, [], [id], stalenessOf(input)));
    });

    return {
      next: (set) => {
        const previous = input;
        const output = out.last;
        input = set;
        if (output === undefined || previous === undefined) {
          out.emit(set);
          return;
        }
        const upserts: Instance[] = [];
        for (const i of set.instances) {
          const pending = held.get(i.id);
          if (pending !== undefined) {
            pending.unsubscribe();
            held.delete(i.id);
          }
          upserts.push(i);
        }
        const removals: string[] = [];
        for (const old of output.instances) {
          if (set.get(old.id) !== undefined || held.has(old.id)) continue;
          const id = old.id;
          if (probation === 0) removals.push(id);
          else
            held.set(
              id,
              timer(probation, scheduler).subscribe(() => release(id)),
            );
        }
        out.emit(applyChanges(output, upserts, removals, stalenessOf(set)));
      },
      teardown: () => {
        for (const t of held.values()) t.unsubscribe();
        held.clear();
      },
    };
  });
};
