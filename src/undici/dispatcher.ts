/**
 * `discoveryDispatcher()`: an undici `Dispatcher` that sends requests for
 * `http://<service>/...` to live instances of the service.
 *
 * @module
 */
import { type Observable, type OperatorFunction, pipe } from 'rxjs';
import { Agent, Dispatcher } from 'undici';
import type { Discovery } from '../core/discovery.js';
import { ConfigError } from '../core/errors.js';
import type { InstanceSet } from '../core/instance-set.js';
import type { Balancer } from '../operators/balancers/balancer.js';
import { roundRobin } from '../operators/balancers/round-robin.js';
import type { CallOptions, CallTarget } from '../operators/call-options.js';
import { plan } from '../operators/call-plan.js';
import { healthy } from '../operators/healthy.js';
import type { OutlierDetector } from '../operators/outlier-ejection.js';
import { type Caller, callerOf } from './caller.js';
import { DISPATCH_SERVICE, FORGET_SERVICE } from './hooks.js';
import {
  type DiscoveryDispatcherOptions,
  type DispatcherRetryOptions,
  defaultServiceOf,
} from './options.js';
import { type CallKind, RequestRun } from './request-run.js';
import { defaultIdempotent, replayable, retryableFor } from './retry-rules.js';
import { Route } from './route.js';

const defaultBalancer =
  (detector: OutlierDetector | undefined) =>
  (instances$: Observable<InstanceSet>): Observable<Balancer> =>
    instances$.pipe(
      detector === undefined
        ? (pipe(healthy(), roundRobin()) as OperatorFunction<InstanceSet, Balancer>)
        : pipe(healthy(), detector.operator(), roundRobin()),
    );

/** Stands for a balancer while the options are checked (never called). */
const NO_TARGET: CallTarget = { pick: () => undefined, started() {}, finished() {} };

/** Stands for a request's attempt while the options are checked (never called). */
const NO_ATTEMPT = (): Promise<number> => Promise.resolve(0);

/** A kind of call's options, and their plan checked once (each request fills in its balancer and attempt). */
const kindOf = (options: CallOptions): CallKind => ({
  options,
  plan: plan(NO_TARGET, NO_ATTEMPT, options),
});

/** Most distinct origins whose recognition is remembered (then forgotten all at once). */
const ORIGIN_CACHE = 1024;

const shapeError = (field: string, rule: string, fix: string, got: unknown): ConfigError =>
  new ConfigError(field, `must be ${rule} (got ${got === null ? 'null' : typeof got})`, fix);

/**
 * An undici `Dispatcher` over a registry: made by {@link discoveryDispatcher}.
 *
 * @example
 * ```ts
 * const dispatcher: DiscoveryDispatcher = discoveryDispatcher(registry);
 * await fetch('http://users/users/42', { dispatcher });
 * await dispatcher.close();
 * ```
 */
export class DiscoveryDispatcher extends Dispatcher {
  readonly #discovery: Discovery;
  readonly #serviceOf: (origin: URL) => string | undefined;
  readonly #balancer: (
    instances$: Observable<InstanceSet>,
    service: string,
  ) => Observable<Balancer>;
  readonly #idempotent: (opts: Dispatcher.DispatchOptions) => boolean;
  readonly #key: ((opts: Dispatcher.DispatchOptions) => string | undefined) | undefined;
  readonly #poolOptions: NonNullable<DiscoveryDispatcherOptions['pool']>;
  readonly #routes = new Map<string, Route>();
  readonly #origins = new Map<string, string | null>();
  readonly #timed: boolean;
  readonly #calls: {
    readonly idempotent: CallKind;
    readonly other: CallKind;
    readonly once: CallKind;
  };
  #fallback: Dispatcher | undefined;
  readonly #ownsFallback: boolean;
  #closed = false;

  constructor(discovery: Discovery, options: DiscoveryDispatcherOptions = {}) {
    super();
    if (
      typeof discovery !== 'object' ||
      discovery === null ||
      typeof discovery.instances$ !== 'function'
    ) {
      throw shapeError('discovery', 'a Discovery', "pass discovery('consul://...')", discovery);
    }
    for (const field of ['service', 'balancer', 'idempotent', 'key'] as const) {
      const v = options[field];
      if (v !== undefined && typeof v !== 'function') {
        throw shapeError(field, 'a function', 'pass a function, or leave it out', v);
      }
    }
    this.#discovery = discovery;
    this.#serviceOf = options.service ?? defaultServiceOf;
    this.#balancer = options.balancer ?? defaultBalancer(options.detector);
    this.#idempotent = options.idempotent ?? defaultIdempotent;
    this.#key = options.key;
    this.#poolOptions = options.pool ?? {};
    this.#fallback = options.fallback;
    this.#ownsFallback = options.fallback === undefined;
    const retry: DispatcherRetryOptions =
      typeof options.retry === 'number' ? { attempts: options.retry } : (options.retry ?? {});
    const base: CallOptions = {
      attemptTimeoutMs: options.attemptTimeoutMs ?? Infinity,
      ...(options.pickTimeoutMs === undefined ? {} : { pickTimeoutMs: options.pickTimeoutMs }),
      ...(options.detector === undefined ? {} : { detector: options.detector }),
      isSuccess: (status) => (status as number) < 500,
    };
    // Checks every call option now, not at the first request, and once:
    // a request reuses its kind's plan (only a per-request `key` is checked per request).
    this.#calls = {
      idempotent: kindOf({ ...base, retry: { ...retry, retryable: retryableFor(true) } }),
      other: kindOf({ ...base, retry: { ...retry, retryable: retryableFor(false) } }),
      once: kindOf({ ...base, retry: { ...retry, attempts: 1 } }),
    };
    this.#timed = this.#calls.idempotent.plan.attemptTimeoutMs !== Infinity;
  }

  /**
   * The balancer of `service` (made on first use), to pick from or watch.
   *
   * @example
   * ```ts
   * dispatcher.balancer('users').set?.size; // instances behind http://users/
   * ```
   */
  balancer(service: string): CallTarget {
    return this.#route(service).balancer;
  }

  /**
   * Sends one request: to an instance when its origin is a service, else to
   * the fallback dispatcher. Used by undici (`request`, `fetch`) and Node's
   * fetch; not called directly.
   */
  override dispatch(
    opts: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
  ): boolean {
    const caller = callerOf(handler);
    if (this.#closed) return this.#refuse(caller);
    const origin = opts.origin === undefined ? '' : String(opts.origin);
    let service: string | undefined;
    try {
      service = this.#recognise(origin);
    } catch (e) {
      // A throwing `service` callback fails this request only.
      caller.error(e instanceof Error ? e : new Error(String(e)));
      return true;
    }
    if (service === undefined) return this.#fallbackDispatcher().dispatch(opts, handler);
    return this.#run(service, origin.startsWith('https:'), opts, caller);
  }

  /** Internal (the gateway): sends a request to `service`, whatever its origin. */
  [DISPATCH_SERVICE](
    service: string,
    opts: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
  ): boolean {
    const caller = callerOf(handler);
    if (this.#closed) return this.#refuse(caller);
    return this.#run(service, false, opts, caller);
  }

  /** Internal (the gateway): drops the route of a service gone from the registry (its pools close gracefully). */
  [FORGET_SERVICE](service: string): Promise<void> {
    const route = this.#routes.get(service);
    if (route === undefined) return Promise.resolve();
    this.#routes.delete(service);
    return route.close(false);
  }

  #refuse(caller: Caller): false {
    caller.error(
      Object.assign(new Error('the discovery dispatcher is closed'), { code: 'UND_ERR_CLOSED' }),
    );
    return false;
  }

  #run(
    service: string,
    secure: boolean,
    opts: Dispatcher.DispatchOptions,
    caller: Caller,
  ): boolean {
    let run: RequestRun;
    try {
      const key = this.#key?.(opts);
      const kind = !replayable(opts.body)
        ? this.#calls.once
        : this.#idempotent(opts)
          ? this.#calls.idempotent
          : this.#calls.other;
      run = new RequestRun(this.#route(service), kind, key, secure, this.#timed, opts, caller);
    } catch (e) {
      // A throwing callback (key, idempotent, balancer) fails this request only.
      caller.error(e instanceof Error ? e : new Error(String(e)));
      return true;
    }
    run.start();
    return true;
  }

  /** Stops the balancers and closes every pool once its requests are done (and the own fallback agent). */
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    const done = this.#shutdown(false);
    if (callback === undefined) return done;
    void done.then(callback, callback);
  }

  /** Stops the balancers and destroys every pool at once (requests in flight fail). */
  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const callback = typeof a === 'function' ? a : b;
    const done = this.#shutdown(true);
    if (callback === undefined) return done;
    void done.then(callback, callback);
  }

  async #shutdown(destroy: boolean): Promise<void> {
    this.#closed = true;
    const routes = [...this.#routes.values()];
    this.#routes.clear();
    const fallback = this.#ownsFallback ? this.#fallback : undefined;
    await Promise.all([
      ...routes.map((r) => r.close(destroy)),
      fallback === undefined ? undefined : destroy ? fallback.destroy() : fallback.close(),
    ]);
  }

  #recognise(origin: string): string | undefined {
    const known = this.#origins.get(origin);
    if (known !== undefined) return known ?? undefined;
    let url: URL | undefined;
    try {
      url = new URL(origin);
    } catch {
      url = undefined; // not a URL: not a service
    }
    const service = url === undefined ? undefined : this.#serviceOf(url);
    if (this.#origins.size >= ORIGIN_CACHE) this.#origins.clear();
    this.#origins.set(origin, service ?? null);
    return service;
  }

  #route(service: string): Route {
    let route = this.#routes.get(service);
    if (route === undefined) {
      route = new Route(this.#discovery, service, this.#balancer, this.#poolOptions);
      this.#routes.set(service, route);
    }
    return route;
  }

  #fallbackDispatcher(): Dispatcher {
    this.#fallback ??= new Agent();
    return this.#fallback;
  }
}

/**
 * An undici `Dispatcher` that sends a request for `http://<service>/<path>`
 * (the host is the service name; see `service` to recognise services
 * otherwise) to an instance of the service picked by its balancer (any
 * rxdisco balancer; round robin over healthy instances by default), over
 * one keep-alive pool per instance. A pool is closed once its instance has
 * left the registry's set and its requests in flight are done.
 *
 * Every attempt is reported to the balancer (latency from dispatch to the
 * end of the response, which feeds `ewma()` and `leastRequest()`) and to
 * `detector`; a 5xx response counts as a failure of the instance (and is
 * passed on as it is). A request that fails before its response started is
 * retried on another instance, with `call()`'s backoff and retry budget,
 * when it is idempotent (GET, HEAD, OPTIONS, PUT, DELETE, TRACE, or the
 * `idempotent` dispatch option) or its connection was refused; a request
 * whose body is a stream or an iterable (one-shot; every body of a
 * `fetch()` is one) is never retried, and nothing is retried once the
 * response has started. With no instance to pick, a request fails at once
 * with a `NoInstanceError` naming the service and the registry (its first
 * requests wait up to `pickTimeoutMs` for the registry's first answer).
 * Other origins go to `fallback`.
 *
 * Works with undici's `request()`, `fetch()` and Node's global `fetch`
 * (their `dispatcher` option) and with `setGlobalDispatcher()`.
 *
 * @example
 * ```ts
 * import { discovery, ewma, healthy } from 'rxdisco';
 * import { discoveryDispatcher } from 'rxdisco/undici';
 *
 * const registry = discovery('consul://127.0.0.1:8500');
 * const dispatcher = discoveryDispatcher(registry, {
 *   balancer: (instances$) => instances$.pipe(healthy(), ewma()),
 * });
 * const res = await fetch('http://users/users/42', { dispatcher });
 * await dispatcher.close();
 * ```
 */
export const discoveryDispatcher = (
  discovery: Discovery,
  options: DiscoveryDispatcherOptions = {},
): DiscoveryDispatcher => new DiscoveryDispatcher(discovery, options);
