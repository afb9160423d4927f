import { Observable } from 'rxjs';
import type { CatalogEvent, CatalogSource } from '../../core/catalog.js';
import { decodeKeyedInstance } from '../../core/codecs.js';
import type { DecodeError } from '../../core/errors.js';
import type { Instance } from '../../core/instance.js';
import { Interner } from '../../core/intern.js';
import type { ServiceListEvent, SourceEvent, WatchSource } from '../../core/watch.js';
import type { MemoryEntry, MemoryRegistry } from './store.js';

/**
 * Decodes one stored value. With `intern` (one per watch session), equal
 * tags, metadata and zones are shared among the session's instances.
 */
const decodeEntry = (
  entry: { readonly id: string; readonly value: unknown },
  service: string,
  registry: string,
  intern: Interner,
): { instance?: Instance; skipped?: DecodeError } => {
  const d = decodeKeyedInstance(
    entry.value,
    { key: `${service}/${entry.id}`, service, id: entry.id },
    registry,
    intern,
  );
  return d.ok ? { instance: d.value } : { skipped: d.error };
};

const snapshotOf = (
  entries: readonly MemoryEntry[],
  service: string,
  registry: string,
  intern: Interner,
) => {
  const instances: Instance[] = [];
  const skipped: DecodeError[] = [];
  for (const e of entries) {
    const r = decodeEntry(e, service, registry, intern);
    if (r.instance) instances.push(r.instance);
    if (r.skipped) skipped.push(r.skipped);
  }
  return { instances, skipped };
};

/**
 * The memory backend's watch source: a read at revision R then a watch from
 * R + 1; resumes from the cursor, or re-reads when it was compacted. The
 * store is synchronous, so nothing can compact between the read (or the
 * check of the cursor) and the watch; a fault (an outage) thrown here
 * errors the session, which the core retries.
 */
export const memorySource =
  (store: MemoryRegistry, service: string, registry: string): WatchSource<unknown> =>
  (resume) =>
    new Observable<SourceEvent<number>>((subscriber) => {
      const intern = new Interner();
      let from = typeof resume === 'number' ? resume : undefined;
      if (from === undefined || from <= store.compactedRevision) {
        const { revision, entries } = store.read(service);
        const { instances, skipped } = snapshotOf(entries, service, registry, intern);
        subscriber.next({ type: 'snapshot', instances, skipped, cursor: revision + 1 });
        from = revision + 1;
      }
      const stop = store.watch(service, from, {
        change: (c) => {
          if (c.deleted) {
            subscriber.next({
              type: 'changes',
              upserts: [],
              removals: [c.id],
              cursor: c.revision + 1,
            });
            return;
          }
          const r = decodeEntry(c, service, registry, intern);
          subscriber.next({
            type: 'changes',
            upserts: r.instance ? [r.instance] : [],
            removals: r.instance ? [] : [c.id],
            cursor: c.revision + 1,
            ...(r.skipped ? { skipped: [r.skipped] } : {}),
          });
        },
        fail: (e) => subscriber.error(e),
      });
      // Established: say so, so that a resumed session with nothing new clears staleness.
      subscriber.next({ type: 'progress', cursor: store.revision + 1 });
      return stop;
    });

/** The memory backend's service-name source. */
export const memoryServices =
  (store: MemoryRegistry) =>
  (_resume: unknown): Observable<ServiceListEvent<number>> =>
    new Observable<ServiceListEvent<number>>((subscriber) => {
      const { revision, names } = store.serviceNames();
      subscriber.next({ names, cursor: revision + 1 });
      return store.watch(null, revision + 1, {
        change: () => subscriber.next({ names: store.serviceNames().names }),
        fail: (e) => subscriber.error(e),
      });
    });

/**
 * The memory backend's registry-wide source: one read of every service at
 * revision R, then one watch of the whole store from R + 1 (resumed from
 * the cursor, or a re-read when it was compacted).
 */
export const memoryCatalog =
  (store: MemoryRegistry, registry: string): CatalogSource<unknown> =>
  (resume) =>
    new Observable<CatalogEvent<number>>((subscriber) => {
      const intern = new Interner();
      let from = typeof resume === 'number' ? resume : undefined;
      if (from === undefined || from <= store.compactedRevision) {
        const { revision, services } = store.readAll();
        const instances: Instance[] = [];
        const skipped: DecodeError[] = [];
        for (const [service, entries] of services) {
          const s = snapshotOf(entries, service, registry, intern);
          instances.push(...s.instances);
          skipped.push(...s.skipped);
        }
        subscriber.next({ type: 'snapshot', instances, skipped, cursor: revision + 1 });
        from = revision + 1;
      }
      const stop = store.watch(null, from, {
        change: (c) => {
          const removal = { service: c.service, id: c.id };
          if (c.deleted) {
            subscriber.next({
              type: 'changes',
              upserts: [],
              removals: [removal],
              cursor: c.revision + 1,
            });
            return;
          }
          const r = decodeEntry(c, c.service, registry, intern);
          subscriber.next({
            type: 'changes',
            upserts: r.instance ? [r.instance] : [],
            removals: r.instance ? [] : [removal],
            cursor: c.revision + 1,
            ...(r.skipped ? { skipped: [r.skipped] } : {}),
          });
        },
        fail: (e) => subscriber.error(e),
      });
      subscriber.next({ type: 'progress', cursor: store.revision + 1 });
      return stop;
    });
