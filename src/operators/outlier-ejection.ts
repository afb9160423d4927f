import {
  asyncScheduler,
  type MonoTypeOperatorFunction,
  Observable,
  type SchedulerLike,
  Subject,
  type Subscription,
  timer,
} from 'rxjs';
import { ConfigError } from '../core/errors.js';
import type { Instance } from '../core/instance.js';
import { applyChanges, filterSet, type InstanceSet, stalenessOf } from '../core/instance-set.js';
import type { Outcome } from './balancers/balancer.js';

/** Options of {@link createOutlierDetector}. */
export interface OutlierDetectorOptions {
  /**
   * Eject an instance after this many failed calls in a row.
   * @default 5
   */
  readonly consecutiveFailures?: number;
  /**
   * Also eject an instance whose share of failed calls within `windowMs`
   * reaches this value (0 to 1), once it had `minimumCalls` calls in the
   * window; `undefined` turns the rate check off.
   * @default undefined
   */
  readonly failureRate?: number;
  /**
   * Calls an instance must have had in the window before `failureRate` applies.
   * @default 20
   */
  readonly minimumCalls?: number;
  /**
   * The window over which `failureRate` is measured, in ms (a tumbling window).
   * @default 10000
   */
  readonly windowMs?: number;
  /**
   * The first ejection lasts this long, in ms; each further ejection of the
   * same instance doubles it, up to `maxEjectionMs`.
   * @default 30000
   */
  readonly baseEjectionMs?: number;
  /**
   * The longest ejection, in ms. An instance that stayed in the set this
   * long since its last ejection starts again from `baseEjectionMs`.
   * @default 300000
   */
  readonly maxEjectionMs?: number;
  /**
   * The largest share of a set that may be ejected at once (0 to 1). At
   * least one instance may be ejected from a set of two or more, and never
   * the last one.
   * @default 0.5
   */
  readonly maxEjectedShare?: number;
  /**
   * Scheduler for the clock and the timers that bring instances back.
   * @default asyncScheduler
   */
  readonly scheduler?: SchedulerLike;
}

/**
 * What the detector did, on {@link OutlierDetector.events$}.
 *
 * @example
 * ```ts
 * outliers.events$.subscribe((e) => log.warn(`${e.type} ${e.instance.id}`));
 * ```
 */
export type OutlierEvent =
  | {
      readonly type: 'ejected';
      readonly instance: Instance;
      /** How long, in ms. */
      readonly durationMs: number;
      /** `consecutive-failures` or `failure-rate`. */
      readonly reason: 'consecutive-failures' | 'failure-rate';
    }
  | {
      /** An ejection was due but would exceed `maxEjectedShare`. */
      readonly type: 'refused';
      readonly instance: Instance;
      readonly ejected: number;
      readonly size: number;
    };

/**
 * Ejects instances whose calls keep failing, for a time that grows with
 * repeated ejections. Made by {@link createOutlierDetector}.
 *
 * @example
 * ```ts
 * const outliers = createOutlierDetector();
 * const hello = live(registry.instances$('hello').pipe(healthy(), outliers.operator(), ewma()));
 * await call(hello, fetchUser, { detector: outliers });
 * ```
 */
export interface OutlierDetector {
  /**
   * The set operator that leaves out ejected instances. Place it before the
   * balancer; works under every balancer. Emits a new set (with a delta, so
   * balancer state is kept) when an instance is ejected or returns.
   */
  operator(): MonoTypeOperatorFunction<InstanceSet>;
  /** Reports how a call on `instance` ended. The call helpers and `kyFor()` do it for you. */
  report(instance: Instance, outcome: Outcome): void;
  /** True while `instance` is ejected. */
  isEjected(instance: Instance): boolean;
  /** Ejections and refused ejections, as they happen (hot; no replay). */
  readonly events$: Observable<OutlierEvent>;
}

interface Health {
  consecutive: number;
  windowStart: number;
  calls: number;
  failures: number;
  /** Ejections so far (drives the growing duration). */
  ejections: number;
  /** Ejected until this time (ms); 0 when not ejected. */
  until: number;
  instance: Instance;
}

interface Resolved {
  readonly consecutive: number;
  readonly rate: number | undefined;
  readonly minimumCalls: number;
  readonly windowMs: number;
  readonly base: number;
  readonly max: number;
  readonly share: number;
  readonly scheduler: SchedulerLike;
}

const keyOf = (i: Instance): string => `${i.service}\u0000${i.id}`;

const num = (name: string, v: unknown, min: number, max: number, integer = false): number => {
  if (
    typeof v !== 'number' ||
    Number.isNaN(v) ||
    v < min ||
    v > max ||
    (integer && !Number.isInteger(v))
  ) {
    throw new ConfigError(
      name,
      `must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max} (got ${String(v)})`,
      'fix the outlier detector options',
    );
  }
  return v;
};

class Detector implements OutlierDetector {
  readonly #o: Resolved;
  readonly #health = new Map<string, Health>();
  /** Latest set size seen by an operator, per service. */
  readonly #sizes = new Map<string, number>();
  readonly #events = new Subject<OutlierEvent>();
  /** Services whose ejections changed, for the operators. */
  readonly #changed = new Subject<string>();
  readonly events$: Observable<OutlierEvent> = this.#events.asObservable();

  constructor(o: Resolved) {
    this.#o = o;
  }

  isEjected(instance: Instance): boolean {
    const h = this.#health.get(keyOf(instance));
    return h !== undefined && h.until > this.#o.scheduler.now();
  }

  report(instance: Instance, outcome: Outcome): void {
    const o = this.#o;
    const now = o.scheduler.now();
    const key = keyOf(instance);
    let h = this.#health.get(key);
    if (h === undefined) {
      h = {
        consecutive: 0,
        windowStart: now,
        calls: 0,
        failures: 0,
        ejections: 0,
        until: 0,
        instance,
      };
      this.#health.set(key, h);
    }
    h.instance = instance;
    if (now - h.windowStart >= o.windowMs) {
      h.windowStart = now;
      h.calls = 0;
      h.failures = 0;
    }
    h.calls++;
    if (outcome.ok) {
      h.consecutive = 0;
      return;
    }
    h.failures++;
    h.consecutive++;
    if (h.until > now) return; // already ejected (a call that was in flight)
    let reason: 'consecutive-failures' | 'failure-rate' | undefined;
    if (h.consecutive >= o.consecutive) reason = 'consecutive-failures';
    else if (o.rate !== undefined && h.calls >= o.minimumCalls && h.failures / h.calls >= o.rate)
      reason = 'failure-rate';
    if (reason !== undefined) this.#eject(h, now, reason);
  }

  #eject(h: Health, now: number, reason: 'consecutive-failures' | 'failure-rate'): void {
    const o = this.#o;
    const service = h.instance.service;
    let ejected = 0;
    for (const other of this.#health.values()) {
      if (other.instance.service === service && other.until > now) ejected++;
    }
    const size = this.#sizes.get(service);
    if (size !== undefined) {
      const cap = Math.min(size - 1, Math.max(1, Math.floor(o.share * size)));
      if (ejected + 1 > cap) {
        this.#events.next({ type: 'refused', instance: h.instance, ejected, size });
        return;
      }
    }
    // An instance that stayed in long enough since its last ejection starts afresh.
    if (h.until !== 0 && now - h.until >= o.max) h.ejections = 0;
    const durationMs = Math.min(o.max, o.base * 2 ** h.ejections);
    h.ejections++;
    h.until = now + durationMs;
    h.consecutive = 0;
    h.calls = 0;
    h.failures = 0;
    h.windowStart = now;
    this.#events.next({ type: 'ejected', instance: h.instance, durationMs, reason });
    this.#changed.next(service);
  }

  operator(): MonoTypeOperatorFunction<InstanceSet> {
    return (source) =>
      new Observable<InstanceSet>((subscriber) => {
        let input: InstanceSet | undefined;
        let output: InstanceSet | undefined;
        let wake: Subscription | undefined;
        const scheduler = this.#o.scheduler;

        const keep = (i: Instance): boolean => !this.isEjected(i);

        /** Brings instances back when the earliest ejection in this set ends. */
        const schedule = (set: InstanceSet): void => {
          wake?.unsubscribe();
          wake = undefined;
          const now = scheduler.now();
          let earliest = Infinity;
          for (const i of set.instances) {
            const h = this.#health.get(keyOf(i));
            if (h !== undefined && h.until > now && h.until < earliest) earliest = h.until;
          }
          if (earliest !== Infinity) {
            wake = timer(earliest - now, scheduler).subscribe(() => recompute(undefined));
          }
        };

        const emit = (next: InstanceSet): void => {
          const before = output;
          output = next;
          if (next !== before) subscriber.next(next);
        };

        /** A new input (`set`), or a change of ejections (`undefined`). */
        const recompute = (set: InstanceSet | undefined): void => {
          if (set !== undefined) {
            const previous =
              input !== undefined && output !== undefined ? { input, output } : undefined;
            input = set;
            this.#sizes.set(set.service, set.size);
            let next = filterSet(set, keep, previous);
            // Never eject a whole set (e.g. after it shrank): fall back to all of it.
            if (next.size === 0 && set.size > 0) {
              next = output === undefined ? set : replaceWith(output, set);
            }
            emit(next);
          } else if (input !== undefined && output !== undefined) {
            const upserts: Instance[] = [];
            const removals: string[] = [];
            for (const i of input.instances) {
              const inOutput = output.get(i.id) !== undefined;
              const out = !keep(i);
              if (inOutput && out) removals.push(i.id);
              else if (!inOutput && !out) upserts.push(i);
            }
            let next = applyChanges(output, upserts, removals, stalenessOf(input));
            if (next.size === 0 && input.size > 0) next = replaceWith(output, input);
            emit(next);
          }
          if (input !== undefined) schedule(input);
        };

        const changes = this.#changed.subscribe((service) => {
          if (input !== undefined && input.service === service) recompute(undefined);
        });
        const upstream = source.subscribe({
          next: (set) => recompute(set),
          error: (e: unknown) => subscriber.error(e),
          complete: () => subscriber.complete(),
        });
        return () => {
          upstream.unsubscribe();
          changes.unsubscribe();
          wake?.unsubscribe();
        };
      });
  }
}

/** `previous` turned into exactly the members of `set`, keeping the delta chain. */
const replaceWith = (previous: InstanceSet, set: InstanceSet): InstanceSet => {
  const removals: string[] = [];
  for (const i of previous.instances) if (set.get(i.id) === undefined) removals.push(i.id);
  return applyChanges(previous, set.instances, removals, stalenessOf(set));
};

/**
 * Outlier ejection: an object that learns from call outcomes
 * ({@link OutlierDetector.report}) and a set operator
 * ({@link OutlierDetector.operator}) that leaves out the instances it
 * ejected. An instance is ejected after `consecutiveFailures` failed calls
 * in a row (or, with `failureRate`, when its failure share in a window
 * reaches it), for `baseEjectionMs`, doubled at each further ejection up to
 * `maxEjectionMs`; it comes back by itself when that time is over. No more
 * than `maxEjectedShare` of a set is ejected at once, and never all of it.
 * The operator sits before any balancer, so it works with all of them, and
 * emits sets with a delta so that balancer state (in-flight counts,
 * latencies, rotation) is kept. Timers run only while the operator is
 * subscribed, on `scheduler` (a TestScheduler drives them in tests).
 *
 * @example
 * ```ts
 * const outliers = createOutlierDetector({ consecutiveFailures: 3, baseEjectionMs: 10_000 });
 * const hello = live(registry.instances$('hello').pipe(healthy(), outliers.operator(), leastRequest()));
 * const user = await call(hello, (i, { signal }) => getUser(i, signal), { detector: outliers });
 * ```
 */
export const createOutlierDetector = (options: OutlierDetectorOptions = {}): OutlierDetector =>
  new Detector({
    consecutive: num('consecutiveFailures', options.consecutiveFailures ?? 5, 1, 1e9, true),
    rate:
      options.failureRate === undefined ? undefined : num('failureRate', options.failureRate, 0, 1),
    minimumCalls: num('minimumCalls', options.minimumCalls ?? 20, 1, 1e9, true),
    windowMs: num('windowMs', options.windowMs ?? 10_000, 1, 1e9),
    base: num('baseEjectionMs', options.baseEjectionMs ?? 30_000, 1, 1e9),
    max: num('maxEjectionMs', options.maxEjectionMs ?? 300_000, 1, 1e10),
    share: num('maxEjectedShare', options.maxEjectedShare ?? 0.5, 0, 1),
    scheduler: options.scheduler ?? asyncScheduler,
  });
