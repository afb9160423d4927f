/**
 * The local, unfiltered copy of a Eureka registry: every application and
 * its instances, decoded (an {@link Instance}, or the problem of one that
 * does not decode), built from a full fetch and updated by deltas, a slice
 * at a time ({@link fullCopySliced}, {@link applyDeltaSliced}). The parsed
 * InstanceInfo objects are not kept: an instance costs its Instance, not
 * the JSON it came from. Immutable with structural sharing: an application
 * whose instances did not change keeps its object, so a per-service view
 * can tell in O(1) that it has nothing to emit.
 *
 * @module
 */
import type { SchedulerLike } from 'rxjs';
import type { DecodeError, ErrorContext, RxdiscoError } from '../../core/errors.js';
import { type Instance, sameInstance } from '../../core/instance.js';
import { Interner } from '../../core/intern.js';
import { runInSlices, SLICE, type SliceBudget } from '../../core/slices.js';
import {
  decodeInstanceInfo,
  decodeKey,
  hashcodeOfCounts,
  type RawApplications,
  serviceName,
} from './codecs.js';
import { parsedInstance, unparsedLength } from './payload.js';

/**
 * An instance that has an `instanceId` but does not decode (nested too
 * deep, too large, a field of the wrong type or breaking a rule of an
 * Instance): its views report `error` instead of an instance. It still
 * counts in the hashcode, with its `status` as sent, as the server counts it.
 */
export interface UnusableInstance {
  readonly id: string;
  readonly status: string;
  readonly error: DecodeError;
}

/**
 * One instance of the copy: decoded (its service is the application's
 * name, lower-cased; its `status` is the one the hashcode counts), or
 * unusable.
 */
export type CopyInstance = Instance | UnusableInstance;

/** True when `i` did not decode. */
export const isUnusable = (i: CopyInstance): i is UnusableInstance => 'error' in i;

/** One application of the copy. */
export interface AppCopy {
  readonly name: string;
  readonly instances: ReadonlyMap<string, CopyInstance>;
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
  /**
   * For a copy a delta made: the `version` of the copy it was made from (not
   * the copy: a chain of copies would keep every one) and the names of the
   * applications whose object differs from it (every other one is the same
   * object), so that a reader of both copies finds the changes in
   * O(changes). Absent for a full fetch.
   */
  readonly changedFrom?: { readonly version: number; readonly apps: readonly string[] };
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

/** What one raw instance of a payload is: its entry in the copy, or a problem. */
interface Visit {
  /** The entry, when the instance has an `instanceId`. */
  entry: CopyInstance | undefined;
  /** `actionType`, for a delta. */
  action: string | undefined;
  /** Why the instance has no entry (no `instanceId`). */
  error: DecodeError | undefined;
}

/**
 * Walks the instances of a payload, a slice at a time, parsing each one
 * left unparsed by `parsePayload` and decoding it into its {@link Visit}.
 * An instance is dropped from the payload once visited, so that the
 * payload shrinks as the copy grows.
 */
class Walk {
  private app = 0;
  private index = 0;
  private readonly intern = new Interner();
  private service = '';
  private readonly visit: Visit = { entry: undefined, action: undefined, error: undefined };

  constructor(
    private readonly body: RawApplications,
    private readonly context: ErrorContext,
    private readonly enter: (name: string) => void,
    private readonly each: (visit: Visit) => void,
    private readonly leave: (name: string) => void,
  ) {}

  /** Visits up to one slice of instances; true when every one was visited. */
  step(slice: SliceBudget): boolean {
    const apps = this.body.apps;
    let n = 0;
    let chars = 0;
    while (this.app < apps.length) {
      const a = apps[this.app]!;
      const name = a.name.toUpperCase();
      if (this.index === 0) {
        this.service = serviceName(name);
        this.enter(name);
      }
      const instances = a.instances as unknown[];
      while (this.index < instances.length) {
        if (n++ >= slice.entries || chars >= slice.chars) return false;
        chars += unparsedLength(instances[this.index]);
        const raw = parsedInstance(instances[this.index]);
        instances[this.index] = undefined; // the parsed instance is not needed again
        this.decode(raw, name, this.index++);
        this.each(this.visit);
      }
      this.leave(name);
      this.app++;
      this.index = 0;
    }
    return true;
  }

  private decode(raw: unknown, app: string, index: number): void {
    const v = this.visit;
    const service = this.service;
    v.action = stringField(raw, 'actionType');
    v.error = undefined;
    const d = decodeInstanceInfo(raw, service, this.context.registry ?? '', this.intern);
    if (d.ok) {
      v.entry = d.value;
      return;
    }
    const rawId = stringField(raw, 'instanceId');
    if (rawId === undefined) {
      // Named after its service: the view of that service reports it.
      const k = decodeKey(raw, `${app}/#${index}`, { ...this.context, service });
      v.entry = undefined;
      v.error = k.ok ? d.error : k.error;
      return;
    }
    const status = this.intern.string(stringField(raw, 'status') ?? 'UNKNOWN');
    v.entry = { id: rawId, status, error: d.error };
  }
}

/**
 * More than one slice of instances: the payload was a long parse, so its
 * first slice waits for a macrotask of its own.
 */
const isBig = (body: RawApplications): boolean => {
  let n = 0;
  for (const a of body.apps) n += a.instances.length;
  return n > SLICE.entries;
};

const WHOLE = { entries: Number.POSITIVE_INFINITY, chars: Number.POSITIVE_INFINITY };

/** A copy being built, a slice at a time. */
interface CopyJob {
  step(slice: SliceBudget): boolean;
  result(): RegistryCopy;
}

const fullJob = (body: RawApplications, context: ErrorContext): CopyJob => {
  const apps = new Map<string, AppCopy>();
  const unkeyed = new Map<string, DecodeError[]>();
  const statusCounts = new Map<string, number>();
  let instances = new Map<string, CopyInstance>();
  let app = '';
  const walk = new Walk(
    body,
    context,
    (name) => {
      app = name;
      instances = new Map<string, CopyInstance>(apps.get(name)?.instances ?? []);
    },
    (v) => {
      if (v.entry !== undefined) instances.set(v.entry.id, v.entry);
      else if (v.error !== undefined) unkeyed.set(app, [...(unkeyed.get(app) ?? []), v.error]);
    },
    (name) => {
      if (instances.size > 0) apps.set(name, { name, instances });
    },
  );
  return {
    step: (slice) => walk.step(slice),
    result: () => {
      for (const app of apps.values())
        for (const i of app.instances.values()) count(statusCounts, i.status, 1);
      return { version: ++versions, apps, unkeyed, statusCounts };
    },
  };
};

/**
 * The copy made of a full `GET /apps`. Consumes `body`: each instance is
 * dropped from it once visited (so the payload shrinks as the copy grows);
 * decode a payload again to use it again.
 */
export const fullCopy = (body: RawApplications, context: ErrorContext): RegistryCopy => {
  const job = fullJob(body, context);
  while (!job.step(WHOLE));
  return job.result();
};

/**
 * {@link fullCopy} in slices of {@link SLICE} instances that yield to the
 * event loop (`timer(0, scheduler)`) between them.
 */
export const fullCopySliced = async (
  body: RawApplications,
  context: ErrorContext,
  scheduler: SchedulerLike,
  signal?: AbortSignal,
): Promise<RegistryCopy> => {
  const job = fullJob(body, context);
  await runInSlices(() => job.step(SLICE), scheduler, signal, isBig(body));
  return job.result();
};

const count = (counts: Map<string, number>, status: string, by: number): void => {
  const n = (counts.get(status) ?? 0) + by;
  if (n === 0) counts.delete(status);
  else counts.set(status, n);
};

const deltaJob = (copy: RegistryCopy, delta: RawApplications, context: ErrorContext): CopyJob => {
  let apps: Map<string, AppCopy> | undefined;
  let counts: Map<string, number> | undefined;
  let current: AppCopy | undefined;
  let instances: Map<string, CopyInstance> | undefined;
  const changed = new Set<string>();
  const walk = new Walk(
    delta,
    context,
    (name) => {
      current = (apps ?? copy.apps).get(name);
      instances = undefined;
    },
    (v) => {
      // An instance without an id cannot be placed: the hashcode check will
      // see the difference and fetch the whole registry.
      const entry = v.entry;
      if (entry === undefined) return;
      const map = instances ?? current?.instances;
      const old = map?.get(entry.id);
      if (v.action === 'DELETED') {
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
    },
    (name) => {
      if (instances === undefined) return;
      apps ??= new Map(copy.apps);
      changed.add(name);
      if (instances.size === 0) apps.delete(name);
      else apps.set(name, { name, instances });
    },
  );
  return {
    step: (slice) => walk.step(slice),
    result: () =>
      apps === undefined
        ? copy
        : {
            version: ++versions,
            apps,
            unkeyed: copy.unkeyed,
            statusCounts: counts ?? copy.statusCounts,
            changedFrom: { version: copy.version, apps: [...changed] },
          },
  };
};

/**
 * Applies a `GET /apps/delta` body: ADDED and MODIFIED replace the
 * instance, DELETED removes it. Returns `copy` itself when nothing changed.
 * An instance replaced by one that decodes to an equal {@link Instance}
 * (a heartbeat, a replication, a field rxdisco does not read) keeps its
 * object: no change for the views. Consumes `delta`, as {@link fullCopy}
 * consumes its payload.
 */
export const applyDelta = (
  copy: RegistryCopy,
  delta: RawApplications,
  context: ErrorContext,
): RegistryCopy => {
  const job = deltaJob(copy, delta, context);
  while (!job.step(WHOLE));
  return job.result();
};

/** {@link applyDelta} in slices that yield to the event loop, as {@link fullCopySliced}. */
export const applyDeltaSliced = async (
  copy: RegistryCopy,
  delta: RawApplications,
  context: ErrorContext,
  scheduler: SchedulerLike,
  signal?: AbortSignal,
): Promise<RegistryCopy> => {
  const job = deltaJob(copy, delta, context);
  await runInSlices(() => job.step(SLICE), scheduler, signal, isBig(delta));
  return job.result();
};

/**
 * The same instance again: an equal Instance, or the same problem with
 * the same status (not reported twice).
 */
export const sameEntry = (old: CopyInstance, next: CopyInstance): boolean => {
  const a = isUnusable(old);
  const b = isUnusable(next);
  if (!a && !b) return sameInstance(old, next);
  return a && b && old.status === next.status && old.error.message === next.error.message;
};

/** Eureka's reconcile hashcode of the copy (every instance, every status). */
export const copyHashcode = (copy: RegistryCopy): string => hashcodeOfCounts(copy.statusCounts);
