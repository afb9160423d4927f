/**
 * The namespace-wide watch: one list+watch of every EndpointSlice of the
 * namespace (those labelled `kubernetes.io/service-name`) serving
 * `catalog$()`, and through it every per-service watch past the core's
 * `catalogViewsPast`. A watch event changes one slice, so one service:
 * only that service's slices are merged again and only its instances that
 * changed are sent. A Service with several ports has no single `host:port`
 * per endpoint: its slices are reported and left out of the catalog
 * (`instances$(service, { port })` watches it alone).
 *
 * @module
 */
import { concat, type Observable, of, switchMap } from 'rxjs';
import type { CatalogEvent, CatalogRemoval, CatalogSource } from '../../core/catalog.js';
import { type DecodeError, isConfigError, type RxdiscoError } from '../../core/errors.js';
import { type Instance, sameInstance } from '../../core/instance.js';
import { Interner } from '../../core/intern.js';
import type { KubernetesClient } from './client.js';
import { mergeSlices, type SliceEntry, sliceInstances } from './codecs.js';
import { type ListWatchCursor, type ListWatchTiming, listWatch } from './list-watch.js';
import { expiryTicks } from './source.js';

const SERVICE_LABEL = 'kubernetes.io/service-name';

/**
 * What the catalog session folds, owned by one chain of sessions (each
 * resumes from the last cursor, so mutating it in place is safe and keeps
 * an event O(its service)).
 */
interface CatalogState {
  /** Every slice by name: its service and what it gives. */
  readonly slices: Map<string, { readonly service: string; readonly entry: SliceEntry }>;
  /** The slices of each service. */
  readonly byService: Map<string, Set<string>>;
  /** The instances last sent per service. */
  readonly sent: Map<string, readonly Instance[]>;
  /** Slices holding rxdisco registrations (with expiries). */
  readonly expiring: Set<string>;
  /** Services changed since the last emission. */
  readonly dirty: Set<string>;
  /** True after a list, until its snapshot is sent. */
  listed: boolean;
  problems: RxdiscoError[];
}

const emptyState = (): CatalogState => ({
  slices: new Map(),
  byService: new Map(),
  sent: new Map(),
  expiring: new Set(),
  dirty: new Set(),
  listed: true,
  problems: [],
});

const meta = (o: unknown): { name?: unknown; labels?: unknown } | undefined =>
  (o as { metadata?: { name?: unknown; labels?: unknown } } | null)?.metadata;

const serviceOf = (o: unknown): string | undefined => {
  const v = (meta(o)?.labels as Record<string, unknown> | undefined)?.[SERVICE_LABEL];
  return typeof v === 'string' && v !== '' ? v : undefined;
};

/** The registry-wide source of one namespace. */
export const kubernetesCatalog = (
  client: KubernetesClient,
  namespace: string,
  registry: string,
  timing: ListWatchTiming,
): CatalogSource<unknown> => {
  const path = `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices?labelSelector=${encodeURIComponent(SERVICE_LABEL)}`;
  // Shared by every session of this source: its tables are bounded.
  const intern = new Interner();

  const drop = (s: CatalogState, name: string): void => {
    const had = s.slices.get(name);
    if (had === undefined) return;
    s.slices.delete(name);
    s.expiring.delete(name);
    s.dirty.add(had.service);
    const names = s.byService.get(had.service);
    names?.delete(name);
    if (names?.size === 0) s.byService.delete(had.service);
  };

  /** Folds one slice object into `s`; returns what did not decode. */
  const put = (s: CatalogState, object: unknown): readonly DecodeError[] => {
    const raw = meta(object)?.name;
    const name = typeof raw === 'string' ? raw : undefined;
    const service = serviceOf(object);
    if (name === undefined) return [];
    drop(s, name);
    if (service === undefined) return [];
    let r: ReturnType<typeof sliceInstances>;
    try {
      r = sliceInstances(object, service, undefined, registry, intern);
    } catch (e) {
      // Several ports and none to choose: reported, left out.
      if (isConfigError(e)) {
        s.problems.push(e);
        return [];
      }
      throw e;
    }
    s.dirty.add(service);
    if (!r.ok) return [r.error];
    const entry: SliceEntry =
      r.expiries === undefined
        ? { instances: r.instances }
        : { instances: r.instances, expiries: r.expiries };
    s.slices.set(name, { service, entry });
    if (r.expiries !== undefined) s.expiring.add(name);
    let names = s.byService.get(service);
    if (names === undefined) {
      names = new Set();
      s.byService.set(service, names);
    }
    names.add(name);
    return r.skipped ?? [];
  };

  /** The merged instances of `service` now. */
  const mergedOf = (s: CatalogState, service: string, now: number): Instance[] => {
    const entries = new Map<string, SliceEntry>();
    for (const n of s.byService.get(service) ?? []) {
      const e = s.slices.get(n);
      if (e !== undefined) entries.set(n, e.entry);
    }
    return mergeSlices(entries, now);
  };

  /** The changes of the `services` given, against what was sent; records them as sent. */
  const changesOf = (
    s: CatalogState,
    services: Iterable<string>,
    now: number,
  ): { upserts: Instance[]; removals: CatalogRemoval[] } => {
    const upserts: Instance[] = [];
    const removals: CatalogRemoval[] = [];
    for (const service of services) {
      const next = mergedOf(s, service, now);
      const before = new Map((s.sent.get(service) ?? []).map((i) => [i.id, i]));
      for (const i of next) {
        const had = before.get(i.id);
        if (had === undefined || !sameInstance(had, i)) upserts.push(i);
        before.delete(i.id);
      }
      for (const id of before.keys()) removals.push({ service, id });
      if (next.length === 0) s.sent.delete(service);
      else s.sent.set(service, next);
    }
    return { upserts, removals };
  };

  const take = (s: CatalogState): RxdiscoError[] => {
    const p = s.problems;
    s.problems = [];
    return p;
  };

  return (resume) =>
    listWatch<CatalogState>(
      client,
      path,
      { resource: 'endpointslices.discovery.k8s.io', namespace, context: { registry } },
      {
        listed: (items) => {
          const s = emptyState();
          const skipped: DecodeError[] = [];
          for (const item of items) skipped.push(...put(s, item));
          return { state: s, skipped };
        },
        event: (s, type, object) => {
          if (type === 'DELETED') {
            const name = meta(object)?.name;
            if (typeof name === 'string') drop(s, name);
            return { state: s, skipped: [] };
          }
          return { state: s, skipped: put(s, object) };
        },
      },
      timing,
      resume as ListWatchCursor<CatalogState> | undefined,
    ).pipe(
      switchMap((e): Observable<CatalogEvent<unknown>> => {
        const s = e.cursor.state;
        const now = timing.scheduler.now();
        const extra = {
          ...(e.skipped.length > 0 ? { skipped: e.skipped } : {}),
          ...(s.problems.length > 0 ? { problems: take(s) } : {}),
        };
        let first: CatalogEvent<unknown>;
        if (s.listed) {
          s.listed = false;
          s.dirty.clear();
          s.sent.clear();
          changesOf(s, [...s.byService.keys()], now);
          first = {
            type: 'snapshot',
            instances: [...s.sent.values()].flat(),
            cursor: e.cursor,
            ...extra,
          };
        } else if (e.type === 'alive' && s.dirty.size === 0) {
          first = { type: 'progress', cursor: e.cursor };
        } else {
          const dirty = [...s.dirty];
          s.dirty.clear();
          first = { type: 'changes', ...changesOf(s, dirty, now), cursor: e.cursor, ...extra };
        }
        const expiring = (): Iterable<SliceEntry> =>
          [...s.expiring].flatMap((n) => {
            const x = s.slices.get(n);
            return x === undefined ? [] : [x.entry];
          });
        return concat(
          of(first),
          expiryTicks(expiring, timing.scheduler, (at): CatalogEvent<unknown> => {
            const services = new Set<string>();
            for (const n of s.expiring) {
              const x = s.slices.get(n);
              if (x !== undefined) services.add(x.service);
            }
            return { type: 'changes', ...changesOf(s, services, at), cursor: e.cursor };
          }),
        );
      }),
    );
};
