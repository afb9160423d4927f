/**
 * The etcd backend's watch sources: the instances of one service (the keys
 * under `<prefix><service>/`, decoded per key) and the service names (the
 * first key segments under `<prefix>`), both on {@link watchPrefix}.
 *
 * @module
 */
import type { IEvent, IKeyValue } from 'etcd3';
import { Observable } from 'rxjs';
import type { CatalogEvent, CatalogRemoval, CatalogSource } from '../../core/catalog.js';
import type { DecodeError } from '../../core/errors.js';
import type { Instance } from '../../core/instance.js';
import { Interner } from '../../core/intern.js';
import type { ServiceListEvent, SourceEvent, WatchSource } from '../../core/watch.js';
import { decodeEntry, parseKey, serviceOfKey } from './codecs.js';
import { type EtcdCursor, type PrefixWatchDeps, watchPrefix } from './prefix-watch.js';

const isCursor = (c: unknown): c is EtcdCursor =>
  typeof c === 'object' &&
  c !== null &&
  typeof (c as EtcdCursor).revision === 'number' &&
  typeof (c as EtcdCursor).keys === 'number';

type Decoder = (
  kv: IKeyValue,
) => { id: string; service: string; instance?: Instance; skipped?: DecodeError } | undefined;

const decoder = (prefix: string, registry: string): Decoder => {
  // One per session: equal tags, metadata and zones shared among its instances.
  const intern = new Interner();
  return (kv) => {
    const entry = parseKey(prefix, kv.key.toString());
    if (entry === undefined) return undefined;
    const d = decodeEntry(entry, kv.value.toString('utf8'), registry, intern);
    return d.ok
      ? { id: entry.id, service: entry.service, instance: d.value }
      : { id: entry.id, service: entry.service, skipped: d.error };
  };
};

/** The instances of a range read, and the keys that did not decode. */
const decodeAll = (
  kvs: readonly IKeyValue[],
  decode: Decoder,
): { instances: Instance[]; skipped: DecodeError[] } => {
  const instances: Instance[] = [];
  const skipped: DecodeError[] = [];
  for (const kv of kvs) {
    const d = decode(kv);
    if (d?.instance) instances.push(d.instance);
    if (d?.skipped) skipped.push(d.skipped);
  }
  return { instances, skipped };
};

/**
 * The watch source of `service`: a snapshot of `<prefix><service>/` at
 * revision R, then changes from R + 1, each with the cursor to resume from.
 */
export const etcdSource =
  (
    deps: PrefixWatchDeps,
    prefix: string,
    service: string,
    registry: string,
  ): WatchSource<unknown> =>
  (resume) =>
    new Observable<SourceEvent<EtcdCursor>>((subscriber) => {
      const decode = decoder(prefix, registry);
      return watchPrefix(deps, `${prefix}${service}/`, isCursor(resume) ? resume : undefined, {
        snapshot: (kvs, cursor) =>
          subscriber.next({ type: 'snapshot', ...decodeAll(kvs, decode), cursor }),
        events: (events: readonly IEvent[], cursor) => {
          // The last event of a key in a response wins.
          const last = new Map<string, Instance | null>();
          const skipped: DecodeError[] = [];
          for (const e of events) {
            if (e.type === 'Delete') {
              const entry = parseKey(prefix, e.kv.key.toString());
              if (entry !== undefined) last.set(entry.id, null);
              continue;
            }
            const d = decode(e.kv);
            if (d === undefined) continue;
            last.set(d.id, d.instance ?? null);
            if (d.skipped) skipped.push(d.skipped);
          }
          const upserts: Instance[] = [];
          const removals: string[] = [];
          for (const [id, i] of last) {
            if (i === null) removals.push(id);
            else upserts.push(i);
          }
          subscriber.next({
            type: 'changes',
            upserts,
            removals,
            cursor,
            ...(skipped.length > 0 ? { skipped } : {}),
          });
        },
        progress: (cursor) => subscriber.next({ type: 'progress', cursor }),
        fail: (e) => subscriber.error(e),
      });
    });

/**
 * The registry-wide source: one range read of the whole prefix at revision
 * R, then one watch of the whole prefix from R + 1 (resumed from the cursor;
 * a compacted start re-reads the prefix, as {@link watchPrefix} does for a
 * service). Keys that are not `<prefix><service>/<id>` are ignored.
 */
export const etcdCatalog =
  (deps: PrefixWatchDeps, prefix: string, registry: string): CatalogSource<unknown> =>
  (resume) =>
    new Observable<CatalogEvent<EtcdCursor>>((subscriber) => {
      const decode = decoder(prefix, registry);
      return watchPrefix(deps, prefix, isCursor(resume) ? resume : undefined, {
        snapshot: (kvs, cursor) =>
          subscriber.next({ type: 'snapshot', ...decodeAll(kvs, decode), cursor }),
        events: (events: readonly IEvent[], cursor) => {
          // The last event of a key in a response wins.
          const last = new Map<string, Instance | CatalogRemoval>();
          const skipped: DecodeError[] = [];
          for (const e of events) {
            const key = e.kv.key.toString();
            if (e.type === 'Delete') {
              const entry = parseKey(prefix, key);
              if (entry !== undefined) last.set(key, { service: entry.service, id: entry.id });
              continue;
            }
            const d = decode(e.kv);
            if (d === undefined) continue;
            last.set(key, d.instance ?? { service: d.service, id: d.id });
            if (d.skipped) skipped.push(d.skipped);
          }
          const upserts: Instance[] = [];
          const removals: CatalogRemoval[] = [];
          for (const v of last.values()) {
            if ('host' in v) upserts.push(v);
            else removals.push(v);
          }
          subscriber.next({
            type: 'changes',
            upserts,
            removals,
            cursor,
            ...(skipped.length > 0 ? { skipped } : {}),
          });
        },
        progress: (cursor) => subscriber.next({ type: 'progress', cursor }),
        fail: (e) => subscriber.error(e),
      });
    });

/**
 * The service-name source: every key under `prefix`, counted per service.
 * It always starts with a read (the list is small and cheap to re-read).
 */
export const etcdServices =
  (deps: PrefixWatchDeps, prefix: string) =>
  (_resume: unknown): Observable<ServiceListEvent<number>> =>
    new Observable<ServiceListEvent<number>>((subscriber) => {
      const counts = new Map<string, number>();
      const keys = new Set<string>();
      const add = (key: string): void => {
        const s = serviceOfKey(prefix, key);
        if (s === undefined || keys.has(key)) return;
        keys.add(key);
        counts.set(s, (counts.get(s) ?? 0) + 1);
      };
      const remove = (key: string): void => {
        const s = serviceOfKey(prefix, key);
        if (s === undefined || !keys.delete(key)) return;
        const n = (counts.get(s) ?? 1) - 1;
        if (n === 0) counts.delete(s);
        else counts.set(s, n);
      };
      const emit = (cursor: EtcdCursor): void =>
        subscriber.next({ names: [...counts.keys()], cursor: cursor.revision });
      return watchPrefix(deps, prefix, undefined, {
        snapshot: (kvs, cursor) => {
          keys.clear();
          counts.clear();
          for (const kv of kvs) add(kv.key.toString());
          emit(cursor);
        },
        events: (events, cursor) => {
          for (const e of events) {
            if (e.type === 'Delete') remove(e.kv.key.toString());
            else add(e.kv.key.toString());
          }
          emit(cursor);
        },
        progress: emit,
        fail: (e) => subscriber.error(e),
      });
    });
