import {
  asyncScheduler,
  type MonoTypeOperatorFunction,
  Observable,
  type SchedulerLike,
  type Subscription,
  timer,
} from 'rxjs';
import { ConfigError } from '../core/errors.js';
import { type InstanceSet, restale, stalenessOf } from '../core/instance-set.js';

/**
 * Why {@link panicGuard} refused an update.
 *
 * @example
 * ```ts
 * panicGuard({ onRefused: (r) => log.warn(r.reason, { dropped: r.dropped }) });
 * ```
 */
export interface PanicRefusal {
  /** The set kept (the last one accepted). */
  readonly kept: InstanceSet;
  /** The update refused. */
  readonly proposed: InstanceSet;
  /** How many of the kept instances the update would drop. */
  readonly dropped: number;
  /** A sentence for logs. */
  readonly reason: string;
}

/** Options of {@link panicGuard}. */
export interface PanicGuardOptions {
  /**
   * The largest share (0 to 1) of the current set that one update may drop.
   * An update dropping more is refused and the current set kept.
   * @default 0.5
   */
  readonly maxDropShare?: number;
  /**
   * Sets smaller than this are not guarded (dropping 1 of 2 is 50%).
   * @default 3
   */
  readonly minSize?: number;
  /**
   * How long a refused update is held, in ms: if the source still says so
   * after this time, it is accepted (the drop was real). `Infinity` holds
   * until the source comes back within the share.
   * @default 60000
   */
  readonly holdMs?: number;
  /**
   * Called for every refused update.
   * @default a process warning
   */
  readonly onRefused?: (refusal: PanicRefusal) => void;
  /**
   * Scheduler for `holdMs`.
   * @default asyncScheduler
   */
  readonly scheduler?: SchedulerLike;
}

const warn = (r: PanicRefusal): void => {
  process.emitWarning(r.reason, { code: 'RxdiscoPanicGuard' });
};

/**
 * Panic guard: refuses an update that drops more than `maxDropShare` of the
 * current set at once (a registry that lost its data, a bad deploy of the
 * registry, a network partition seen as mass deregistration), keeps the
 * previous set and reports why to `onRefused`. The update is accepted when a
 * later update comes back within the share, or when the source still says
 * so after `holdMs`. While an update is refused, the kept set follows the
 * source's staleness (it turns stale when the source does). Works
 * with any backend.
 *
 * @example
 * ```ts
 * registry.instances$('hello').pipe(
 *   panicGuard({ maxDropShare: 0.3, onRefused: (r) => log.warn(r.reason) }),
 *   healthy(),
 *   roundRobin(),
 * );
 * ```
 */
export const panicGuard = (
  options: PanicGuardOptions = {},
): MonoTypeOperatorFunction<InstanceSet> => {
  const share = options.maxDropShare ?? 0.5;
  if (typeof share !== 'number' || !(share >= 0 && share <= 1)) {
    throw new ConfigError(
      'maxDropShare',
      `must be a number from 0 to 1 (got ${String(share)})`,
      'use e.g. 0.5',
    );
  }
  const minSize = options.minSize ?? 3;
  const holdMs = options.holdMs ?? 60_000;
  if (typeof holdMs !== 'number' || !(holdMs >= 0)) {
    throw new ConfigError(
      'holdMs',
      `must be a number of ms >= 0 (got ${String(holdMs)})`,
      'or Infinity',
    );
  }
  const onRefused = options.onRefused ?? warn;
  const scheduler = options.scheduler ?? asyncScheduler;
  return (source) =>
    new Observable<InstanceSet>((subscriber) => {
      let accepted: InstanceSet | undefined;
      let latest: InstanceSet | undefined;
      let hold: Subscription | undefined;

      const accept = (set: InstanceSet): void => {
        hold?.unsubscribe();
        hold = undefined;
        if (set === accepted) return;
        accepted = set;
        subscriber.next(set);
      };

      const upstream = source.subscribe({
        next: (set) => {
          latest = set;
          const kept = accepted;
          if (kept === undefined || kept.size < minSize) {
            accept(set);
            return;
          }
          let dropped = 0;
          for (const i of kept.instances) if (set.get(i.id) === undefined) dropped++;
          if (dropped <= share * kept.size) {
            accept(set);
            return;
          }
          onRefused({
            kept,
            proposed: set,
            dropped,
            reason: `service '${set.service}': refused an update from ${set.registry} that drops ${dropped} of ${kept.size} instances (more than ${Math.round(share * 100)}% at once); keeping the previous set${holdMs === Infinity ? '' : ` for up to ${holdMs} ms`}`,
          });
          if (set.stale !== kept.stale) accept(restale(kept, stalenessOf(set)));
          if (hold === undefined && holdMs !== Infinity) {
            hold = timer(holdMs, scheduler).subscribe(() => {
              hold = undefined;
              if (latest !== undefined) accept(latest);
            });
          }
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => subscriber.complete(),
      });
      return () => {
        upstream.unsubscribe();
        hold?.unsubscribe();
      };
    });
};
