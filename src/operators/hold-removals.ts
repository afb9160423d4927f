import {
  asyncScheduler,
  type MonoTypeOperatorFunction,
  Observable,
  type SchedulerLike,
  type Subscription,
  timer,
} from 'rxjs';
import { ConfigError } from '../core/errors.js';
import type { Instance } from '../core/instance.js';
import { applyChanges, type InstanceSet, stalenessOf } from '../core/instance-set.js';

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
  const probation = options.probationMs ?? 5000;
  if (typeof probation !== 'number' || !(probation >= 0) || !Number.isFinite(probation)) {
    throw new ConfigError(
      'probationMs',
      `must be a finite number of ms >= 0 (got ${String(probation)})`,
      'use e.g. 5000',
    );
  }
  const scheduler = options.scheduler ?? asyncScheduler;
  return (source) =>
    new Observable<InstanceSet>((subscriber) => {
      let input: InstanceSet | undefined;
      let output: InstanceSet | undefined;
      /** Pending removals: id → timer. */
      const held = new Map<string, Subscription>();

      const emit = (next: InstanceSet): void => {
        if (next === output) return;
        output = next;
        subscriber.next(next);
      };

      const release = (id: string): void => {
        held.delete(id);
        if (output === undefined || input === undefined || input.get(id) !== undefined) return;
        emit(applyChanges(output, [], [id], stalenessOf(input)));
      };

      const upstream = source.subscribe({
        next: (set) => {
          const previous = input;
          input = set;
          if (output === undefined || previous === undefined) {
            emit(set);
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
          for (const old of output.instances) {
            if (set.get(old.id) === undefined && !held.has(old.id)) {
              const id = old.id;
              if (probation === 0) continue;
              held.set(
                id,
                timer(probation, scheduler).subscribe(() => release(id)),
              );
            }
          }
          const removals: string[] = [];
          if (probation === 0) {
            for (const old of output.instances)
              if (set.get(old.id) === undefined) removals.push(old.id);
          }
          emit(applyChanges(output, upserts, removals, stalenessOf(set)));
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => subscriber.complete(),
      });
      return () => {
        upstream.unsubscribe();
        for (const t of held.values()) t.unsubscribe();
        held.clear();
      };
    });
};
