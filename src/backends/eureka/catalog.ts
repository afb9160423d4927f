/**
 * The registry-wide view of a Eureka backend: a {@link CatalogSource} over
 * the same shared registry copy as the per-service views, so the catalog,
 * every catalog view and every per-service stream are fed by one poller
 * (one full fetch, then one delta per interval, whatever is watched).
 *
 * A session opens with a `snapshot` of every decoded instance of the copy
 * it joins (the poller's latest, replayed), then maps each new copy to the
 * `changes` against the previous one: the applications whose object
 * changed (the copy shares unchanged ones, and a delta's copy names the
 * ones it touched), instance by instance. The
 * instances are the copy's own (one decode path: statuses, zones and
 * metadata exactly as the per-service streams see them); an instance that
 * does not decode is reported once and left out (removed if it decoded
 * before). A poller fault (every peer failed) errors the session with its
 * retryable error: the core marks the catalog stale and opens a new session,
 * which starts a new poller with a full fetch. There is no cursor: Eureka
 * cannot resume, a new session always starts from a snapshot.
 *
 * @module
 */
import { defer, filter, map, type Observable } from 'rxjs';
import type { CatalogEvent, CatalogRemoval, CatalogSource } from '../../core/catalog.js';
import type { DecodeError, RxdiscoError } from '../../core/errors.js';
import { type Instance, sameInstance } from '../../core/instance.js';
import { serviceName } from './codecs.js';
import {
  type AppCopy,
  type CopyInstance,
  isUnusable,
  type RegistryCopy,
  sameEntry,
} from './registry-copy.js';

/** Problems of an event: the copy's notice, if this is the first session to see it. */
const problemsOf = (copy: RegistryCopy): { problems?: readonly RxdiscoError[] } => {
  const problem = copy.notice?.take();
  return problem === undefined ? {} : { problems: [problem] };
};

const snapshotOf = (copy: RegistryCopy): CatalogEvent<never> => {
  const instances: Instance[] = [];
  const skipped: DecodeError[] = [];
  for (const app of copy.apps.values()) {
    for (const i of app.instances.values()) {
      if (isUnusable(i)) skipped.push(i.error);
      else instances.push(i);
    }
  }
  for (const errors of copy.unkeyed.values()) skipped.push(...errors);
  return {
    type: 'snapshot',
    instances,
    ...(skipped.length > 0 ? { skipped } : {}),
    ...problemsOf(copy),
  };
};

/** What changed between two copies, as one `changes` event (undefined: nothing to say). */
const changesOf = (previous: RegistryCopy, next: RegistryCopy): CatalogEvent<never> | undefined => {
  const upserts: Instance[] = [];
  const removals: CatalogRemoval[] = [];
  const skipped: DecodeError[] = [];
  const none: ReadonlyMap<string, CopyInstance> = new Map();
  const diff = (name: string, before: AppCopy | undefined, after: AppCopy | undefined): void => {
    const service = serviceName(name);
    const old = before?.instances ?? none;
    const now = after?.instances ?? none;
    for (const [id, entry] of now) {
      const was = old.get(id);
      if (was === entry) continue;
      if (isUnusable(entry)) {
        // Reported once: not again when a heartbeat or a full fetch brings the same problem.
        if (was === undefined || !sameEntry(was, entry)) skipped.push(entry.error);
        if (was !== undefined && !isUnusable(was)) removals.push({ service, id });
      } else if (was === undefined || isUnusable(was) || !sameInstance(was, entry)) {
        upserts.push(entry);
      }
    }
    for (const [id, was] of old) {
      if (!now.has(id) && !isUnusable(was)) removals.push({ service, id });
    }
  };
  if (next.changedFrom?.version === previous.version) {
    // a delta on the previous copy: only the applications it touched
    for (const name of next.changedFrom.apps)
      diff(name, previous.apps.get(name), next.apps.get(name));
  } else {
    for (const [name, app] of next.apps) {
      const before = previous.apps.get(name);
      if (before !== app) diff(name, before, app);
    }
    for (const [name, app] of previous.apps) {
      if (!next.apps.has(name)) diff(name, app, undefined);
    }
  }
  if (next.unkeyed !== previous.unkeyed) {
    for (const [name, errors] of next.unkeyed) {
      const before = previous.unkeyed.get(name);
      for (const e of errors) {
        if (before?.some((b) => b.message === e.message) !== true) skipped.push(e);
      }
    }
  }
  const problems = problemsOf(next);
  if (upserts.length + removals.length + skipped.length === 0 && problems.problems === undefined) {
    return undefined;
  }
  return {
    type: 'changes',
    upserts,
    removals,
    ...(skipped.length > 0 ? { skipped } : {}),
    ...problems,
  };
};

/**
 * The catalog source of a Eureka backend over its shared registry copies
 * (the poller of `registryPoller`): every session is one more subscriber
 * of the same poller, never a poller of its own.
 */
export const eurekaCatalog =
  (copies: Observable<RegistryCopy>): CatalogSource<unknown> =>
  () =>
    defer(() => {
      let previous: RegistryCopy | undefined;
      return copies.pipe(
        map((copy) => {
          const event = previous === undefined ? snapshotOf(copy) : changesOf(previous, copy);
          previous = copy;
          return event;
        }),
        filter((event): event is CatalogEvent<never> => event !== undefined),
      );
    });
