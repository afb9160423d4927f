/**
 * `gateway(discovery, options)`: an API gateway as a `node:http` request
 * listener. `/<service>/<rest>?<query>` goes to `/<rest>?<query>` on an
 * instance of `<service>`, through the discovery dispatcher (balancer,
 * retries, outlier ejection, one keep-alive pool per instance).
 *
 * @module
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { defer, timer } from 'rxjs';
import type { Dispatcher } from 'undici';
import type { Discovery } from '../core/discovery.js';
import { isNoInstanceError } from '../core/errors.js';
import { type DiscoveryDispatcher, discoveryDispatcher } from '../undici/dispatcher.js';
import { DISPATCH_SERVICE, FORGET_SERVICE } from '../undici/hooks.js';
import { Deadlines } from './deadlines.js';
import { Directory, type Lookup, readyWithin } from './directory.js';
import { Forward, type ForwardDeps } from './forward.js';
import { requestHeaders } from './headers.js';
import {
  type GatewayOptions,
  type ResolvedGatewayOptions,
  resolveGatewayOptions,
} from './options.js';
import { badRequest, parseErrorReply, type Reply, send, sendRaw } from './replies.js';
import { GatewayStats } from './stats.js';
import { type StatusPage, statusPage } from './status.js';
import type { StatusSource } from './status-source.js';
import { readTarget, type Target } from './target.js';
import { Upgrade } from './upgrade.js';

/**
 * An API gateway: a `node:http` request listener, with the listeners of the
 * server's other events. Made by {@link gateway}.
 *
 * @example
 * ```ts
 * const gw: Gateway = gateway(registry);
 * const server = createServer(gw);
 * server.on('upgrade', gw.upgrade).on('checkContinue', gw).on('clientError', gw.clientError);
 * ```
 */
export interface Gateway {
  /** The request listener: `createServer(gw)`, `server.on('request', gw)`, and `server.on('checkContinue', gw)`. */
  (req: IncomingMessage, res: ServerResponse): void;
  /** Passes WebSocket (and other) upgrades through: `server.on('upgrade', gw.upgrade)`. */
  readonly upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /**
   * Answers a request Node's parser refused (malformed, smuggling attempts,
   * an oversized header block) with a JSON `400`: `server.on('clientError', gw.clientError)`.
   */
  readonly clientError: (error: Error, socket: Duplex) => void;
  /** What the status page shows: the registry-wide view and the counters per instance. */
  readonly status: StatusSource;
  /**
   * Begins a graceful shutdown, before `server.close()`: ends the status
   * page's event streams (browsers would keep them open for ever) and
   * answers every later request with `Connection: close`, so that each
   * keep-alive connection closes after its answer; requests go on being
   * routed. Idempotent.
   */
  drain(): void;
  /**
   * Stops routing (later requests get a `503`), ends the status page's
   * streams, releases the registry watch, the pools (after their requests)
   * and the timers. Idempotent.
   */
  close(): Promise<void>;
}

const json = (
  status: number,
  body: Record<string, unknown>,
  headers?: Record<string, string>,
): Reply => (headers === undefined ? { status, body } : { status, body, headers });

/** The answer after `close()`. */
const CLOSING = json(
  503,
  { error: 'closing', message: 'the gateway is shutting down' },
  { connection: 'close' },
);

const message = (e: unknown): string =>
  (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ').trim();

/** True when the request has a body to stream (a length other than 0, or chunked). */
const hasBody = (req: IncomingMessage): boolean =>
  req.headers['transfer-encoding'] !== undefined ||
  (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');

const expectsContinue = (req: IncomingMessage): boolean =>
  /^\s*100-continue\s*$/i.test(req.headers.expect ?? '');

/** A server that handled `Expect: 100-continue` itself (no `checkContinue` listener) already sent the 100. */
const sent100 = (res: ServerResponse): boolean => (res as { _sent100?: boolean })._sent100 === true;

class GatewayCore {
  readonly #o: ResolvedGatewayOptions;
  readonly #directory: Directory;
  readonly #dispatcher: DiscoveryDispatcher;
  readonly #stats: GatewayStats;
  readonly #registry: string;
  readonly status: StatusSource;
  readonly #page: StatusPage | undefined;
  /** The per-request timeouts (one timer for all), unless `timeoutMs` is Infinity. */
  readonly #deadlines: Deadlines | undefined;
  /** What every forward answers failures and timeouts with. */
  readonly #forwarding: ForwardDeps;
  #closed = false;
  #draining = false;

  constructor(discovery: Discovery, options: GatewayOptions) {
    this.#o = resolveGatewayOptions(options);
    this.#registry = discovery.registry;
    const detector = this.#o.detector;
    const factory = this.#o.balancer(detector);
    // The dispatcher reads each service's instances from the directory
    // (a view of the catalog), not from a watch of its own.
    const routing: Discovery = {
      registry: discovery.registry,
      instances$: (service) => this.#directory.instances$(service),
      services$: () => discovery.services$(),
      catalog$: () => discovery.catalog$(),
      register: (spec, o) => discovery.register(spec, o),
      problems$: discovery.problems$,
      settled: () => discovery.settled(),
      close: () => discovery.close(),
    };
    this.#dispatcher = discoveryDispatcher(routing, {
      balancer: (instances$, service) =>
        this.#stats.counting(service, (i$) => factory(i$, service))(instances$),
      ...(detector === undefined ? {} : { detector }),
      ...(this.#o.retry === undefined ? {} : { retry: this.#o.retry }),
      ...(this.#o.pool === undefined ? {} : { pool: this.#o.pool }),
      pickTimeoutMs: this.#o.timeoutMs,
    });
    this.status = {
      registry: discovery.registry,
      catalog$: defer(() => this.#directory.catalog$),
      stats: (service, id) => this.#stats.stats(service, id),
    };
    this.#deadlines = Number.isFinite(this.#o.timeoutMs)
      ? new Deadlines(this.#o.timeoutMs)
      : undefined;
    this.#forwarding = {
      failure: (service, e) => this.#failure(service, e),
      timeout: (service) => this.#timeout(service),
      deadlines: this.#deadlines,
    };
    const page = this.#o.status;
    this.#page = page === false ? undefined : statusPage(this.status, page === true ? {} : page);
    // Last, once every option passed: what subscribes to the detector and the registry.
    this.#stats = new GatewayStats(detector);
    this.#directory = new Directory(discovery, (service) => {
      this.#stats.forget(service);
      void this.#dispatcher[FORGET_SERVICE](service);
    });
  }

  request(req: IncomingMessage, res: ServerResponse): void {
    if (this.#closed) {
      send(res, CLOSING);
      return;
    }
    if (this.#draining) res.setHeader('connection', 'close');
    const target = readTarget(req.url ?? '');
    switch (target.kind) {
      case 'refused':
        send(res, { ...badRequest(target.reason), headers: { connection: 'close' } });
        return;
      case 'none':
        send(res, this.#noService());
        return;
      case 'own':
        this.#own(target.path, req, res);
        return;
      case 'service':
        if (this.#directory.answered)
          this.#routed(target, this.#directory.lookup(target.service), req, res);
        else this.#route(target, (lookup) => this.#routed(target, lookup, req, res));
    }
  }

  #routed(
    target: Extract<Target, { kind: 'service' }>,
    lookup: Lookup,
    req: IncomingMessage,
    res: ServerResponse,
  ): void {
    if (lookup.kind === 'known') this.#forward(target.service, target.path, req, res);
    else send(res, this.#notRouted(target.service, lookup));
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (this.#closed) {
      sendRaw(socket, CLOSING);
      return;
    }
    const target = readTarget(req.url ?? '');
    if (target.kind !== 'service') {
      sendRaw(socket, target.kind === 'refused' ? badRequest(target.reason) : this.#noService());
      return;
    }
    this.#route(target, (lookup) => {
      if (lookup.kind !== 'known') {
        sendRaw(socket, this.#notRouted(target.service, lookup));
        return;
      }
      const handler = new Upgrade(socket, head, (e) => this.#failure(target.service, e));
      handler.timer = this.#timing(() => handler.answer(this.#timeout(target.service)));
      this.#dispatch(
        target.service,
        {
          method: req.method as Dispatcher.HttpMethod,
          path: target.path,
          headers: requestHeaders(req, this.#o),
          body: null,
          upgrade: req.headers.upgrade ?? 'websocket',
        },
        handler,
      );
    });
  }

  clientError(error: Error & { code?: string }, socket: Duplex): void {
    const busy = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (error.code === 'ECONNRESET' || !socket.writable || busy?.headersSent === true) {
      socket.destroy();
      return;
    }
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      sendRaw(
        socket,
        json(408, { error: 'request timeout', message: 'the request took too long to arrive' }),
      );
      return;
    }
    sendRaw(socket, parseErrorReply(error));
  }

  drain(): void {
    this.#draining = true;
    this.#page?.close();
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.drain();
    this.#directory.close();
    this.#stats.close();
    // The timeouts run on until the requests in flight are done (a 504 ends a hung one).
    await this.#dispatcher.close();
    this.#deadlines?.close();
  }

  /** Calls `then` with what the directory knows of the service, once the registry answered (or the timeout). */
  #route(target: Extract<Target, { kind: 'service' }>, then: (lookup: Lookup) => void): void {
    const directory = this.#directory;
    if (directory.answered) {
      then(directory.lookup(target.service));
      return;
    }
    const wait = Number.isFinite(this.#o.timeoutMs) ? this.#o.timeoutMs : 2 ** 31 - 1;
    void readyWithin(directory, wait).then(() => then(directory.lookup(target.service)));
  }

  #forward(service: string, path: string, req: IncomingMessage, res: ServerResponse): void {
    const forward = new Forward(res, service, this.#forwarding);
    if (expectsContinue(req) && !sent100(res)) res.writeContinue();
    this.#dispatch(
      service,
      {
        method: req.method as Dispatcher.HttpMethod,
        path,
        headers: requestHeaders(req, this.#o),
        body: hasBody(req) ? req : null,
      },
      forward,
    );
  }

  #dispatch(
    service: string,
    opts: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
  ): void {
    try {
      this.#dispatcher[DISPATCH_SERVICE](service, opts, handler);
    } catch (e) {
      handler.onError?.(e instanceof Error ? e : new Error(String(e)));
    }
  }

  #timing(fire: () => void) {
    const ms = this.#o.timeoutMs;
    return Number.isFinite(ms) ? timer(ms).subscribe(fire) : undefined;
  }

  #own(path: string, req: IncomingMessage, res: ServerResponse): void {
    const p = path.split('?')[0];
    if (p === '/healthy') {
      send(res, json(200, { status: 'ok', registry: this.#registry }));
      return;
    }
    if (this.#page?.(req, res) === true) return;
    send(
      res,
      json(404, { error: 'not found', message: `the gateway has no page ${req.url ?? ''}` }),
    );
  }

  #noService(): Reply {
    return json(404, {
      error: 'no service',
      message: 'the path names no service: request /<service>/<path>',
    });
  }

  #notRouted(service: string, lookup: Exclude<Lookup, { kind: 'known' }>): Reply {
    const registry = this.#registry;
    switch (lookup.kind) {
      case 'unknown':
        return json(404, {
          error: 'unknown service',
          service,
          registry,
          message: `no service '${service}' in ${registry}`,
        });
      case 'unsure':
        return this.#unavailable(service, `${lookup.why}; service '${service}' is not known`);
      case 'failed':
        return json(502, {
          error: 'registry failed',
          service,
          registry,
          message: message(lookup.error),
        });
    }
  }

  #unavailable(service: string, why: string): Reply {
    return json(
      503,
      { error: 'no instance', service, registry: this.#registry, message: why },
      { 'retry-after': String(this.#o.retryAfterS) },
    );
  }

  #failure(service: string, e: Error): Reply {
    if (isNoInstanceError(e)) return this.#unavailable(service, message(e));
    return json(502, {
      error: 'bad gateway',
      service,
      registry: this.#registry,
      message: message(e),
    });
  }

  #timeout(service: string): Reply {
    return json(504, {
      error: 'gateway timeout',
      service,
      registry: this.#registry,
      message: `no response from an instance of '${service}' within ${this.#o.timeoutMs} ms`,
    });
  }
}

/**
 * An API gateway over `discovery`, as a `node:http` request listener:
 * `/<service>/<rest>?<query>` is sent to `/<rest>?<query>` on an instance
 * of `<service>` picked by the balancer, over one keep-alive pool per
 * instance, with retries on other instances for requests without a body
 * and outlier ejection. Services are routed from the registry-wide view
 * (`catalog$()`: a new service is routable as soon as it registers); on a
 * backend without one, from `services$()` with an `instances$()` watch per
 * requested service.
 *
 * Bodies stream both ways (nothing is buffered); hop-by-hop headers are
 * dropped; `X-Forwarded-For`, `-Proto` and `-Host` are set (see
 * `trustProxy`); `Expect: 100-continue` is answered by the gateway once
 * the request is routed (register `gw` for `checkContinue` too); WebSocket
 * upgrades pass through (`gw.upgrade`). Answers of its own, in JSON: `404`
 * for an unknown service, `503` with `Retry-After` when it has no instance,
 * `502` naming the service and the last error after retries, `504` past
 * `timeoutMs`, `400` for a refused target (a dot segment, an encoded `/`
 * in the service segment) and, through `gw.clientError`, for a request
 * Node's parser refused (conflicting `Content-Length` and
 * `Transfer-Encoding`, CR or LF in a header, an oversized header block).
 * `/-/healthy` answers `200` for probes, `/-/status` is the status page.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { discovery } from 'rxdisco';
 * import { gateway } from 'rxdisco/gateway';
 *
 * const gw = gateway(discovery('etcd://127.0.0.1:2379/services/'), { timeoutMs: 10_000 });
 * const server = createServer(gw)
 *   .on('checkContinue', gw)
 *   .on('upgrade', gw.upgrade)
 *   .on('clientError', gw.clientError)
 *   .listen(8080);
 * // later: server.close(); await gw.close();
 * ```
 */
export const gateway = (discovery: Discovery, options: GatewayOptions = {}): Gateway => {
  const core = new GatewayCore(discovery, options);
  const listener = (req: IncomingMessage, res: ServerResponse): void => core.request(req, res);
  return Object.assign(listener, {
    upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      core.upgrade(req, socket, head),
    clientError: (error: Error, socket: Duplex) => core.clientError(error, socket),
    status: core.status,
    drain: () => core.drain(),
    close: () => core.close(),
  });
};
