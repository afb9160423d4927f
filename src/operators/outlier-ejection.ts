import {
  asyncScheduler,
  type MonoTypeOperatorFunction,
  type Observable,
  type SchedulerLike,
  Subject,
  type Subscription,
  timer,
} from 'rxjs';
import type { Instance } from '../core/instance.js';
import { applyChanges, filterSet, type InstanceSet, stalenessOf } from '../core/instance-set.js';
import { attributesOf, instruments, withAttribute } from '../core/metrics.js';
import { durationOption, numberOption, ratioOption } from '../core/options.js';
import type { Outcome } from './balancers/balancer.js';
import { noteSet } from './explain.js';
import { operate } from './operate.js';

/** Options of {@link createOutlierDetector}. */
export interface OutlierDetectorOptions {
  /**
   * Eject an instance after this many failed calls in a row.
   * @default 5
   */
  readonly consecutiveFailures?: number;
  /**
   * Also eject an instance whose ratio of failed calls within `windowMs`
   * reaches this value (0 to 1), once it had `minimumCalls` calls in the
   * window; `undefined` turns the ratio check off.
   * @default undefined
   */
  readonly failureRatio?: number;
  /**
   * Calls an instance must have had in the window before `failureRatio` applies.
   * @default 20
   */
  readonly minimumCalls?: number;
  /**
   * The window over which `failureRatio` is measured, in ms (a tumbling window).
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
   * The largest ratio (0 to 1) of a set that may be ejected at once. At
   * least one instance may be ejected from a set of two or more, and never
   * the last one. Each subscription of {@link OutlierDetector.operator}
   * applies it to its own input set, so that differently filtered
   * pipelines of one service keep separate caps.
   * @default 0.5
   */
  readonly maxEjectedRatio?: number;
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
      /** An ejection was due but would exceed `maxEjectedRatio` of a pipeline holding the instance. */
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
  /**
   * Reports how a call on `instance` ended. The call helpers and `kyFor()`
   * do it for you. Only instances of the sets that subscribed operators
   * hold are judged: a report on any other instance (one that left the
   * set, a service no operator watches) and a cancelled call are ignored.
   */
  report(instance: Instance, outcome: Outcome): void;
  /** True while `instance` is ejected. */
  isEjected(instance: Instance): boolean;
  /**
   * How many instances the detector keeps state for: those of the input
   * sets of its subscribed operators. Pruned on every set update, released
   * when an operator is unsubscribed: bounded by the sets watched, not by
   * the instances ever seen. For monitoring.
   */
  readonly tracked: number;
  /** Ejections and refused ejections, as they happen (hot; no replay). */
  readonly events$: Observable<OutlierEvent>;
}

/** What the detector knows of one instance held by a subscribed operator. */
interface Entry {
  /** Subscribed operators whose current input holds the instance. */
  refs: number;
  instance: Instance;
  consecutive: number;
  windowStart: number;
  calls: number;
  failures: number;
  /** Ejections so far (drives the growing duration). */
  ejections: number;
  /** Ejected until this time (ms); 0 when not ejected. */
  until: number;
}

/** One subscription of {@link OutlierDetector.operator}: its cap is its own. */
interface Pipeline {
  /** The latest input set. */
  input: InstanceSet | undefined;
  /** Brings the output in line after an ejection of one of its instances. */
  readonly refresh: () => void;
}

interface Resolved {
  readonly consecutive: number;
  readonly ratio: number | undefined;
  readonly minimumCalls: number;
  readonly windowMs: number;
  readonly base: number;
  readonly max: number;
  readonly ejectedRatio: number;
  readonly scheduler: SchedulerLike;
}

const keyOf = (i: Instance): string => `${i.service}\u0000${i.id}`;

/** A call that ran to its end (a cancelled one says nothing about the instance). */
const completed = (o: Outcome): o is Extract<Outcome, { ok: boolean }> =>
  !('cancelled' in o && o.cancelled === true);

class Detector implements OutlierDetector {
  readonly #o: Resolved;
  /** Per instance of the subscribed operators' inputs; pruned on every set update. */
  readonly #entries = new Map<string, Entry>();
  /** The subscribed operators, each with its own input (and so its own cap). */
  readonly #pipelines = new Set<Pipeline>();
  readonly #events = new Subject<OutlierEvent>();
  readonly events$: Observable<OutlierEvent> = this.#events.asObservable();

  constructor(o: Resolved) {
    this.#o = o;
  }

  get tracked(): number {
    return this.#entries.size;
  }

  isEjected(instance: Instance): boolean {
    const e = this.#entries.get(keyOf(instance));
    return e !== undefined && e.until > this.#o.scheduler.now();
  }

  report(instance: Instance, outcome: Outcome): void {
    if (!completed(outcome)) return;
    const e = this.#entries.get(keyOf(instance));
    if (e === undefined) return; // no subscribed operator holds it: nothing to eject from
    const o = this.#o;
    const now = o.scheduler.now();
    if (now - e.windowStart >= o.windowMs) {
      e.windowStart = now;
      e.calls = 0;
      e.failures = 0;
    }
    e.calls++;
    if (outcome.ok) {
      e.consecutive = 0;
      return;
    }
    e.failures++;
    e.consecutive++;
    if (e.until > now) return; // already ejected (a call that was in flight)
    let reason: 'consecutive-failures' | 'failure-rate' | undefined;
    if (e.consecutive >= o.consecutive) reason = 'consecutive-failures';
    else if (o.ratio !== undefined && e.calls >= o.minimumCalls && e.failures / e.calls >= o.ratio)
      reason = 'failure-rate';
    if (reason !== undefined) this.#eject(e, now, reason);
  }

  /** Counts `set` in (and `previous` out of) the entries: O(changes) along a delta chain. */
  #track(set: InstanceSet | undefined, previous: InstanceSet | undefined): void {
    const delta = set?.delta;
    if (set !== undefined && previous !== undefined && delta?.from === previous.version) {
      for (const i of delta.added) this.#ref(i);
      for (const u of delta.updated) {
        const e = this.#entries.get(keyOf(u.current));
        if (e !== undefined) e.instance = u.current;
      }
      for (const i of delta.removed) this.#unref(i);
      return;
    }
    if (set !== undefined) for (const i of set.instances) this.#ref(i);
    if (previous !== undefined) for (const i of previous.instances) this.#unref(i);
  }

  #ref(instance: Instance): void {
    const key = keyOf(instance);
    const e = this.#entries.get(key);
    if (e !== undefined) {
      e.instance = instance;
      e.refs++;
      return;
    }
    this.#entries.set(key, {
      refs: 1,
      instance,
      consecutive: 0,
      windowStart: this.#o.scheduler.now(),
      calls: 0,
      failures: 0,
      ejections: 0,
      until: 0,
    });
  }

  #unref(instance: Instance): void {
    const key = keyOf(instance);
    const e = this.#entries.get(key);
    if (e !== undefined && --e.refs <= 0) this.#entries.delete(key);
  }

  #eject(e: Entry, now: number, reason: 'consecutive-failures' | 'failure-rate'): void {
    const o = this.#o;
    const { id } = e.instance;
    const holders: Pipeline[] = [];
    for (const p of this.#pipelines) {
      const set = p.input;
      if (set?.get(id) === undefined || set.service !== e.instance.service) continue;
      holders.push(p);
      let ejected = 0;
      for (const i of set.instances) if (this.isEjected(i)) ejected++;
      const cap = Math.min(set.size - 1, Math.max(1, Math.floor(o.ejectedRatio * set.size)));
      if (ejected + 1 > cap) {
        instruments()?.ejectionRefusals.add(1, attributesOf(e.instance).instance);
        this.#events.next({ type: 'refused', instance: e.instance, ejected, size: set.size });
        return;
      }
    }
    // An instance that stayed in long enough since its last ejection starts afresh.
    if (e.until !== 0 && now - e.until >= o.max) e.ejections = 0;
    const durationMs = Math.min(o.max, o.base * 2 ** e.ejections);
    e.ejections++;
    e.until = now + durationMs;
    e.consecutive = 0;
    e.calls = 0;
    e.failures = 0;
    e.windowStart = now;
    const m = instruments();
    m?.ejections.add(
      1,
      withAttribute(attributesOf(e.instance).instance, 'rxdisco.ejection.reason', reason),
    );
    this.#events.next({ type: 'ejected', instance: e.instance, durationMs, reason });
    for (const p of holders) p.refresh();
  }

  /** Notes on `output` (for explain()) the instances of `input` it leaves out, and for how long. */
  #note(input: InstanceSet, output: InstanceSet): void {
    if (output === input || output.size >= input.size) return;
    const now = this.#o.scheduler.now();
    const ejected: { id: string; forMs: number }[] = [];
    for (const i of input.instances) {
      if (output.get(i.id) !== undefined) continue;
      const e = this.#entries.get(keyOf(i));
      ejected.push({ id: i.id, forMs: e === undefined ? 0 : Math.max(0, e.until - now) });
    }
    noteSet(output, { operator: 'outlierEjection', detail: { ejected } });
  }

  operator(): MonoTypeOperatorFunction<InstanceSet> {
    return operate((out) => {
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
          const e = this.#entries.get(keyOf(i));
          if (e !== undefined && e.until > now && e.until < earliest) earliest = e.until;
        }
        if (earliest !== Infinity) {
          wake = timer(earliest - now, scheduler).subscribe(() => pipeline.refresh());
        }
      };

      /** A change of ejections: moves the instances that went out or came back. */
      const refresh = (): void => {
        const input = pipeline.input;
        const output = out.last;
        if (input === undefined || output === undefined) return;
        const upserts: Instance[] = [];
        const removals: string[] = [];
        for (const i of input.instances) {
          const inOutput = output.get(i.id) !== undefined;
          const excluded = !keep(i);
          if (inOutput && excluded) removals.push(i.id);
          else if (!inOutput && !excluded) upserts.push(i);
        }
        let next = applyChanges(output, upserts, removals, stalenessOf(input));
        if (next.size === 0 && input.size > 0) next = replaceWith(output, input);
        this.#note(input, next);
        out.emit(next);
        schedule(input);
      };

      const pipeline: Pipeline = { input: undefined, refresh: out.guard(refresh) };
      this.#pipelines.add(pipeline);

      return {
        next: (set) => {
          const input = pipeline.input;
          const output = out.last;
          this.#track(set, input);
          pipeline.input = set;
          const previous =
            input !== undefined && output !== undefined ? { input, output } : undefined;
          let next = filterSet(set, keep, previous);
          // Never eject a whole set (e.g. after it shrank): fall back to all of it.
          if (next.size === 0 && set.size > 0) {
            next = output === undefined ? set : replaceWith(output, set);
          }
          this.#note(set, next);
          out.emit(next);
          schedule(set);
        },
        teardown: () => {
          this.#pipelines.delete(pipeline);
          this.#track(undefined, pipeline.input);
          pipeline.input = undefined;
          wake?.unsubscribe();
        },
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
 * in a row (or, with `failureRatio`, when its failure ratio in a window
 * reaches it), for `baseEjectionMs`, doubled at each further ejection up to
 * `maxEjectionMs`; it comes back by itself when that time is over. No more
 * than `maxEjectedRatio` of a set is ejected at once, and never all of it
 * (each operator subscription caps its own input set).
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
export const createOutlierDetector = (options: OutlierDetectorOptions = {}): OutlierDetector => {
  const count = { integer: true, min: 1 } as const;
  const positive = { above: 0 } as const;
  return new Detector({
    consecutive: numberOption('consecutiveFailures', options.consecutiveFailures, 5, count),
    ratio:
      options.failureRatio === undefined
        ? undefined
        : ratioOption('failureRatio', options.failureRatio, 0),
    minimumCalls: numberOption('minimumCalls', options.minimumCalls, 20, count),
    windowMs: durationOption('windowMs', options.windowMs, 10_000, positive),
    base: durationOption('baseEjectionMs', options.baseEjectionMs, 30_000, positive),
    max: durationOption('maxEjectionMs', options.maxEjectionMs, 300_000, positive),
    ejectedRatio: ratioOption('maxEjectedRatio', options.maxEjectedRatio, 0.5),
    scheduler: options.scheduler ?? asyncScheduler,
  });
};
