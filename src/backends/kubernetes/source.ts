/**
 * The watch sources of the Kubernetes backend: a Service's EndpointSlices
 * (label `kubernetes.io/service-name=<svc>`) folded into its instance set,
 * and the Services of the namespace folded into the service names, each on
 * the list+watch loop of `list-watch.ts`.
 *
 * @module
 */
import {
  concat,
  map,
  Observable,
  of,
  type SchedulerLike,
  type Subscription,
  switchMap,
  timer,
} from 'rxjs';
import type { WatchParams } from '../../core/discovery.js';
import { ConfigError, type DecodeError, type ErrorContext } from '../../core/errors.js';
import { Interner } from '../../core/intern.js';
import type { ServiceListEvent, SourceEvent, WatchSource } from '../../core/watch.js';
import type { KubernetesClient } from './client.js';
import { mergeSlices, nextExpiry, type SliceEntry, sliceInstances } from './codecs.js';
import { type ListWatchCursor, type ListWatchTiming, listWatch } from './list-watch.js';
import { isDnsLabel } from './url.js';

/** The Service and namespace `instances$(name)` means: `hello`, or `hello.other`. */
export const serviceRef = (
  name: string,
  namespace: string,
  context: ErrorContext,
): { readonly service: string; readonly namespace: string } => {
  const parts = name.split('.');
  const [service, ns = namespace] = parts;
  if (parts.length > 2 || service === undefined || !isDnsLabel(service) || !isDnsLabel(ns)) {
    throw new ConfigError(
      'service',
      `'${name}' is not a Kubernetes Service name (a DNS label, or <service>.<namespace>)`,
      "name a Service such as 'hello', or 'hello.other' for another namespace",
      context,
    );
  }
  return { service, namespace: ns };
};

const nameOf = (o: unknown): string | undefined => {
  const n = (o as { metadata?: { name?: unknown } } | null)?.metadata?.name;
  return typeof n === 'string' ? n : undefined;
};

type Slices = ReadonlyMap<string, SliceEntry>;

/**
 * `at(now)` each time an rxdisco-registered instance of `entries()` runs out
 * of renewal (it turns DOWN), re-armed from the next expiry; nothing when
 * none is due. Unsubscribing cancels the timer.
 */
export const expiryTicks = <T>(
  entries: () => Iterable<SliceEntry>,
  scheduler: SchedulerLike,
  at: (now: number) => T,
): Observable<T> =>
  new Observable<T>((subscriber) => {
    let pending: Subscription | undefined;
    const arm = (): void => {
      const now = scheduler.now();
      const next = nextExpiry(entries(), now);
      if (next === undefined) return;
      pending = timer(next - now, scheduler).subscribe(() => {
        subscriber.next(at(scheduler.now()));
        arm();
      });
    };
    arm();
    return () => pending?.unsubscribe();
  });

/** The instances of one Service, from its EndpointSlices. */
export const endpointSliceSource = (
  client: KubernetesClient,
  name: string,
  params: WatchParams,
  defaultNamespace: string,
  registry: string,
  timing: ListWatchTiming,
): WatchSource<unknown> => {
  const context: ErrorContext = { registry, service: name };
  const { service, namespace } = serviceRef(name, defaultNamespace, context);
  const wanted = params.port === undefined ? undefined : String(params.port);
  const intern = new Interner();
  const path = `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${service}`)}`;
  const one = (
    object: unknown,
  ): { name: string | undefined; entry?: SliceEntry; skipped: readonly DecodeError[] } => {
    const r = sliceInstances(object, name, wanted, registry, intern);
    if (!r.ok) return { name: r.name, skipped: [r.error] };
    const entry: SliceEntry =
      r.expiries === undefined
        ? { instances: r.instances }
        : { instances: r.instances, expiries: r.expiries };
    return { name: r.name, entry, skipped: r.skipped ?? [] };
  };
  return (resume) =>
    listWatch<Slices>(
      client,
      path,
      { resource: 'endpointslices.discovery.k8s.io', namespace, context },
      {
        listed: (items) => {
          const slices = new Map<string, SliceEntry>();
          const skipped: DecodeError[] = [];
          for (const item of items) {
            const r = one(item);
            skipped.push(...r.skipped);
            if (r.name !== undefined && r.entry !== undefined) slices.set(r.name, r.entry);
          }
          return { state: slices, skipped };
        },
        event: (state, type, object) => {
          const next = new Map(state);
          if (type === 'DELETED') {
            const n = nameOf(object);
            if (n !== undefined) next.delete(n);
            return { state: next, skipped: [] };
          }
          const r = one(object);
          // A slice that no longer decodes leaves the set (its last good content is not kept).
          if (r.name !== undefined) {
            if (r.entry === undefined) next.delete(r.name);
            else next.set(r.name, r.entry);
          }
          return { state: next, skipped: r.skipped };
        },
      },
      timing,
      resume as ListWatchCursor<Slices> | undefined,
    ).pipe(
      // Each event re-arms the expiry timer of the registrations in its state.
      switchMap((e): Observable<SourceEvent<unknown>> => {
        const slices = e.cursor.state;
        const snapshot = (now: number): SourceEvent<unknown> => ({
          type: 'snapshot',
          instances: mergeSlices(slices, now),
          cursor: e.cursor,
        });
        const first: SourceEvent<unknown> =
          e.type === 'alive'
            ? { type: 'progress', cursor: e.cursor }
            : {
                ...snapshot(timing.scheduler.now()),
                ...(e.skipped.length > 0 ? { skipped: e.skipped } : {}),
              };
        return concat(
          of(first),
          expiryTicks(() => slices.values(), timing.scheduler, snapshot),
        );
      }),
    );
};

/** The names of the Services of `namespace`. */
export const servicesSource =
  (
    client: KubernetesClient,
    namespace: string,
    registry: string,
    timing: ListWatchTiming,
  ): ((resume: unknown) => Observable<ServiceListEvent<unknown>>) =>
  (resume) =>
    listWatch<ReadonlySet<string>>(
      client,
      `/api/v1/namespaces/${namespace}/services`,
      { resource: 'services', namespace, context: { registry } },
      {
        listed: (items) => ({
          state: new Set(items.map(nameOf).filter((n): n is string => n !== undefined)),
          skipped: [],
        }),
        event: (state, type, object) => {
          const n = nameOf(object);
          if (n === undefined) return { state, skipped: [] };
          const next = new Set(state);
          if (type === 'DELETED') next.delete(n);
          else next.add(n);
          return { state: next, skipped: [] };
        },
      },
      timing,
      resume as ListWatchCursor<ReadonlySet<string>> | undefined,
    ).pipe(map((e) => ({ names: [...e.cursor.state], cursor: e.cursor })));
