/**
 * A registry-wide view for backends without one (`catalog$()` refused):
 * the service list (`services$()`) and one `instances$()` watch per listed
 * service, folded into the same {@link Catalog} values. Only while
 * subscribed (the status page), since it watches every service.
 *
 * @module
 */
import { Observable, type Subscription } from 'rxjs';
import {
  type Catalog,
  type CatalogEvent,
  type CatalogRemoval,
  watchCatalog,
} from '../core/catalog.js';
import type { Discovery } from '../core/discovery.js';
import type { Instance } from '../core/instance.js';
import type { InstanceSet } from '../core/instance-set.js';

interface Watched {
  subscription: Subscription | undefined;
  last: InstanceSet | undefined;
}

/** The upserts and removals that turn `before` into `after` (same service). */
const changesOf = (
  before: InstanceSet | undefined,
  after: InstanceSet | undefined,
): { upserts: Instance[]; removals: CatalogRemoval[] } => {
  const upserts: Instance[] = [];
  const removals: CatalogRemoval[] = [];
  for (const i of after?.instances ?? []) if (before?.get(i.id) !== i) upserts.push(i);
  for (const i of before?.instances ?? []) {
    if (after?.get(i.id) === undefined) removals.push({ service: i.service, id: i.id });
  }
  return { upserts, removals };
};

/**
 * The catalog of `discovery` built from its service list and per-service
 * watches. The first catalog waits for the list and the first set of every
 * service on it. Staleness is not carried over: a service's stale set shows
 * as its last known instances, and the catalog stays fresh.
 */
export const fallbackCatalog = (discovery: Discovery): Observable<Catalog> =>
  watchCatalog(
    discovery.registry,
    () =>
      new Observable<CatalogEvent<never>>((subscriber) => {
        const watched = new Map<string, Watched>();
        const waiting = new Set<string>();
        let listed = false;
        let started = false;

        const snapshotWhenReady = (): void => {
          if (started || !listed || waiting.size > 0) return;
          started = true;
          const instances = [...watched.values()].flatMap((w) => w.last?.instances ?? []);
          subscriber.next({ type: 'snapshot', instances });
        };
        const update = (name: string, set: InstanceSet): void => {
          const w = watched.get(name);
          if (w === undefined) return;
          const before = w.last;
          w.last = set;
          if (!started) {
            waiting.delete(name);
            snapshotWhenReady();
            return;
          }
          const { upserts, removals } = changesOf(before, set);
          if (upserts.length > 0 || removals.length > 0) {
            subscriber.next({ type: 'changes', upserts, removals });
          }
        };
        const drop = (name: string): void => {
          const w = watched.get(name);
          if (w === undefined) return;
          watched.delete(name);
          waiting.delete(name);
          w.subscription?.unsubscribe();
          if (!started) return;
          const { removals } = changesOf(w.last, undefined);
          if (removals.length > 0) subscriber.next({ type: 'changes', upserts: [], removals });
        };

        const names = discovery.services$().subscribe({
          next: (list) => {
            const now = new Set(list.names);
            for (const name of [...watched.keys()]) if (!now.has(name)) drop(name);
            for (const name of list.names) {
              if (watched.has(name)) continue;
              const w: Watched = { subscription: undefined, last: undefined };
              watched.set(name, w);
              waiting.add(name);
              w.subscription = discovery.instances$(name).subscribe({
                next: (set) => update(name, set),
                error: (e: unknown) => subscriber.error(e),
              });
            }
            listed = true;
            snapshotWhenReady();
          },
          error: (e: unknown) => subscriber.error(e),
        });
        return () => {
          names.unsubscribe();
          for (const w of watched.values()) w.subscription?.unsubscribe();
          watched.clear();
        };
      }),
  );
