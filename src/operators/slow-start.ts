import { asyncScheduler, type SchedulerLike, type Subscription, timer } from 'rxjs';
import type { Instance } from '../core/instance.js';
import type { InstanceSet } from '../core/instance-set.js';
import { durationOption, numberOption, ratioOption } from '../core/options.js';
import type { WeightPolicy, WeightRun } from './balancers/weights.js';

/**
 * The metadata key read as an instance's registration time (epoch
 * milliseconds, or an ISO 8601 date), when the registry gives one.
 */
export const REGISTERED_AT_METADATA = 'registered-at';

/** Options of {@link slowStart}. */
export interface SlowStartOptions {
  /**
   * How long a new instance's weight ramps up, in ms.
   * @default 30000
   */
  readonly windowMs?: number;
  /**
   * The curve's shape: 1 is linear; above 1 the weight rises faster at
   * first, below 1 slower (`(t / window) ^ (1 / aggression)`).
   * @default 1
   */
  readonly aggression?: number;
  /**
   * The least share of its weight a new instance gets (0 to 1), even at
   * the very start of its window.
   * @default 0.1
   */
  readonly minWeightRatio?: number;
  /**
   * How often the weights are recomputed while an instance ramps, in ms.
   * @default windowMs / 100, at most 1000
   */
  readonly refreshMs?: number;
  /**
   * When the registry registered an instance (epoch ms), if it says:
   * an instance registered less than `windowMs` ago ramps from then, even
   * in the first set seen. `undefined`: the time it first appeared.
   * @default the `registered-at` metadata (epoch ms or ISO 8601), if any
   */
  readonly registeredAt?: (instance: Instance) => number | undefined;
  /**
   * The clock (`now()`, epoch ms) and the scheduler of the refresh timer.
   * @default asyncScheduler
   */
  readonly scheduler?: SchedulerLike;
}

/** `registered-at` metadata as epoch ms: digits, or a date `Date.parse` reads. */
const registeredAtMetadata = (instance: Instance): number | undefined => {
  const text = instance.metadata[REGISTERED_AT_METADATA];
  if (text === undefined) return undefined;
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
};

/** Since when an instance ramps (`-Infinity`: it does not), and whether it was UP. */
interface Ramp {
  since: number;
  up: boolean;
}

interface Resolved {
  readonly windowMs: number;
  readonly exponent: number;
  readonly minRatio: number;
  readonly refreshMs: number;
  readonly registeredAt: (instance: Instance) => number | undefined;
  readonly scheduler: SchedulerLike;
}

/**
 * The ramp factor at `elapsed` ms into the window, as Envoy computes it:
 * `max(minRatio, (max(elapsed, 1) / window) ^ exponent)`; 1 once the window
 * is over.
 *
 * @example
 * ```ts
 * slowStartFactor(15_000, 30_000, 1, 0.1); // 0.5
 * ```
 */
export const slowStartFactor = (
  elapsed: number,
  windowMs: number,
  exponent: number,
  minRatio: number,
): number => {
  if (!(elapsed < windowMs)) return 1;
  const t = Math.max(elapsed, 1) / windowMs;
  return Math.max(minRatio, exponent === 1 ? t : t ** exponent);
};

class SlowStartRun implements WeightRun {
  readonly #o: Resolved;
  readonly #changed: () => void;
  readonly #ramps = new Map<string, Ramp>();
  #first = true;
  #timer: Subscription | undefined;

  constructor(o: Resolved, changed: () => void) {
    this.#o = o;
    this.#changed = changed;
  }

  update(set: InstanceSet): void {
    const o = this.#o;
    const now = o.scheduler.now();
    const ramps = this.#ramps;
    for (const id of ramps.keys()) if (set.get(id) === undefined) ramps.delete(id);
    let ramping = false;
    for (const i of set.instances) {
      const up = i.status === 'UP';
      let r = ramps.get(i.id);
      if (r === undefined) {
        const registered = o.registeredAt(i);
        // Known from the first set on and no registration time: not new.
        const since = registered ?? (this.#first ? -Infinity : now);
        r = { since, up };
        ramps.set(i.id, r);
      } else if (up && !r.up) {
        r.since = now; // back to UP: it ramps again (Envoy does too)
      }
      r.up = up;
      if (now - r.since < o.windowMs) ramping = true;
    }
    this.#first = false;
    if (ramping) this.#arm();
  }

  apply(list: readonly Instance[], weights: Float64Array): void {
    const o = this.#o;
    const now = o.scheduler.now();
    for (let k = 0; k < list.length; k++) {
      const r = this.#ramps.get(list[k]!.id);
      if (r === undefined) continue;
      const elapsed = now - r.since;
      if (elapsed < o.windowMs) {
        weights[k] = weights[k]! * slowStartFactor(elapsed, o.windowMs, o.exponent, o.minRatio);
      }
    }
  }

  stop(): void {
    this.#timer?.unsubscribe();
    this.#timer = undefined;
  }

  /** Ticks every `refreshMs` while an instance ramps; the tick after the last ramp ends stops it. */
  #arm(): void {
    if (this.#timer !== undefined) return;
    const o = this.#o;
    this.#timer = timer(o.refreshMs, o.refreshMs, o.scheduler).subscribe(() => {
      this.#changed();
      const now = o.scheduler.now();
      for (const r of this.#ramps.values()) if (now - r.since < o.windowMs) return;
      this.stop();
    });
  }
}

/**
 * Slow start, as Envoy does it: an instance new to the set gets a share of
 * its weight that ramps over `windowMs`, `max(minWeightRatio, (t / window)
 * ^ (1 / aggression))`, so that a cold instance (empty caches, a JIT not
 * warmed up) is not given its full share at once. An instance is new when
 * it appears in a later set than the first, or when it comes back to `UP`;
 * when the registry gives its registration time (the `registered-at`
 * metadata, or `registeredAt`) it ramps from then, even in the first set.
 *
 * A weight policy: pass it as the `weights` of `weightedRoundRobin()`,
 * `random()`, `leastRequest()` or `ewma()`. Each balancer subscription
 * keeps its own ramps, by instance id, pruned with every set, and
 * recomputes the weights every `refreshMs` while an instance ramps (an RxJS
 * timer on `scheduler`, stopped when no instance ramps and when the
 * subscription ends).
 *
 * @throws {ConfigError} when an option is out of range.
 * @example
 * ```ts
 * const hello = live(
 *   registry.instances$('hello').pipe(
 *     healthy(),
 *     weightedRoundRobin({ weights: slowStart({ windowMs: 60_000, aggression: 2 }) }),
 *   ),
 * );
 * ```
 */
export const slowStart = (options: SlowStartOptions = {}): WeightPolicy => {
  const windowMs = durationOption('windowMs', options.windowMs, 30_000, {
    above: 0,
    fix: 'use e.g. 30000 (30 s)',
  });
  const aggression = numberOption('aggression', options.aggression, 1, {
    above: 0,
    fix: 'use 1 for a linear ramp, more to rise faster at first',
  });
  const resolved: Resolved = {
    windowMs,
    exponent: 1 / aggression,
    minRatio: ratioOption('minWeightRatio', options.minWeightRatio, 0.1, { fix: 'use e.g. 0.1' }),
    refreshMs: durationOption('refreshMs', options.refreshMs, Math.min(1000, windowMs / 100), {
      above: 0,
      fix: 'use e.g. 1000',
    }),
    registeredAt: options.registeredAt ?? registeredAtMetadata,
    scheduler: options.scheduler ?? asyncScheduler,
  };
  return { start: (changed) => new SlowStartRun(resolved, changed) };
};
