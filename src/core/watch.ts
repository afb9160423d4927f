/**
 * The shared watch machinery: turns what a backend knows how to do (open a
 * stream of snapshot + change events from a cursor) into the per-service
 * stream every backend offers, with the stream semantics of
 * docs/architecture.md:
 * full set first, one emission per effective change, resume from the last
 * cursor, transient faults retried with jittered backoff while the last set
 * is kept and marked stale, permanent faults as typed errors, everything
 * released on unsubscribe. Sharing with a grace period is {@link shareWatch}.
 *
 * @module
 */
import {
  asyncScheduler,
  defer,
  Observable,
  ReplaySubject,
  type SchedulerLike,
  type Subscription,
  share,
  timer,
} from 'rxjs';
import { type BackoffPolicy, exponentialBackoff } from './backoff.js';
import {
  type DecodeError,
  isDecodeError,
  RegistryUnavailableError,
  type RxdiscoError,
  toRxdiscoError,
} from './errors.js';
import type { Instance } from './instance.js';
import {
  applyChanges,
  emptySet,
  type InstanceSet,
  instanceSet,
  replaceAll,
  restale,
  type Staleness,
} from './instance-set.js';
import { type Attributes, type Instruments, instruments, serviceAttributes } from './metrics.js';

/**
 * One event of a backend's watch session. A session opened without a cursor,
 * or with one the registry can no longer resume from, starts with a
 * `snapshot`; then `changes` follow. Every event may carry the cursor to
 * resume from after it (etcd revision + 1, Consul index...).
 */
export type SourceEvent<C = unknown> =
  | {
      readonly type: 'snapshot';
      /** The whole current set: replaces what was known. */
      readonly instances: readonly Instance[];
      readonly cursor?: C;
      /** Entries that did not decode: skipped, reported. */
      readonly skipped?: readonly DecodeError[];
      /** Other problems to report that do not stop the session (a registry misbehaving). */
      readonly problems?: readonly RxdiscoError[];
    }
  | {
      readonly type: 'changes';
      /** Instances added or modified. */
      readonly upserts: readonly Instance[];
      /** Ids of instances removed (unknown ids are ignored). */
      readonly removals: readonly string[];
      readonly cursor?: C;
      readonly skipped?: readonly DecodeError[];
      readonly problems?: readonly RxdiscoError[];
    }
  | {
      /** The registry is alive and the cursor moved, nothing changed. */
      readonly type: 'progress';
      readonly cursor: C;
    };

/**
 * What a backend supplies for one service: open a watch session from
 * `resume` (undefined the first time). Once established, a session emits at
 * least one event (a snapshot, or a `progress` when it resumed with nothing
 * new) so that a stale set becomes fresh again. The session errors with an
 * {@link RxdiscoError} whose `retryable` flag says transient or permanent; a
 * session that completes is treated as a transient fault.
 */
export type WatchSource<C = unknown> = (resume: C | undefined) => Observable<SourceEvent<C>>;

const DEFAULT_WATCH_BACKOFF = exponentialBackoff();

/** Tuning shared by every watch. */
export interface WatchTuning {
  /**
   * Backoff between reconnection attempts; a fresh run (new jitter) starts
   * after a session delivers an event.
   * @default exponentialBackoff({ initialMs: 100, maxMs: 30_000 })
   */
  readonly backoff?: BackoffPolicy;
  /**
   * Scheduler for retry timers and timestamps (TestScheduler in tests).
   * @default asyncScheduler
   */
  readonly scheduler?: SchedulerLike;
  /** Called with every non-fatal problem: skipped entries, transient faults. */
  readonly report?: (problem: RxdiscoError) => void;
  /**
   * Called when a session is reopened after a fault (metrics).
   * @internal
   */
  readonly onReconnect?: () => void;
}

/** How {@link resilientWatch} folds a backend's events into a state. */
export interface Fold<E, S, C> {
  /** Applies one event; returns the same state object when nothing changed in effect. */
  readonly step: (state: S | undefined, event: E) => S;
  /** The state after a fault; returns the same object when already stale. */
  readonly stale: (state: S | undefined, error: RxdiscoError, since: number) => S;
  /** The cursor an event carries, if any. */
  readonly cursorOf: (event: E) => C | undefined;
  /** Problems an event reports (skipped entries). */
  readonly problemsOf?: (event: E) => readonly RxdiscoError[] | undefined;
}

/**
 * The generic retry loop under every watch: opens `open(cursor)`, folds its
 * events into a state, emits the state whenever it changes (by identity),
 * and on a retryable fault marks the state stale and reopens after a
 * backoff from the last cursor. A permanent fault errors the stream.
 */
export const resilientWatch = <E, S, C>(
  open: (resume: C | undefined) => Observable<E>,
  fold: Fold<E, S, C>,
  tuning: WatchTuning = {},
): Observable<S> =>
  new Observable<S>((subscriber) => {
    const scheduler = tuning.scheduler ?? asyncScheduler;
    const policy = tuning.backoff ?? DEFAULT_WATCH_BACKOFF;
    let backoff = policy.start();
    let state: S | undefined;
    let emitted: S | undefined;
    let cursor: C | undefined;
    let staleSince: number | undefined;
    let session: Subscription | undefined;
    let retry: Subscription | undefined;
    let closed = false;

    const publish = (next: S): void => {
      state = next;
      if (next !== emitted) {
        emitted = next;
        subscriber.next(next);
      }
    };

    const fault = (e: unknown): void => {
      session = undefined;
      const error = toRxdiscoError(e);
      if (!error.retryable) {
        closed = true;
        subscriber.error(error);
        return;
      }
      tuning.report?.(error);
      staleSince ??= scheduler.now();
      publish(fold.stale(state, error, staleSince));
      const wait = backoff.delayMs;
      backoff = backoff.next();
      retry = timer(wait, scheduler).subscribe(() => {
        retry = undefined;
        tuning.onReconnect?.();
        connect();
      });
    };

    const connect = (): void => {
      if (closed) return;
      let delivered = false;
      // A synchronous fault inside subscribe() must not recurse into itself.
      let syncFault: { e: unknown } | undefined;
      let subscribing = true;
      const end = (e: unknown): void => {
        if (subscribing) syncFault = { e };
        else fault(e);
      };
      let session$: Observable<E>;
      try {
        session$ = open(cursor);
      } catch (e) {
        fault(e);
        return;
      }
      const s = session$.subscribe({
        next: (event) => {
          if (!delivered) {
            delivered = true;
            backoff = policy.start();
          }
          staleSince = undefined;
          const c = fold.cursorOf(event);
          if (c !== undefined) cursor = c;
          for (const p of fold.problemsOf?.(event) ?? []) tuning.report?.(p);
          publish(fold.step(state, event));
        },
        error: end,
        complete: () => end(new RegistryUnavailableError('the watch ended')),
      });
      subscribing = false;
      if (syncFault !== undefined) fault(syncFault.e);
      else if (!s.closed) session = s;
    };

    connect();
    return () => {
      closed = true;
      retry?.unsubscribe();
      session?.unsubscribe();
    };
  });

const stalenessFor = (error: RxdiscoError, since: number): Staleness => ({
  stale: true,
  since,
  error,
});

const FRESH: Staleness = { stale: false };

/**
 * The instance stream of one service, built from a backend's
 * {@link WatchSource}. Not shared: see {@link shareWatch}.
 *
 * @example
 * ```ts
 * const set$ = watchInstances('hello', 'memory://', (cursor) => backend.open('hello', cursor));
 * ```
 */
export const watchInstances = <C>(
  service: string,
  registry: string,
  source: WatchSource<C>,
  tuning: WatchTuning = {},
): Observable<InstanceSet> =>
  defer(() => {
    // Looked up per subscription: nothing at all is done per event without an SDK.
    const m = instruments();
    return m === undefined
      ? unmeteredWatch(service, registry, source, tuning)
      : meteredWatch(m, service, registry, source, tuning);
  });

const unmeteredWatch = <C>(
  service: string,
  registry: string,
  source: WatchSource<C>,
  tuning: WatchTuning,
): Observable<InstanceSet> =>
  resilientWatch<SourceEvent<C>, InstanceSet, C>(
    source,
    {
      step: (set, event) => {
        switch (event.type) {
          case 'snapshot':
            return set === undefined
              ? instanceSet(service, registry, event.instances)
              : replaceAll(set, event.instances, FRESH);
          case 'changes':
            return applyChanges(
              set ?? emptySet(service, registry),
              event.upserts,
              event.removals,
              FRESH,
            );
          case 'progress':
            return set === undefined ? emptySet(service, registry) : restale(set, FRESH);
        }
      },
      stale: (set, error, since) =>
        set === undefined
          ? emptySet(service, registry, stalenessFor(error, since))
          : set.stale
            ? set
            : restale(set, stalenessFor(error, since)),
      cursorOf: (event) => event.cursor,
      problemsOf: (event) =>
        event.type === 'progress'
          ? undefined
          : event.problems === undefined
            ? event.skipped
            : [...(event.skipped ?? []), ...event.problems],
    },
    tuning,
  );

/**
 * {@link unmeteredWatch} recording the watch's metrics: instances and stale
 * (up-down counters, taken back when the subscription ends), emissions,
 * reconnections and skipped entries, with `rxdisco.registry` and
 * `rxdisco.service`.
 */
const meteredWatch = <C>(
  m: Instruments,
  service: string,
  registry: string,
  source: WatchSource<C>,
  tuning: WatchTuning,
): Observable<InstanceSet> =>
  new Observable<InstanceSet>((subscriber) => {
    const attributes: Attributes = serviceAttributes(registry, service);
    const report = tuning.report;
    let size = 0;
    let stale = false;
    const subscription = unmeteredWatch(service, registry, source, {
      ...tuning,
      report: (p) => {
        if (isDecodeError(p)) m.skipped.add(1, attributes);
        report?.(p);
      },
      onReconnect: () => {
        m.reconnections.add(1, attributes);
        tuning.onReconnect?.();
      },
    }).subscribe({
      next: (set) => {
        m.emissions.add(1, attributes);
        if (set.size !== size) m.instances.add(set.size - size, attributes);
        size = set.size;
        if (set.stale !== stale) m.stale.add(set.stale ? 1 : -1, attributes);
        stale = set.stale;
        subscriber.next(set);
      },
      error: (e: unknown) => subscriber.error(e),
      complete: () => subscriber.complete(),
    });
    return () => {
      subscription.unsubscribe();
      if (size !== 0) m.instances.add(-size, attributes);
      if (stale) m.stale.add(-1, attributes);
    };
  });

/** The live list of service names in a registry. */
export interface ServiceList {
  /** Service names, sorted, without duplicates. Frozen. */
  readonly names: readonly string[];
  /** True when the registry is unreachable and `names` is the last known list. */
  readonly stale: boolean;
  /** The fault that made the list stale. */
  readonly error: RxdiscoError | undefined;
}

/** Events of a backend's service-name watch: the whole list each time. */
export interface ServiceListEvent<C = unknown> {
  readonly names: readonly string[];
  readonly cursor?: C;
}

const sameNames = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((n, i) => n === b[i]);

/** The live service list, built from a backend's session of name lists. */
export const watchServiceList = <C>(
  open: (resume: C | undefined) => Observable<ServiceListEvent<C>>,
  tuning: WatchTuning = {},
): Observable<ServiceList> =>
  resilientWatch<ServiceListEvent<C>, ServiceList, C>(
    open,
    {
      step: (list, event) => {
        const names = Object.freeze([...new Set(event.names)].sort());
        if (list !== undefined && !list.stale && sameNames(list.names, names)) return list;
        return Object.freeze({ names, stale: false, error: undefined });
      },
      stale: (list, error) =>
        list?.stale ? list : Object.freeze({ names: list?.names ?? [], stale: true, error }),
      cursorOf: (event) => event.cursor,
    },
    tuning,
  );

/**
 * Shares a watch among all its subscribers: one upstream session, the
 * latest value replayed to late subscribers, and the upstream released
 * `graceMs` after the last subscriber leaves (a resubscribe within the
 * grace period reuses the session).
 */
export const shareWatch = <T>(
  source: Observable<T>,
  graceMs: number,
  scheduler: SchedulerLike = asyncScheduler,
): Observable<T> =>
  source.pipe(
    share({
      connector: () => new ReplaySubject<T>(1),
      resetOnError: true,
      resetOnComplete: true,
      resetOnRefCountZero: graceMs <= 0 ? true : () => timer(graceMs, scheduler),
    }),
  );
