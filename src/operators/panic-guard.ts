import {
  asyncScheduler,
  type MonoTypeOperatorFunction,
  type SchedulerLike,
  type Subscription,
  timer,
} from 'rxjs';
import { type InstanceSet, restale, stalenessOf } from '../core/instance-set.js';
import { instruments, serviceAttributes } from '../core/metrics.js';
import { durationOption, numberOption, ratioOption } from '../core/options.js';
import { operate } from './operate.js';

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
   * The largest ratio (0 to 1) of the current set that one update may drop.
   * An update dropping more is refused and the current set kept.
   * @default 0.5
   */
  readonly maxDropRatio?: number;
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
   * Called for every refused update. If it throws, the stream errors with
   * the thrown error.
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
 * Panic guard: refuses an update that drops more than `maxDropRatio` of the
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
 *   panicGuard({ maxDropRatio: 0.3, onRefused: (r) => log.warn(r.reason) }),
 *   healthy(),
 *   roundRobin(),
 * );
 * ```
 */
export const panicGuard = (
  options: PanicGuardOptions = {},
): MonoTypeOperatorFunction<InstanceSet> => {
  const ratio = ratioOption('maxDropRatio', options.maxDropRatio, 0.5, { fix: 'use e.g. 0.5' });
  const minSize = numberOption('minSize', options.minSize, 3, {
    integer: true,
    min: 0,
    fix: 'use e.g. 3',
  });
  const holdMs = durationOption('holdMs', options.holdMs, 60_000, {
    infinite: true,
    fix: 'use e.g. 60000, or Infinity to wait for the source',
  });
  const onRefused = options.onRefused ?? warn;
  const scheduler = options.scheduler ?? asyncScheduler;
  return operate((out) => {
    let latest: InstanceSet | undefined;
    let hold: Subscription | undefined;

    const accept = (set: InstanceSet): void => {
      hold?.unsubscribe();
      hold = undefined;
      out.emit(set);
    };

    return {
      next: (set) => {
        latest = set;
        const kept = out.last;
        if (kept === undefined || kept.size < minSize) {
          accept(set);
          return;
        }
        let dropped = 0;
        for (const i of kept.instances) if (set.get(i.id) === undefined) dropped++;
        if (dropped <= ratio * kept.size) {
          accept(set);
          return;
        }
        instruments()?.panicRefusals.add(1, serviceAttributes(set.registry, set.service));
        onRefused({
          kept,
          proposed: set,
          dropped,
          reason: `service '${set.service}': refused an update from ${set.registry} that drops ${dropped} of ${kept.size} instances (more than ${Math.round(ratio * 100)}% at once); keeping the previous set${holdMs === Infinity ? '' : ` for up to ${holdMs} ms`}`,
        });
        if (set.stale !== kept.stale) out.emit(restale(kept, stalenessOf(set)));
        if (hold === undefined && holdMs !== Infinity) {
          hold = timer(holdMs, scheduler).subscribe(
            out.guard(() => {
              hold = undefined;
              if (latest !== undefined) accept(latest);
            }),
          );
        }
      },
      teardown: () => hold?.unsubscribe(),
    };
  });
};
