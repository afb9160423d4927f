import type { RxdiscoError } from './errors.js';
import { type Instance, sameInstance } from './instance.js';

/** One instance whose fields changed between two sets. */
export interface InstanceUpdate {
  readonly previous: Instance;
  readonly current: Instance;
}

/**
 * What changed from the set whose {@link InstanceSet.version} is `from` to
 * this one. Each list is sorted by id and frozen. Lets `diff()` work in O(changes) and
 * views test only what changed.
 */
export interface SetDelta {
  readonly from: number;
  readonly added: readonly Instance[];
  readonly removed: readonly Instance[];
  readonly updated: readonly InstanceUpdate[];
}

interface SetFields {
  /** The service these instances belong to. */
  readonly service: string;
  /** The registry they came from, as a redacted URL. */
  readonly registry: string;
  /** The instances, sorted by id (code-unit order), without duplicate ids. Frozen. */
  readonly instances: readonly Instance[];
  /** Number of instances. */
  readonly size: number;
  /** A process-wide unique number for this set object. */
  readonly version: number;
  /** The change from an earlier set, when this set was derived from one. */
  readonly delta: SetDelta | undefined;
  /** The instance with this id, in O(log n). */
  get(id: string): Instance | undefined;
}

/** A set read from a registry that is reachable now. */
export interface FreshInstanceSet extends SetFields {
  readonly stale: false;
  readonly staleSince: undefined;
  readonly error: undefined;
}

/**
 * The last known set of a registry that is unreachable now: shown so that
 * callers keep working, marked so that they can tell.
 */
export interface StaleInstanceSet extends SetFields {
  readonly stale: true;
  /** Epoch milliseconds since when the registry is unreachable. */
  readonly staleSince: number;
  /** The fault that made the set stale. */
  readonly error: RxdiscoError;
}

/**
 * The live instances of one service: immutable, sorted by id, fresh or stale.
 * Narrow on `stale` to reach `staleSince` and `error`.
 */
export type InstanceSet = FreshInstanceSet | StaleInstanceSet;

/** Whether a set is fresh or stale, and why. */
export type Staleness =
  | { readonly stale: false }
  | { readonly stale: true; readonly since: number; readonly error: RxdiscoError };

const FRESH: Staleness = Object.freeze({ stale: false });
const NO_INSTANCES: readonly Instance[] = Object.freeze([]);
const NO_UPDATES: readonly InstanceUpdate[] = Object.freeze([]);

let nextVersion = 1;

/** Code-unit order of ids: stable across platforms and locales. */
export const compareIds = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

class Snapshot implements SetFields {
  readonly version = nextVersion++;
  readonly stale: boolean;
  readonly staleSince: number | undefined;
  readonly error: RxdiscoError | undefined;

  constructor(
    readonly service: string,
    readonly registry: string,
    readonly instances: readonly Instance[],
    staleness: Staleness,
    readonly delta: SetDelta | undefined,
  ) {
    this.stale = staleness.stale;
    this.staleSince = staleness.stale ? staleness.since : undefined;
    this.error = staleness.stale ? staleness.error : undefined;
    Object.freeze(this);
  }

  get size(): number {
    return this.instances.length;
  }

  get(id: string): Instance | undefined {
    const list = this.instances;
    let lo = 0;
    let hi = list.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const candidate = list[mid]!;
      if (candidate.id === id) return candidate;
      if (candidate.id < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }
}

const build = (
  service: string,
  registry: string,
  sorted: readonly Instance[],
  staleness: Staleness,
  delta: SetDelta | undefined,
): InstanceSet =>
  new Snapshot(
    service,
    registry,
    sorted.length === 0 ? NO_INSTANCES : Object.freeze(sorted),
    staleness,
    delta,
  ) as unknown as InstanceSet;

/** The staleness of a set, as a value. */
export const stalenessOf = (set: InstanceSet): Staleness =>
  set.stale ? { stale: true, since: set.staleSince, error: set.error } : FRESH;

/**
 * Builds a fresh set from instances in any order. When two share an id, the
 * last one wins.
 *
 * @example
 * ```ts
 * const set = instanceSet('hello', 'memory://', [a, b]);
 * ```
 */
export const instanceSet = (
  service: string,
  registry: string,
  instances: Iterable<Instance>,
  staleness: Staleness = FRESH,
): InstanceSet => {
  const byId = new Map<string, Instance>();
  for (const i of instances) byId.set(i.id, i);
  const sorted = [...byId.values()].sort((a, b) => compareIds(a.id, b.id));
  return build(service, registry, sorted, staleness, undefined);
};

/** An empty fresh (or, with `staleness`, stale) set. */
export const emptySet = (
  service: string,
  registry: string,
  staleness: Staleness = FRESH,
): InstanceSet => build(service, registry, NO_INSTANCES, staleness, undefined);

const sameStaleness = (set: InstanceSet, staleness: Staleness): boolean =>
  set.stale === staleness.stale &&
  (!set.stale ||
    (staleness.stale && set.error === staleness.error && set.staleSince === staleness.since));

/**
 * Applies upserts and removals to `previous`. Returns `previous` itself when
 * nothing changes in effect (same instances, same staleness). Costs
 * O(n + k log k) for k changes, and records the delta.
 */
export const applyChanges = (
  previous: InstanceSet,
  upserts: readonly Instance[],
  removedIds: readonly string[],
  staleness: Staleness = FRESH,
): InstanceSet => {
  const changes = new Map<string, Instance | null>();
  for (const id of removedIds) changes.set(id, null);
  for (const i of upserts) changes.set(i.id, i);
  const added: Instance[] = [];
  const removed: Instance[] = [];
  const updated: InstanceUpdate[] = [];
  for (const [id, next] of changes) {
    const old = previous.get(id);
    if (next === null) {
      if (old !== undefined) removed.push(old);
    } else if (old === undefined) {
      added.push(next);
    } else if (!sameInstance(old, next)) {
      updated.push({ previous: old, current: next });
    }
  }
  if (added.length + removed.length + updated.length === 0) {
    return sameStaleness(previous, staleness) ? previous : restale(previous, staleness);
  }
  let kept: Instance[];
  if (removed.length + updated.length === 0) {
    kept = previous.instances as Instance[];
  } else {
    const replace = new Map<string, Instance | null>();
    for (const r of removed) replace.set(r.id, null);
    for (const u of updated) replace.set(u.current.id, u.current);
    kept = [];
    for (const i of previous.instances) {
      const r = replace.get(i.id);
      if (r === undefined) kept.push(i);
      else if (r !== null) kept.push(r);
    }
  }
  const sorted = added.length === 0 ? kept : mergeSorted(kept, added);
  removed.sort((a, b) => compareIds(a.id, b.id));
  updated.sort((a, b) => compareIds(a.current.id, b.current.id));
  return build(previous.service, previous.registry, sorted, staleness, {
    from: previous.version,
    added: Object.freeze(added),
    removed: Object.freeze(removed),
    updated: Object.freeze(updated),
  });
};

const mergeSorted = (sorted: readonly Instance[], extra: Instance[]): Instance[] => {
  extra.sort((a, b) => compareIds(a.id, b.id));
  const out = new Array<Instance>(sorted.length + extra.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < sorted.length && j < extra.length) {
    out[k++] = compareIds(sorted[i]!.id, extra[j]!.id) <= 0 ? sorted[i++]! : extra[j++]!;
  }
  while (i < sorted.length) out[k++] = sorted[i++]!;
  while (j < extra.length) out[k++] = extra[j++]!;
  return out;
};

/**
 * Replaces the whole content of `previous` with `instances` (a full re-read),
 * recording what changed. Returns `previous` when nothing changed in effect.
 */
export const replaceAll = (
  previous: InstanceSet,
  instances: Iterable<Instance>,
  staleness: Staleness = FRESH,
): InstanceSet => {
  const next = new Map<string, Instance>();
  for (const i of instances) next.set(i.id, i);
  const removedIds: string[] = [];
  for (const old of previous.instances) if (!next.has(old.id)) removedIds.push(old.id);
  return applyChanges(previous, [...next.values()], removedIds, staleness);
};

/** The same instances with another staleness (a new set whose delta is empty). */
export const restale = (set: InstanceSet, staleness: Staleness): InstanceSet =>
  sameStaleness(set, staleness)
    ? set
    : build(set.service, set.registry, set.instances, staleness, {
        from: set.version,
        added: NO_INSTANCES,
        removed: NO_INSTANCES,
        updated: NO_UPDATES,
      });

/**
 * A view of `set` keeping the instances that satisfy `keep`. When `previous`
 * is the view of the set `set.delta.from`, `keep` is called only on the
 * changed instances (the view's array is then copied once, O(n));
 * otherwise it is rebuilt. Returns `previous` when nothing
 * changed in effect.
 */
export const filterSet = (
  set: InstanceSet,
  keep: (i: Instance) => boolean,
  previous: { readonly input: InstanceSet; readonly output: InstanceSet } | undefined,
): InstanceSet => {
  const staleness = stalenessOf(set);
  if (
    previous !== undefined &&
    set.delta !== undefined &&
    set.delta.from === previous.input.version
  ) {
    const upserts: Instance[] = [];
    const removals: string[] = [];
    for (const a of set.delta.added) if (keep(a)) upserts.push(a);
    for (const r of set.delta.removed) removals.push(r.id);
    for (const u of set.delta.updated) {
      if (keep(u.current)) upserts.push(u.current);
      else removals.push(u.current.id);
    }
    return applyChanges(previous.output, upserts, removals, staleness);
  }
  const kept = set.instances.filter(keep);
  if (previous === undefined) return build(set.service, set.registry, kept, staleness, undefined);
  return replaceAll(previous.output, kept, staleness);
};
