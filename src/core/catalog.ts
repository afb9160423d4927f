/**
 * The registry-wide view: every service of a registry with its
 * {@link InstanceSet}, as one immutable {@link Catalog} value per effective
 * change, built from a backend's {@link CatalogSource} by the same retry
 * loop as a per-service watch ({@link resilientWatch}).
 *
 * A catalog is persistent: deriving the next one from a change to a few
 * services costs O(√n + changes), not O(n): it is a frozen base map plus a
 * small overlay of the services changed since, folded into a new base when
 * the overlay grows past √n entries (so the copy is amortized over as many
 * changes). Older catalogs stay valid and unchanged.
 *
 * @module
 */
import { Observable, type Subscription } from 'rxjs';
import type { DecodeError, RxdiscoError } from './errors.js';
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
const EMPTY_BASE: ReadonlyMap<string, InstanceSet> = new Map();

/** The overlay of a catalog is folded into a new base past this many entries. */
const overlayLimit = (baseSize: number): number => Math.max(32, Math.ceil(Math.sqrt(baseSize)));

class CatalogValue implements Catalog {
  readonly stale: boolean;
  readonly staleSince: number | undefined;
  readonly error: RxdiscoError | undefined;
  #names: readonly string[] | undefined;

  constructor(
    readonly registry: string,
    /** Never mutated once given to a catalog. */
    readonly base: ReadonlyMap<string, InstanceSet>,
    /** Services changed since `base`: a set, or null when gone. Never mutated once given. */
    readonly overlay: ReadonlyMap<string, InstanceSet | null>,
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
    const o = this.overlay.get(service);
    if (o !== undefined) return o ?? undefined;
    return this.base.get(service);
  }

  has(service: string): boolean {
    return this.get(service) !== undefined;
  }

  names(): readonly string[] {
    if (this.#names === undefined) {
      const names: string[] = [];
      for (const [k] of this.base) if (!this.overlay.has(k)) names.push(k);
      for (const [k, v] of this.overlay) if (v !== null) names.push(k);
      this.#names = Object.freeze(names.sort());
    }
    return this.#names;
  }

  *entries(): IterableIterator<readonly [string, InstanceSet]> {
    for (const name of this.names()) yield [name, this.get(name)!];
  }
}

/**
 * The next catalog after `updates` (service → new set, or null when gone)
 * on `previous`; `previous` itself when nothing changed in effect.
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
  let base = previous.base;
  let overlay: Map<string, InstanceSet | null>;
  if (previous.overlay.size + changed.length > overlayLimit(base.size)) {
    // Fold: a new base with every change so far; the old one stays as it was.
    const merged = new Map(base);
    for (const [k, v] of previous.overlay) {
      if (v === null) merged.delete(k);
      else merged.set(k, v);
    }
    for (const name of changed) {
      const v = updates.get(name)!;
      if (v === null) merged.delete(name);
      else merged.set(name, v);
    }
    base = merged;
    overlay = new Map();
  } else {
    overlay = new Map(previous.overlay);
    for (const name of changed) {
      const v = updates.get(name)!;
      if (v === null && !base.has(name)) overlay.delete(name);
      else overlay.set(name, v);
    }
  }
  return new CatalogValue(
    previous.registry,
    base,
    overlay,
    size,
    count,
    Object.freeze(changed.sort()),
    staleness,
  );
};

/** An empty catalog of `registry`. */
export const emptyCatalog = (registry: string, staleness: Staleness = FRESH): Catalog =>
  new CatalogValue(registry, EMPTY_BASE, new Map(), 0, 0, NO_NAMES, staleness);

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
            next.base,
            next.overlay,
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

type Listener = {
  readonly next: (catalog: Catalog) => void;
  readonly error: (e: unknown) => void;
  readonly complete: () => void;
};

/**
 * Per-service streams as views of one catalog stream: one subscription to
 * `catalog$` (made with the first view, dropped with the last), and each
 * catalog handed only to the views of the services it names as `changed`
 * (every view when the catalog's staleness flips), so a change costs
 * O(views of the changed services), not O(views). A view emits the
 * service's set from the catalog (the same object), or an empty set
 * (stale with the catalog) while the service has no instance; never the
 * same set twice in a row.
 *
 * @example
 * ```ts
 * const viewOf = catalogViews(registry.catalog$(), registry.registry);
 * viewOf('hello').subscribe((set) => console.log(set.size));
 * ```
 */
export const catalogViews = (
  catalog$: Observable<Catalog>,
  registry: string,
): ((service: string) => Observable<InstanceSet>) => {
  const listeners = new Map<string, Set<Listener>>();
  let count = 0;
  let upstream: Subscription | undefined;
  let current: Catalog | undefined;

  const all = (): Listener[] => [...listeners.values()].flatMap((l) => [...l]);
  const stop = (): void => {
    const u = upstream;
    upstream = undefined;
    current = undefined;
    u?.unsubscribe();
  };
  const start = (): void => {
    const s = catalog$.subscribe({
      next: (c) => {
        const previous = current;
        current = c;
        if (previous === undefined || previous.stale !== c.stale) {
          for (const l of all()) l.next(c);
          return;
        }
        for (const name of c.changed) {
          const ls = listeners.get(name);
          if (ls !== undefined) for (const l of [...ls]) l.next(c);
        }
      },
      error: (e: unknown) => {
        const ls = all();
        listeners.clear();
        count = 0;
        upstream = undefined;
        current = undefined;
        for (const l of ls) l.error(e);
      },
      complete: () => {
        const ls = all();
        listeners.clear();
        count = 0;
        upstream = undefined;
        current = undefined;
        for (const l of ls) l.complete();
      },
    });
    // An error delivered during subscribe() already ended it.
    if (!s.closed && count > 0) upstream = s;
    else s.unsubscribe();
  };

  return (service) =>
    new Observable<InstanceSet>((subscriber) => {
      let last: InstanceSet | undefined;
      let empty: InstanceSet | undefined;
      const listener: Listener = {
        next: (c) => {
          let set = c.get(service);
          if (set === undefined) {
            if (empty === undefined || empty.stale !== c.stale || empty.error !== c.error) {
              empty = emptySet(
                service,
                registry,
                c.stale ? { stale: true, since: c.staleSince!, error: c.error! } : FRESH,
              );
            }
            set = empty;
          }
          if (set !== last) {
            last = set;
            subscriber.next(set);
          }
        },
        error: (e) => subscriber.error(e),
        complete: () => subscriber.complete(),
      };
      let ls = listeners.get(service);
      if (ls === undefined) {
        ls = new Set();
        listeners.set(service, ls);
      }
      ls.add(listener);
      count++;
      if (upstream === undefined) start();
      else if (current !== undefined) listener.next(current);
      return () => {
        const mine = listeners.get(service);
        if (mine === undefined || !mine.delete(listener)) return;
        if (mine.size === 0) listeners.delete(service);
        if (--count === 0) stop();
      };
    });
};
