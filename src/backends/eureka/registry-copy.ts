/**
 * The local, unfiltered copy of a Eureka registry: every application and
 * instance as the server sent it (raw, decoded later per service view),
 * built from a full fetch and updated by deltas. Immutable with structural
 * sharing: an application whose instances did not change keeps its object,
 * so a per-service view can tell in O(1) that it has nothing to emit.
 *
 * @module
 */
import type { DecodeError, ErrorContext, RxdiscoError } from '../../core/errors.js';
import { decodeKey, hashcodeOfCounts, type RawApplications, serviceName } from './codecs.js';

/** One instance of the copy: its key fields and the raw InstanceInfo. */
export interface RawInstance {
  readonly id: string;
  /** The status string as sent, counted in the hashcode. */
  readonly status: string;
  /**
   * The InstanceInfo object as received (decoded by the service views);
   * undefined when it is not kept (see `error`).
   */
  readonly raw: unknown;
  /**
   * Why the instance is not kept (nested too deep, too large, key fields of
   * the wrong type): its views report it instead of decoding it. It still
   * counts in the hashcode, as the server counts it.
   */
  readonly error?: DecodeError;
}

/** One application of the copy. */
export interface AppCopy {
  readonly name: string;
  readonly instances: ReadonlyMap<string, RawInstance>;
}

/** The whole registry as last known. */
export interface RegistryCopy {
  /** Increases with every change of the copy. */
  readonly version: number;
  /** Applications by upper-case name; only applications with instances. */
  readonly apps: ReadonlyMap<string, AppCopy>;
  /** Instances that could not even be keyed (no instanceId), by application. */
  readonly unkeyed: ReadonlyMap<string, readonly DecodeError[]>;
  /**
   * How many instances have each status, over every application: what
   * Eureka's reconcile hashcode counts, kept up to date by each delta so
   * that checking a delta does not walk the whole registry.
   */
  readonly statusCounts: ReadonlyMap<string, number>;
  /** A problem of the registry to report once, by the first view that sees this copy. */
  readonly notice?: Notice;
}

/** A problem reported once whichever view sees it first: `take()` gives it the first time only. */
export interface Notice {
  take(): RxdiscoError | undefined;
}

/** A {@link Notice} of `problem`. */
export const notice = (problem: RxdiscoError): Notice => {
  let taken = false;
  return {
    take: () => {
      if (taken) return undefined;
      taken = true;
      return problem;
    },
  };
};

let versions = 0;

/** A string field of a raw object, read without decoding it. */
const stringField = (raw: unknown, field: string): string | undefined => {
  const v =
    typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>)[field] : null;
  return typeof v === 'string' ? v : undefined;
};

/**
 * The copy's entry for one raw instance and its delta action. An instance
 * that does not decode but has an `instanceId` is placed with its `error`
 * (not kept, still counted); one without an id only has an `error`.
 */
const keyOf = (
  raw: unknown,
  app: string,
  index: number,
  context: ErrorContext,
): { entry?: RawInstance; action?: string | undefined; error?: DecodeError } => {
  const rawId = stringField(raw, 'instanceId');
  // Named after its service: the view of that service reports it.
  const d = decodeKey(raw, `${app}/${rawId ?? `#${index}`}`, {
    ...context,
    service: serviceName(app),
  });
  if (!d.ok) {
    if (rawId === undefined) return { error: d.error };
    const status = stringField(raw, 'status') ?? 'UNKNOWN';
    return {
      entry: { id: rawId, status, raw: undefined, error: d.error },
      action: stringField(raw, 'actionType'),
      error: d.error,
    };
  }
  return {
    entry: { id: d.value.instanceId, status: d.value.status ?? 'UNKNOWN', raw },
    action: d.value.actionType,
  };
};

/** The copy made of a full `GET /apps`. */
export const fullCopy = (body: RawApplications, context: ErrorContext): RegistryCopy => {
  const apps = new Map<string, AppCopy>();
  const unkeyed = new Map<string, DecodeError[]>();
  for (const a of body.apps) {
    const name = a.name.toUpperCase();
    const instances = new Map<string, RawInstance>(apps.get(name)?.instances ?? []);
    a.instances.forEach((raw, index) => {
      const k = keyOf(raw, name, index, context);
      if (k.entry !== undefined) instances.set(k.entry.id, k.entry);
      else if (k.error !== undefined) unkeyed.set(name, [...(unkeyed.get(name) ?? []), k.error]);
    });
    if (instances.size > 0) apps.set(name, { name, instances });
  }
  const statusCounts = new Map<string, number>();
  for (const app of apps.values())
    for (const i of app.instances.values()) count(statusCounts, i.status, 1);
  return { version: ++versions, apps, unkeyed, statusCounts };
};

const count = (counts: Map<string, number>, status: string, by: number): void => {
  const n = (counts.get(status) ?? 0) + by;
  if (n === 0) counts.delete(status);
  else counts.set(status, n);
};

/**
 * Applies a `GET /apps/delta` body: ADDED and MODIFIED replace the
 * instance, DELETED removes it. Returns `copy` itself when nothing changed.
 * An instance that was replaced by an equal one (same JSON) keeps its
 * object, so views do not re-decode it.
 */
export const applyDelta = (
  copy: RegistryCopy,
  delta: RawApplications,
  context: ErrorContext,
): RegistryCopy => {
  let apps: Map<string, AppCopy> | undefined;
  let counts: Map<string, number> | undefined;
  for (const a of delta.apps) {
    const name = a.name.toUpperCase();
    const current = (apps ?? copy.apps).get(name);
    let instances: Map<string, RawInstance> | undefined;
    a.instances.forEach((raw, index) => {
      const k = keyOf(raw, name, index, context);
      // An instance without an id cannot be placed: the hashcode check will
      // see the difference and fetch the whole registry.
      const entry = k.entry;
      if (entry === undefined) return;
      const map = instances ?? current?.instances;
      const old = map?.get(entry.id);
      if (k.action === 'DELETED') {
        if (old === undefined) return;
        instances ??= new Map(current?.instances ?? []);
        instances.delete(entry.id);
        counts ??= new Map(copy.statusCounts);
        count(counts, old.status, -1);
        return;
      }
      if (old !== undefined && sameEntry(old, entry)) return;
      instances ??= new Map(current?.instances ?? []);
      instances.set(entry.id, entry);
      counts ??= new Map(copy.statusCounts);
      if (old !== undefined) count(counts, old.status, -1);
      count(counts, entry.status, 1);
    });
    if (instances === undefined) continue;
    apps ??= new Map(copy.apps);
    if (instances.size === 0) apps.delete(name);
    else apps.set(name, { name, instances });
  }
  return apps === undefined
    ? copy
    : {
        version: ++versions,
        apps,
        unkeyed: copy.unkeyed,
        statusCounts: counts ?? copy.statusCounts,
      };
};

/** Fields that change on every heartbeat or replication and mean nothing to a view. */
const VOLATILE = new Set([
  'actionType',
  'lastUpdatedTimestamp',
  'leaseInfo',
  'isCoordinatingDiscoveryServer',
]);

const NOTHING: ReadonlySet<string> = new Set();

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** Deep equality of parsed JSON values, without building strings; `ignore`d keys at the top level. */
const sameValue = (a: unknown, b: unknown, ignore = NOTHING): boolean => {
  if (a === b) return true;
  if (!isObject(a) || !isObject(b) || Array.isArray(a) !== Array.isArray(b)) return false;
  let fields = 0;
  for (const k in a) {
    if (ignore.has(k)) continue;
    fields++;
    if (!sameValue(a[k], b[k])) return false;
  }
  for (const k in b) if (!ignore.has(k)) fields--;
  return fields === 0;
};

/** Equal InstanceInfo objects, ignoring {@link VOLATILE} fields. */
const sameJson = (a: unknown, b: unknown): boolean => sameValue(a, b, VOLATILE);

/**
 * The same instance again: equal kept objects, or the same problem with
 * the same status (not reported twice). `sameValue` recurses: both kept
 * objects passed the entry limits, so at most 32 levels.
 */
const sameEntry = (old: RawInstance, next: RawInstance): boolean =>
  old.error === undefined && next.error === undefined
    ? sameJson(old.raw, next.raw)
    : old.error !== undefined &&
      next.error !== undefined &&
      old.status === next.status &&
      old.error.message === next.error.message;

/** Eureka's reconcile hashcode of the copy (every instance, every status). */
export const copyHashcode = (copy: RegistryCopy): string => hashcodeOfCounts(copy.statusCounts);
