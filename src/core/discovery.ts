/**
 * The {@link Discovery} interface every registry offers, and
 * {@link createDiscovery}, which builds it from a {@link Backend}: sharing,
 * retries, staleness, registration lifecycle and shutdown live here once.
 *
 * @module
 */
import {
  asyncScheduler,
  defer,
  finalize,
  NEVER,
  Observable,
  type SchedulerLike,
  Subject,
  takeUntil,
} from 'rxjs';
import type { BackoffPolicy } from './backoff.js';
import {
  type Catalog,
  type CatalogSource,
  type CatalogViews,
  catalogViews,
  handOver,
  watchCatalog,
} from './catalog.js';
import {
  ConfigError,
  closedError,
  isDecodeError,
  isRxdiscoError,
  type RxdiscoError,
} from './errors.js';
import { checkServiceName, createInstance, type InstanceSpec } from './instance.js';
import type { InstanceSet } from './instance-set.js';
import { durationOption, numberOption } from './options.js';
import {
  PendingWork,
  type RegisterOptions,
  type Registrar,
  type RegistrationEvent,
  registration,
  resolveTimes,
} from './registration.js';
import {
  type ServiceList,
  type ServiceListEvent,
  shareWatch,
  type WatchSource,
  type WatchTuning,
  watchInstances,
  watchServiceList,
} from './watch.js';

/** Backend-specific options of `instances$()` (e.g. Consul's `passing: false`). */
export type WatchParams = Readonly<Record<string, string | number | boolean>>;

/** A registry, seen as streams. What `discovery(url)` returns. */
export interface Discovery {
  /** The registry as a redacted URL, safe to log. */
  readonly registry: string;
  /**
   * The live instances of `service`: the full set first, then one emission
   * per effective change, stale-marked while the registry is unreachable.
   * Lazy and shared: subscribers of the same service and params share one
   * upstream watch, released a grace period after the last one leaves.
   */
  instances$(service: string, params?: WatchParams): Observable<InstanceSet>;
  /** The live, sorted list of service names in the registry. */
  services$(): Observable<ServiceList>;
  /**
   * The whole registry: every service with its set, the full {@link Catalog}
   * first, then one per effective change (its `changed` names what moved),
   * stale-marked while the registry is unreachable. Lazy and shared like
   * `instances$()`. On a backend without a registry-wide watch it errors
   * with a {@link ConfigError}.
   */
  catalog$(): Observable<Catalog>;
  /**
   * Registers an instance while subscribed and emits its lifecycle. A lost
   * registration is registered again; unsubscribing deregisters (await
   * {@link Discovery.settled}); `options.until` deregisters then completes.
   */
  register(spec: InstanceSpec, options?: RegisterOptions): Observable<RegistrationEvent>;
  /**
   * Problems that do not stop a stream: malformed entries skipped, transient
   * faults being retried. Without a subscriber they go to `onProblem`.
   */
  readonly problems$: Observable<RxdiscoError>;
  /** Resolves when every deregistration started so far has finished. */
  settled(): Promise<void>;
  /**
   * Completes every stream of this registry, deregisters what it
   * registered, waits for that, and releases the client. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * What a backend implements: a watch source per service, optionally the
 * service list, and a registrar. No timers, retries, sharing or staleness:
 * {@link createDiscovery} supplies those.
 */
export interface Backend {
  /** Opens watch sessions of one service. */
  instances(service: string, params: WatchParams): WatchSource<unknown>;
  /** Opens sessions that list the service names. */
  services(): (resume: unknown) => Observable<ServiceListEvent<unknown>>;
  /**
   * Opens registry-wide sessions (every service in one snapshot + changes);
   * absent when the registry has no such watch.
   */
  catalog?(): CatalogSource<unknown>;
  /**
   * True when the catalog lists `service` under that very name, so that a
   * watch of it may be a view of the catalog (Eureka lists application
   * `HELLO` as `hello`: a watch of `Hello` keeps a stream of its own).
   * Absent: every name.
   */
  catalogLists?(service: string): boolean;
  /** Registers instances; absent for read-only registries. */
  readonly registrar: Registrar<unknown> | undefined;
  /** Releases the client (connections, pools). */
  close(): Promise<void>;
}

/** Options of `discovery()` and {@link createDiscovery}. */
export interface DiscoveryOptions {
  /**
   * Milliseconds an unobserved watch is kept before it is released (and
   * forgotten: a watch lives while subscribed plus this grace period).
   * @default 2000
   */
  readonly graceMs?: number;
  /**
   * Backoff between reconnection attempts of every watch.
   * @default exponentialBackoff({ initialMs: 100, maxMs: 30_000 })
   */
  readonly backoff?: BackoffPolicy;
  /**
   * Scheduler for timers (TestScheduler in tests).
   * @default asyncScheduler
   */
  readonly scheduler?: SchedulerLike;
  /**
   * How many per-service watches (`instances$()` without params) one
   * registry opens on their own upstream before new ones become views of
   * the registry-wide `catalog$()` upstream, on a backend that has one
   * (memory, etcd, Consul, Eureka, Kubernetes; Consul's default is 45, below
   * its connection cap): past it, one more watched service costs no registry
   * watch and no session, only its listener. Once the catalog's upstream
   * is open (past it, or with `catalog$()` subscribed), new watches are
   * views and the own ones hand over to their views (invisibly, at an
   * equal set), so one registry watch is held in all. `0`: every such watch
   * is a view; `Infinity`: never (and no handover). See docs/registries.md
   * for the measurement.
   * @default 64
   */
  readonly catalogViewsPast?: number;
  /**
   * Where problems go when `problems$` has no subscriber.
   * @default a process warning, once per distinct message
   */
  readonly onProblem?: (problem: RxdiscoError) => void;
}

const warned = new Set<string>();
const warnOnce = (problem: RxdiscoError): void => {
  const key = `${problem.name}:${problem.message}`;
  if (warned.has(key)) return;
  if (warned.size > 1000) warned.clear();
  warned.add(key);
  process.emitWarning(problem.message, { code: problem.name });
};

const paramsKey = (params: WatchParams): string =>
  JSON.stringify(
    Object.keys(params)
      .sort()
      .map((k) => [k, params[k]]),
  );

/**
 * A backend that failed to load, as the permanent error of every stream:
 * the loader's own non-retryable error (a {@link ConfigError} naming the
 * package to install), or a {@link ConfigError} wrapping anything else. A
 * failed import does not heal by retrying.
 */
/**
 * The package Node could not find when `error` (or an error in its `cause`
 * chain: bundlers and test runners wrap import errors) is its
 * `ERR_MODULE_NOT_FOUND` / `MODULE_NOT_FOUND`.
 */
const missingPackage = (error: unknown): string | undefined => {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      const name = /Cannot find (?:package|module) '((?:@[^/']+\/)?[^/'.][^/']*)/.exec(e.message);
      if (name !== null) return name[1];
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
};

/** A failed backend load, as the permanent error every stream gets. */
const loadFailure = (e: unknown, registry: string): RxdiscoError => {
  if (isRxdiscoError(e) && !e.retryable) return e;
  const missing = missingPackage(e);
  if (missing !== undefined) {
    return new ConfigError(
      missing,
      'is not installed, and this registry needs it',
      `install it: npm install ${missing}`,
      { registry, cause: e },
    );
  }
  const message = e instanceof Error ? e.message : String(e);
  return new ConfigError('backend', `failed to load (${message})`, 'check the installation', {
    registry,
    cause: e,
  });
};

/**
 * Builds a {@link Discovery} over a backend loaded on first use.
 *
 * @param registry - the redacted registry URL, used in instances and errors.
 * @param load - loads the backend; called at most once, on first subscribe.
 *   A rejection is permanent: every stream errors with a {@link ConfigError}.
 * @throws {ConfigError} at once for an invalid option (`graceMs` below 0...).
 */
export const createDiscovery = (
  registry: string,
  load: () => Promise<Backend>,
  options: DiscoveryOptions = {},
): Discovery => {
  const grace = durationOption('graceMs', options.graceMs, 2000, {}, { registry });
  const scheduler = options.scheduler ?? asyncScheduler;
  const viewsPast = numberOption(
    'catalogViewsPast',
    options.catalogViewsPast,
    64,
    {
      min: 0,
      integer: true,
      infinite: true,
      fix: 'pass a count of watches (0: always views, Infinity: never)',
    },
    { registry },
  );
  const problems = new Subject<RxdiscoError>();
  const onProblem = options.onProblem ?? warnOnce;
  const report = (p: RxdiscoError): void => {
    if (problems.observed) problems.next(p);
    else onProblem(p);
  };
  const tuning: WatchTuning = {
    scheduler,
    report,
    ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
  };
  const pending = new PendingWork(report);
  const closed$ = new Subject<void>();
  const watches = new Map<string, Observable<InstanceSet>>();
  let servicesWatch: Observable<ServiceList> | undefined;
  let catalogWatch: Observable<Catalog> | undefined;
  let backend: Promise<Backend> | undefined;
  /** The backend once loaded, for the synchronous choice of a view. */
  let loaded: Backend | undefined;
  let isClosed = false;
  let closing: Promise<void> | undefined;

  /**
   * `use(backend)`, the backend loaded on first use. The subscriber is
   * handed to `use(backend)`'s stream itself once loaded (no operator in
   * between), so that a watch subscribed before the load costs no more
   * than one subscribed after it: thousands of catalog views are.
   */
  const withBackend = <T>(use: (b: Backend) => Observable<T>): Observable<T> => {
    // A loader that throws at once fails the same way as one that rejects.
    backend ??= new Promise<Backend>((resolve) => resolve(load())).then(
      (b) => {
        loaded = b;
        return b;
      },
      (e: unknown) => {
        throw loadFailure(e, registry);
      },
    );
    const loading = backend;
    return new Observable<T>((subscriber) => {
      loading.then(
        (b) => {
          if (subscriber.closed) return;
          let stream: Observable<T>;
          try {
            stream = use(b);
          } catch (e) {
            subscriber.error(e);
            return;
          }
          stream.subscribe(subscriber);
        },
        (e: unknown) => subscriber.error(e),
      );
    });
  };
  /** `make()` at subscribe time, unless this discovery is closed. */
  const whileOpen = <T>(make: () => Observable<T>): Observable<T> =>
    defer(() => {
      if (isClosed) throw closedError(registry);
      return make();
    });
  /** One upstream for every subscriber, released after `grace`, ended by `close()`. */
  const shared = <T>(stream: Observable<T>): Observable<T> =>
    shareWatch(stream.pipe(takeUntil(closed$)), grace, scheduler);

  /**
   * The shared watch of one (service, params), made on first subscribe and
   * forgotten when its upstream is released (a grace period after its last
   * subscriber left, or after it failed): nothing is kept per service that
   * nobody watches.
   */
  const watchOf = (key: string, service: string, params: WatchParams): Observable<InstanceSet> => {
    const known = watches.get(key);
    if (known !== undefined) return known;
    // The backend's source of this watch, opened once; every reconnection reuses it.
    let opened: WatchSource<unknown> | undefined;
    const source: WatchSource<unknown> = (resume) =>
      withBackend((b) => {
        opened ??= b.instances(service, params);
        return opened(resume);
      });
    const forget = (): void => {
      if (watches.get(key) === watch) watches.delete(key);
    };
    const own = watchInstances(service, registry, source, tuning);
    // A watch that could be a view hands over to it once the catalog is open.
    const handing =
      Object.keys(params).length === 0 && viewsPast !== Number.POSITIVE_INFINITY
        ? handOver(
            own,
            () => {
              const use = (b: Backend): Observable<InstanceSet> =>
                viewable(b, service) ? viewOf(service) : NEVER;
              return loaded === undefined ? withBackend(use) : use(loaded);
            },
            offer,
            forget,
          )
        : own;
    const watch = shared(handing.pipe(finalize(forget)));
    watches.set(key, watch);
    return watch;
  };

  /**
   * Own watches waiting to hand over to their views: started when the
   * catalog's upstream opens (a macrotask later, on the scheduler, so that
   * the opening subscription has settled), or at once while it is open.
   */
  const waiting = new Set<() => void>();
  let catalogOpen = false;
  const startWaiting = (): void => {
    scheduler.schedule(() => {
      if (!catalogOpen) return;
      for (const start of [...waiting]) start();
    });
  };
  const offer = (start: () => void): (() => void) => {
    waiting.add(start);
    if (catalogOpen) startWaiting();
    return () => waiting.delete(start);
  };
  const viewable = (b: Backend, service: string): boolean =>
    b.catalog !== undefined && b.catalogLists?.(service) !== false;

  const instances$ = (service: string, params: WatchParams = {}): Observable<InstanceSet> => {
    checkServiceName(service, { registry });
    const key = `${service}\u0000${paramsKey(params)}`;
    return whileOpen(() => {
      // Past the threshold, or while the catalog is open anyway, a new watch
      // without params is a view of the catalog (no session, no shared
      // subject of its own: a listener).
      if (watches.has(key) || Object.keys(params).length > 0) return watchOf(key, service, params);
      const asView = viewsPast !== Number.POSITIVE_INFINITY && catalogOpen;
      if (!asView && watches.size < viewsPast) return watchOf(key, service, params);
      const b = loaded;
      if (b !== undefined)
        return viewable(b, service) ? viewOf(service) : watchOf(key, service, params);
      return withBackend((l) =>
        viewable(l, service) ? viewOf(service) : watchOf(key, service, params),
      );
    });
  };

  const services$ = (): Observable<ServiceList> => {
    servicesWatch ??= shared(
      watchServiceList((resume) => withBackend((b) => b.services()(resume)), tuning),
    );
    const watching = servicesWatch;
    return whileOpen(() => watching);
  };

  let views: CatalogViews | undefined;
  const viewOf = (service: string): Observable<InstanceSet> => {
    views ??= catalogViews(sharedCatalog(), registry);
    return views(service);
  };

  const catalog$ = (): Observable<Catalog> => {
    const watching = sharedCatalog();
    return whileOpen(() => watching);
  };

  function sharedCatalog(): Observable<Catalog> {
    if (catalogWatch === undefined) {
      let opened: CatalogSource<unknown> | undefined;
      const source: CatalogSource<unknown> = (resume) =>
        withBackend((b) => {
          if (b.catalog === undefined) {
            throw new ConfigError(
              'catalog$()',
              'is not offered by this registry yet',
              'watch services$() and instances$() per service (ZooKeeper and DNS have no catalog yet)',
              { registry },
            );
          }
          opened ??= b.catalog();
          return opened(resume);
        });
      // Its reconnections and skipped entries count in each viewed service's metrics.
      // While its upstream is open, own watches hand over to their views.
      const opening = defer(() => {
        catalogOpen = true;
        startWaiting();
        return watchCatalog(registry, source, {
          ...tuning,
          report: (p) => {
            if (isDecodeError(p)) views?.skipped(p);
            report(p);
          },
          onReconnect: () => views?.reconnected(),
        });
      }).pipe(
        finalize(() => {
          catalogOpen = false;
        }),
      );
      catalogWatch = shared(opening);
    }
    return catalogWatch;
  }

  const register = (
    spec: InstanceSpec,
    opts: RegisterOptions = {},
  ): Observable<RegistrationEvent> =>
    whileOpen(() => {
      const instance = createInstance(spec, registry);
      resolveTimes(opts, { registry, service: instance.service });
      return withBackend((b) => {
        if (b.registrar === undefined) {
          throw new ConfigError(
            'registry',
            'is read-only',
            'register in a registry such as memory://, etcd://, consul:// or eureka://',
            { registry, service: instance.service },
          );
        }
        return registration(b.registrar, instance, { scheduler, ...opts }, pending);
      }).pipe(takeUntil(closed$));
    });

  return {
    registry,
    instances$,
    services$,
    catalog$,
    register,
    problems$: problems.asObservable(),
    settled: () => pending.settled(),
    close: () => {
      closing ??= (async () => {
        isClosed = true;
        closed$.next();
        closed$.complete();
        await pending.settled();
        if (backend !== undefined) {
          const b = await backend.catch(() => undefined);
          await b?.close();
        }
      })();
      return closing;
    },
  };
};
