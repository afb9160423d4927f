/**
 * The registry-wide view: every service of a registry with its
 * {@link InstanceSet}, as one immutable {@link Catalog} value per effective
 * change, built from a backend's {@link CatalogSource} by the same retry
 * loop as a per-service watch ({@link resilientWatch}).
 *
 * A catalog is persistent: deriving the next one from a change to a few
 * services costs O(√n + changes), not O(n), on every change (no periodic
 * copy of the whole map): its services are spread over about √n frozen
 * buckets by a hash of their name, and a change copies the bucket array and
 * the buckets it touches. Older catalogs stay valid and unchanged.
 *
 * @module
 */
import { Observable, type Subscriber, Subscription } from 'rxjs';
import type { DecodeError, RxdiscoError } from './errors.js';
import { type Instance, sameInstance } from './instance.js';
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
import { resilientWatch, type WatchTuning } from './watch.js';

/** One instance removed from the registry: its service and id. */
export interface CatalogRemoval {
  readonly service: string;
  readonly id: string;
}

/**
 * One event of a backend's registry-wide watch session. A session opened
 * without a cursor, or with one the registry can no longer resume from,
 * starts with a `snapshot` of every instance of every service; then
 * `changes` follow. Every event may carry the cursor to resume from.
 */
export type CatalogEvent<C = unknown> =
  | {
      readonly type: 'snapshot';
      /** Every instance of the registry (each names its service): replaces what was known. */
      readonly instances: readonly Instance[];
      readonly cursor?: C;
      /** Entries that did not decode: skipped, reported. */
      readonly skipped?: readonly DecodeError[];
      /** Other problems to report that do not stop the session. */
      readonly problems?: readonly RxdiscoError[];
    }
  | {
      readonly type: 'changes';
      /** Instances added or modified, of any services. */
      readonly upserts: readonly Instance[];
      /** Instances removed (unknown ones are ignored). */
      readonly removals: readonly CatalogRemoval[];
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
 * What a backend supplies for the registry-wide view: open a session from
 * `resume` (undefined the first time), with the contract of a
 * {@link WatchSource} (at least one event once established; a retryable
 * error is transient, a non-retryable one permanent).
 */
export type CatalogSource<C = unknown> = (resume: C | undefined) => Observable<CatalogEvent<C>>;

/**
 * The whole registry at one moment: every service that has at least one
 * instance, with its set. Immutable; fresh or stale as a whole (while stale,
 * every set in it is stale too, with the same error and `staleSince`).
 */
export interface Catalog {
  /** The registry, as a redacted URL. */
  readonly registry: string;
  /** Number of services (each with at least one instance). */
  readonly size: number;
  /** Number of instances across every service. */
  readonly instanceCount: number;
  /**
   * The services whose set changed (or appeared, or went) since the
   * previous emission of the stream, sorted; every service on the first
   * emission. Frozen.
   */
  readonly changed: readonly string[];
  /** True when the registry is unreachable and this is the last known catalog. */
  readonly stale: boolean;
  /** Epoch milliseconds since when the registry is unreachable. */
  readonly staleSince: number | undefined;
  /** The fault that made the catalog stale. */
  readonly error: RxdiscoError | undefined;
  /** The set of `service`, or undefined when it has no instance. O(1). */
  get(service: string): InstanceSet | undefined;
  /** True when `service` has at least one instance. */
  has(service: string): boolean;
  /** The service names, sorted. Computed once per catalog, then cached. */
  names(): readonly string[];
  /** Every (service, set) pair, sorted by service. */
  entries(): IterableIterator<readonly [string, InstanceSet]>;
}

const NO_NAMES: readonly string[] = Object.freeze([]);
const FRESH: Staleness = Object.freeze({ stale: false });

/** Buckets of services: a Map each, never mutated once given to a catalog. */
type Buckets = readonly ReadonlyMap<string, InstanceSet>[];

/** FNV-1a of a service name: its bucket among a power-of-two count. */
const hashOf = (name: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return h >>> 0;
};

/** The bucket count for `size` services: a power of two near √size (at least 16). */
const bucketsFor = (size: number): number => {
  let n = 16;
  while (n * n < size) n *= 2;
  return n;
};

const EMPTY_BUCKETS: Buckets = Object.freeze(
  Array.from({ length: bucketsFor(0) }, () => new Map<string, InstanceSet>()),
);

class CatalogValue implements Catalog {
  readonly stale: boolean;
  readonly staleSince: number | undefined;
  readonly error: RxdiscoError | undefined;
  #names: readonly string[] | undefined;

  constructor(
    readonly registry: string,
    /** The services by bucket (hash of the name); shared with the catalogs derived from it. */
    readonly buckets: Buckets,
    readonly size: number,
    readonly instanceCount: number,
    readonly changed: readonly string[],
    staleness: Staleness,
  ) {
    this.stale = staleness.stale;
    this.staleSince = staleness.stale ? staleness.since : undefined;
    this.error = staleness.stale ? staleness.error : undefined;
  }

  get(service: string): InstanceSet | undefined {
    const b = this.buckets;
    return b[hashOf(service) & (b.length - 1)]!.get(service);
  }

  has(service: string): boolean {
    return this.get(service) !== undefined;
  }

  names(): readonly string[] {
    if (this.#names === undefined) {
      const names: string[] = [];
      for (const bucket of this.buckets) for (const k of bucket.keys()) names.push(k);
      this.#names = Object.freeze(names.sort());
    }
    return this.#names;
  }

  *entries(): IterableIterator<readonly [string, InstanceSet]> {
    for (const name of this.names()) yield [name, this.get(name)!];
  }
}

/** `buckets` re-spread over `count` buckets (when the registry grew or shrank 4x). */
const rebucket = (buckets: Buckets, count: number): Map<string, InstanceSet>[] => {
  const out = Array.from({ length: count }, () => new Map<string, InstanceSet>());
  for (const bucket of buckets) {
    for (const [k, v] of bucket) out[hashOf(k) & (count - 1)]!.set(k, v);
  }
  return out;
};

/**
 * The next catalog after `updates` (service → new set, or null when gone)
 * on `previous`; `previous` itself when nothing changed in effect. Copies
 * the bucket array (√n entries) and the buckets the changes touch (√n
 * services each), never the whole map: no change costs O(n), so none
 * stalls the stream (a copy of the whole map every √n changes did: 1 ms on
 * every hundredth change of a 10,000-service catalog). The bucket count
 * follows √n, re-spread when the registry grows or shrinks 4x (O(n), as
 * rare as that).
 */
const derive = (
  previous: CatalogValue,
  updates: ReadonlyMap<string, InstanceSet | null>,
  staleness: Staleness,
): CatalogValue => {
  const changed: string[] = [];
  let size = previous.size;
  let count = previous.instanceCount;
  for (const [name, next] of updates) {
    const old = previous.get(name);
    if ((old ?? null) === next) continue;
    changed.push(name);
    if (old === undefined) size++;
    else count -= old.size;
    if (next === null) size--;
    else count += next.size;
  }
  if (changed.length === 0 && staleness.stale === previous.stale) return previous;
  const want = bucketsFor(size);
  const spread = want > previous.buckets.length * 2 || want * 2 < previous.buckets.length;
  const buckets: Map<string, InstanceSet>[] = spread
    ? rebucket(previous.buckets, want)
    : (previous.buckets.slice() as Map<string, InstanceSet>[]);
  const copied = new Set<number>();
  for (const name of changed) {
    const at = hashOf(name) & (buckets.length - 1);
    if (!spread && !copied.has(at)) {
      copied.add(at);
      buckets[at] = new Map(buckets[at]);
    }
    const v = updates.get(name)!;
    if (v === null) buckets[at]!.delete(name);
    else buckets[at]!.set(name, v);
  }
  return new CatalogValue(
    previous.registry,
    Object.freeze(buckets),
    size,
    count,
    Object.freeze(changed.sort()),
    staleness,
  );
};

/** An empty catalog of `registry`. */
export const emptyCatalog = (registry: string, staleness: Staleness = FRESH): Catalog =>
  new CatalogValue(registry, EMPTY_BUCKETS, 0, 0, NO_NAMES, staleness);

/** Every set of `catalog` with `staleness` (O(n): once per outage and recovery). */
const restaleAll = (catalog: CatalogValue, staleness: Staleness): CatalogValue => {
  const updates = new Map<string, InstanceSet | null>();
  for (const [name, set] of catalog.entries()) updates.set(name, restale(set, staleness));
  return derive(catalog, updates, staleness);
};

const groupBy = <T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> => {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const g = groups.get(k);
    if (g === undefined) groups.set(k, [item]);
    else g.push(item);
  }
  return groups;
};

const stepCatalog = <C>(
  registry: string,
  state: CatalogValue | undefined,
  event: CatalogEvent<C>,
): CatalogValue => {
  const base =
    state === undefined
      ? (emptyCatalog(registry) as CatalogValue)
      : state.stale
        ? restaleAll(state, FRESH)
        : state;
  switch (event.type) {
    case 'snapshot': {
      const groups = groupBy(event.instances, (i) => i.service);
      const updates = new Map<string, InstanceSet | null>();
      for (const name of base.names()) if (!groups.has(name)) updates.set(name, null);
      for (const [name, instances] of groups) {
        const old = base.get(name);
        updates.set(
          name,
          old === undefined
            ? instanceSet(name, registry, instances)
            : replaceAll(old, instances, FRESH),
        );
      }
      const next = derive(base, updates, FRESH);
      // The first emission names every service.
      return state === undefined && next !== base
        ? new CatalogValue(
            registry,
            next.buckets,
            next.size,
            next.instanceCount,
            next.names(),
            FRESH,
          )
        : next;
    }
    case 'changes': {
      const ups = groupBy(event.upserts, (i) => i.service);
      const rems = groupBy(event.removals, (r) => r.service);
      const updates = new Map<string, InstanceSet | null>();
      for (const name of new Set([...ups.keys(), ...rems.keys()])) {
        const old = base.get(name) ?? emptySet(name, registry);
        const next = applyChanges(
          old,
          ups.get(name) ?? [],
          (rems.get(name) ?? []).map((r) => r.id),
          FRESH,
        );
        updates.set(name, next.size === 0 ? null : next);
      }
      return derive(base, updates, FRESH);
    }
    case 'progress':
      return base;
  }
};

/**
 * The catalog stream of one registry, built from a backend's
 * {@link CatalogSource}: the full catalog first, then one per effective
 * change (never two equal in a row); transient faults retried with backoff
 * while the last catalog is kept and marked stale; permanent faults error
 * the stream. Not shared: see `shareWatch`.
 *
 * @example
 * ```ts
 * const catalog$ = watchCatalog('memory://', (cursor) => backend.catalog!(cursor));
 * ```
 */
export const watchCatalog = <C>(
  registry: string,
  source: CatalogSource<C>,
  tuning: WatchTuning = {},
): Observable<Catalog> =>
  resilientWatch<CatalogEvent<C>, CatalogValue, C>(
    source,
    {
      step: (state, event) => stepCatalog(registry, state, event),
      stale: (state, error, since) => {
        if (state?.stale) return state;
        const staleness: Staleness = { stale: true, since, error };
        return state === undefined
          ? (emptyCatalog(registry, staleness) as CatalogValue)
          : restaleAll(state, staleness);
      },
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
 * The metrics of one viewed service, as a per-service watch records them
 * (instances and stale taken back when its last view ends, emissions,
 * reconnections and skipped entries), with `rxdisco.registry` and
 * `rxdisco.service`.
 */
class ViewMeter {
  readonly attributes: Attributes;
  size = 0;
  stale = false;

  constructor(
    readonly m: Instruments,
    registry: string,
    service: string,
  ) {
    this.attributes = serviceAttributes(registry, service);
  }

  emitted(set: InstanceSet): void {
    const { m, attributes } = this;
    m.emissions.add(1, attributes);
    if (set.size !== this.size) m.instances.add(set.size - this.size, attributes);
    this.size = set.size;
    if (set.stale !== this.stale) m.stale.add(set.stale ? 1 : -1, attributes);
    this.stale = set.stale;
  }

  end(): void {
    if (this.size !== 0) this.m.instances.add(-this.size, this.attributes);
    if (this.stale) this.m.stale.add(-1, this.attributes);
    this.size = 0;
    this.stale = false;
  }
}

/**
 * The views of one service: the set they all emitted last (a view that
 * joins gets it at once) and their subscribers (one alone, the usual case,
 * or several). One small object per watched service: no Subject, no
 * operator, so thousands of them cost little more than their subscribers.
 */
class ServiceViews {
  last: InstanceSet | undefined;
  /** The empty set shown while the service has no instance (per staleness). */
  empty: InstanceSet | undefined;

  constructor(
    readonly service: string,
    readonly registry: string,
    public subscribers: Subscriber<InstanceSet> | Subscriber<InstanceSet>[],
    readonly meter: ViewMeter | undefined,
  ) {}

  next(c: Catalog): void {
    let set = c.get(this.service);
    if (set === undefined) {
      const e = this.empty;
      if (e === undefined || e.stale !== c.stale || e.error !== c.error) {
        this.empty = emptySet(
          this.service,
          this.registry,
          c.stale ? { stale: true, since: c.staleSince!, error: c.error! } : FRESH,
        );
      }
      set = this.empty!;
    }
    if (set === this.last) return;
    this.last = set;
    this.meter?.emitted(set);
    const s = this.subscribers;
    if (Array.isArray(s)) for (const one of [...s]) one.next(set);
    else s.next(set);
  }

  each(f: (s: Subscriber<InstanceSet>) => void): void {
    const s = this.subscribers;
    if (Array.isArray(s)) for (const one of [...s]) f(one);
    else f(s);
  }
}

/**
 * Per-service views of one catalog stream (see {@link catalogViews}); the
 * hooks let the owner of the catalog's session count its reconnections and
 * skipped entries in each viewed service's metrics.
 */
export interface CatalogViews {
  /** The view of `service`: its set from each catalog, never twice the same. */
  (service: string): Observable<InstanceSet>;
  /** The catalog's session was reopened after a fault: counted for every viewed service. */
  reconnected(): void;
  /** An entry of the catalog did not decode: counted for its service, when viewed. */
  skipped(error: DecodeError): void;
}

/**
 * Per-service streams as views of one catalog stream: one subscription to
 * `catalog$` (made with the first view, dropped with the last), and each
 * catalog handed only to the views of the services it names as `changed`
 * (every view when the catalog's staleness flips), so a change costs
 * O(views of the changed services), not O(views). A view emits the
 * service's set from the catalog (the same object), or an empty set
 * (stale with the catalog) while the service has no instance; never the
 * same set twice in a row. With an OpenTelemetry meter provider, each
 * viewed service records the metrics a per-service watch records
 * (docs/observability.md), once per service however many views it has.
 *
 * @example
 * ```ts
 * const viewOf = catalogViews(registry.catalog$(), registry.registry);
 * viewOf('hello').subscribe((set) => console.log(set.size));
 * ```
 */
export const catalogViews = (catalog$: Observable<Catalog>, registry: string): CatalogViews => {
  const views = new Map<string, ServiceViews>();
  let upstream: Subscription | undefined;
  let current: Catalog | undefined;

  const stop = (): void => {
    const u = upstream;
    upstream = undefined;
    current = undefined;
    u?.unsubscribe();
  };
  /** Forgets every view (the catalog ended) and returns them. */
  const drop = (): ServiceViews[] => {
    const vs = [...views.values()];
    views.clear();
    upstream = undefined;
    current = undefined;
    for (const v of vs) v.meter?.end();
    return vs;
  };
  const start = (): void => {
    const s = catalog$.subscribe({
      next: (c) => {
        const previous = current;
        current = c;
        if (previous === undefined || previous.stale !== c.stale) {
          for (const v of [...views.values()]) v.next(c);
          return;
        }
        for (const name of c.changed) views.get(name)?.next(c);
      },
      error: (e: unknown) => {
        for (const v of drop()) v.each((s) => s.error(e));
      },
      complete: () => {
        for (const v of drop()) v.each((s) => s.complete());
      },
    });
    // An error delivered during subscribe() already ended it.
    if (!s.closed && views.size > 0) upstream = s;
    else s.unsubscribe();
  };
  const release = (entry: ServiceViews, subscriber: Subscriber<InstanceSet>): void => {
    if (views.get(entry.service) !== entry) return;
    const s = entry.subscribers;
    if (Array.isArray(s)) {
      const at = s.indexOf(subscriber);
      if (at < 0) return;
      s.splice(at, 1);
      if (s.length === 1) entry.subscribers = s[0]!;
      return;
    }
    if (s !== subscriber) return;
    views.delete(entry.service);
    entry.meter?.end();
    if (views.size === 0) stop();
  };

  const view = (service: string): Observable<InstanceSet> =>
    new Observable<InstanceSet>((subscriber) => {
      let entry = views.get(service);
      if (entry === undefined) {
        const m = instruments();
        entry = new ServiceViews(
          service,
          registry,
          subscriber,
          m === undefined ? undefined : new ViewMeter(m, registry, service),
        );
        views.set(service, entry);
        if (upstream === undefined) start();
        else if (current !== undefined) entry.next(current);
      } else {
        const s = entry.subscribers;
        entry.subscribers = Array.isArray(s) ? [...s, subscriber] : [s, subscriber];
        if (entry.last !== undefined) subscriber.next(entry.last);
      }
      const mine = entry;
      return () => release(mine, subscriber);
    });
  return Object.assign(view, {
    reconnected: (): void => {
      for (const v of views.values()) v.meter?.m.reconnections.add(1, v.meter.attributes);
    },
    skipped: (error: DecodeError): void => {
      const meter = error.service === undefined ? undefined : views.get(error.service)?.meter;
      meter?.m.skipped.add(1, meter.attributes);
    },
  });
};

/**
 * True when two sets hold the same instances, field by field
 * ({@link sameInstance}): the content a subscriber sees, whatever the set
 * objects, their versions or deltas. Both are sorted by id.
 */
const sameContent = (a: InstanceSet, b: InstanceSet): boolean => {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  const x = a.instances;
  const y = b.instances;
  for (let i = 0; i < x.length; i++) if (!sameInstance(x[i]!, y[i]!)) return false;
  return true;
};

/**
 * A per-service stream on its own upstream (`own`) that hands over to the
 * service's catalog view, gaplessly: `offer(start)` registers `start`, which
 * the owner calls once the catalog's upstream is open (and again each time
 * it reopens, while the stream has not handed over); `start` subscribes to
 * `view()` beside `own` and, as soon as the view's latest set and the one
 * `own` emitted last are both fresh with the same content, unsubscribes
 * `own` (releasing its session) and calls `handedOver()`. Subscribers see
 * `own`'s sets until then and the view's after, never the equal set twice,
 * no gap and no completion at the switch. A view that errors, completes or
 * stays stale before the switch is dropped: `own` goes on as it was. After
 * the switch the stream is the view (stale with the catalog, its error).
 * `offer` returns the function that withdraws `start`.
 */
export const handOver = (
  own: Observable<InstanceSet>,
  view: () => Observable<InstanceSet>,
  offer: (start: () => void) => () => void,
  handedOver: () => void,
): Observable<InstanceSet> =>
  new Observable<InstanceSet>((subscriber) => {
    let ownLast: InstanceSet | undefined;
    let viewLast: InstanceSet | undefined;
    let viewing: Subscription | undefined;
    let switched = false;
    let withdraw: (() => void) | undefined;
    const ownSub = new Subscription();
    const trySwitch = (): void => {
      if (switched || ownLast === undefined || viewLast === undefined) return;
      if (ownLast.stale || viewLast.stale || !sameContent(ownLast, viewLast)) return;
      switched = true;
      ownSub.unsubscribe();
      withdraw?.();
      withdraw = undefined;
      handedOver();
    };
    const start = (): void => {
      if (switched || viewing !== undefined || subscriber.closed) return;
      viewLast = undefined;
      const s = view().subscribe({
        next: (set) => {
          if (switched) subscriber.next(set);
          else {
            viewLast = set;
            trySwitch();
          }
        },
        error: (e: unknown) => {
          if (switched) subscriber.error(e);
          else viewing = viewLast = undefined;
        },
        complete: () => {
          if (switched) subscriber.complete();
          else viewing = viewLast = undefined;
        },
      });
      // A view that ended during subscribe() is dropped (unless it took over).
      if (!s.closed || switched) viewing = s;
      else viewing = undefined;
    };
    ownSub.add(
      own.subscribe({
        next: (set) => {
          ownLast = set;
          subscriber.next(set);
          trySwitch();
        },
        error: (e: unknown) => subscriber.error(e),
        complete: () => subscriber.complete(),
      }),
    );
    if (!switched && !subscriber.closed) withdraw = offer(start);
    return () => {
      ownSub.unsubscribe();
      viewing?.unsubscribe();
      withdraw?.();
    };
  });
