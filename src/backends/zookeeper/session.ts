/**
 * The one ZooKeeper client of a backend and its session: created on first
 * use, replaced when the session ends, closed with the backend.
 *
 * node-zookeeper-client reports no expiry while it cannot reach any server
 * (its issue #20): it only learns of it on reconnecting. So the session is
 * taken as expired once the negotiated session timeout has elapsed since
 * the connection dropped; by then the ensemble has deleted its ephemeral
 * nodes. The client is closed and the next use opens a new session, whose
 * registrations the core re-creates (`lost`, then `reregistered`).
 *
 * @module
 */
import {
  BehaviorSubject,
  filter,
  firstValueFrom,
  type Observable,
  Subject,
  type Subscription,
  throwError,
  timeout,
  timer,
} from 'rxjs';
import {
  AuthenticationError,
  closedError,
  type ErrorContext,
  isRxdiscoError,
  RegistryUnavailableError,
  type RxdiscoError,
} from '../../core/errors.js';
import { durationOption } from '../../core/options.js';
import { formatHostPort } from '../../core/url.js';
import type { ZookeeperConfig } from './url.js';
import { type ZkClient, type ZkEvent, type ZkModule, type ZkState, zkCode } from './zk-client.js';

/** Tuning of the ZooKeeper backend. Every field is optional. */
export interface ZookeeperOptions {
  /**
   * The session timeout asked of the ensemble, in ms (the server bounds it
   * to 2 to 20 ticks). Ephemeral registrations vanish this long after a
   * client is cut off; the backend takes its session as expired then too.
   * @default 10000
   */
  readonly sessionTimeoutMs?: number;
  /**
   * How long a watch or registration waits for a connection before it
   * counts the registry as unreachable (the set turns stale, the core
   * retries), in ms.
   * @default 5000
   */
  readonly connectTimeoutMs?: number;
  /**
   * Deadline of every request (list, read, create, delete), in ms.
   * @default 5000
   */
  readonly requestTimeoutMs?: number;
}

/** {@link ZookeeperOptions} with every default applied. */
export interface ResolvedZookeeperOptions {
  readonly sessionTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly requestTimeoutMs: number;
}

/**
 * Applies the defaults of {@link ZookeeperOptions} and checks them.
 *
 * @throws {ConfigError} naming the option out of range.
 */
export const resolveZookeeperOptions = (
  o: ZookeeperOptions = {},
  registry?: string,
): ResolvedZookeeperOptions => {
  const context = registry === undefined ? undefined : { registry };
  return {
    sessionTimeoutMs: durationOption(
      'sessionTimeoutMs',
      o.sessionTimeoutMs,
      10_000,
      { min: 1 },
      context,
    ),
    connectTimeoutMs: durationOption(
      'connectTimeoutMs',
      o.connectTimeoutMs,
      5000,
      { min: 1 },
      context,
    ),
    requestTimeoutMs: durationOption(
      'requestTimeoutMs',
      o.requestTimeoutMs,
      5000,
      { min: 1 },
      context,
    ),
  };
};

const AUTH_CODES = new Set([-102, -115]); // NO_AUTH, AUTH_FAILED

/** A client error as rxdisco's: refused auth is permanent, anything else transient. */
export const toZkError = (e: unknown, context: ErrorContext): RxdiscoError => {
  if (isRxdiscoError(e)) return e;
  const code = zkCode(e);
  if (code !== undefined && AUTH_CODES.has(code)) {
    return new AuthenticationError('ZooKeeper refused the request (ACL or auth)', {
      ...context,
      cause: e,
    });
  }
  return new RegistryUnavailableError(`ZooKeeper: ${e instanceof Error ? e.message : String(e)}`, {
    ...context,
    cause: e,
  });
};

type WatchKind = 'child' | 'data' | 'exists';

interface Dispatch {
  readonly fn: (e: ZkEvent) => void;
  readonly handlers: Set<(e: ZkEvent) => void>;
  armed: boolean;
}

/** One ZooKeeper session: its client, while it lives. */
export class ZkSession {
  /** The session id in hex, once connected. */
  id = '';
  #connected = false;
  #alive = true;
  readonly #interrupted = new Subject<RxdiscoError>();
  readonly #dispatch = new Map<string, Dispatch>();

  constructor(
    readonly client: ZkClient,
    private readonly requestTimeoutMs: number,
    private readonly context: ErrorContext,
    /** Called when a request went unanswered on a connection that claims to be up. */
    private readonly onStall: (error: RxdiscoError) => void = () => undefined,
  ) {}

  /** False once the session expired or was closed. */
  get alive(): boolean {
    return this.#alive;
  }

  /** True while connected to a server. */
  get connected(): boolean {
    return this.#connected;
  }

  /** One error each time the connection drops, and when the session ends. */
  get interrupted$(): Observable<RxdiscoError> {
    return this.#interrupted;
  }

  /** @internal the holder's state changes */
  markConnected(connected: boolean, error?: RxdiscoError): void {
    this.#connected = connected;
    if (connected) this.id = this.client.getSessionId().toString('hex');
    else if (error !== undefined) this.#interrupted.next(error);
  }

  /** @internal the session ended */
  end(error: RxdiscoError): void {
    if (!this.#alive) return;
    this.#alive = false;
    this.#connected = false;
    this.#interrupted.next(error);
    this.#interrupted.complete();
    this.#dispatch.clear();
    this.client.close();
  }

  /**
   * A watcher for `path` that calls `handler` on its next notification.
   * One function per (kind, path) is given to the client, so re-arming an
   * armed watch adds nothing, and a released handler is never called.
   */
  watcher(
    kind: WatchKind,
    path: string,
    handler: (e: ZkEvent) => void,
  ): {
    readonly fn: (e: ZkEvent) => void;
    release(): void;
  } {
    const key = `${kind}\0${path}`;
    let d = this.#dispatch.get(key);
    if (d === undefined) {
      const handlers = new Set<(e: ZkEvent) => void>();
      const entry: Dispatch = {
        handlers,
        armed: false,
        fn: (e) => {
          entry.armed = false;
          if (handlers.size === 0) this.#dispatch.delete(key);
          for (const h of [...handlers]) h(e);
        },
      };
      d = entry;
      this.#dispatch.set(key, d);
    }
    const entry = d;
    entry.handlers.add(handler);
    return {
      fn: (e) => entry.fn(e),
      release: () => {
        entry.handlers.delete(handler);
        if (entry.handlers.size === 0 && !entry.armed) this.#dispatch.delete(key);
      },
    };
  }

  /** Arms the (kind, path) watch and returns the function to pass the client. */
  arm(kind: WatchKind, path: string): ((e: ZkEvent) => void) | undefined {
    const d = this.#dispatch.get(`${kind}\0${path}`);
    if (d !== undefined) d.armed = true;
    return d?.fn;
  }

  /** Runs one client call with the request deadline; rejects with an rxdisco error. */
  call<T>(what: string, op: (done: (error: Error | null, value?: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let deadline: Subscription | undefined;
      let settled = false;
      const done = (error: Error | null, value?: T): void => {
        if (settled) return;
        settled = true;
        deadline?.unsubscribe();
        if (error) reject(error);
        else resolve(value as T);
      };
      deadline = timer(this.requestTimeoutMs).subscribe(() => {
        const error = new RegistryUnavailableError(
          `ZooKeeper did not answer ${what} within ${this.requestTimeoutMs} ms`,
          this.context,
        );
        done(error);
        // node-zookeeper-client can stop answering on a connection it still calls up
        // (seen after a server restart): nothing comes back on it, so a new session does.
        if (this.#connected) this.onStall(error);
      });
      if (settled) deadline.unsubscribe();
      try {
        op(done);
      } catch (e) {
        done(e as Error);
      }
    });
  }
}

/** The client of one backend: the current session, opened on demand. */
export interface SessionHolder {
  /** The connected session; opens one if there is none; rejects after `connectTimeoutMs`. */
  current(): Promise<ZkSession>;
  /** The current session, connected or not, if any. */
  peek(): ZkSession | undefined;
  close(): void;
}

/** A {@link SessionHolder} for `config`. */
export const sessionHolder = (
  config: ZookeeperConfig,
  options: ResolvedZookeeperOptions,
  zk: ZkModule,
): SessionHolder => {
  const context: ErrorContext = { registry: config.url };
  const hosts = config.endpoints.map((e) => formatHostPort(e.host, e.port)).join(',');
  const connected = new BehaviorSubject<ZkSession | undefined>(undefined);
  let session: ZkSession | undefined;
  let closed = false;

  const open = (): void => {
    const client = zk.createClient(hosts, {
      sessionTimeout: options.sessionTimeoutMs,
      spinDelay: 100,
      retries: 0,
    });
    const s = new ZkSession(client, options.requestTimeoutMs, context, (error) =>
      finish(
        new RegistryUnavailableError(
          `the ZooKeeper session ${s.id} stopped answering (${error.message}); opening a new one`,
          context,
        ),
      ),
    );
    session = s;
    let expiry: Subscription | undefined;
    const finish = (error: RxdiscoError): void => {
      expiry?.unsubscribe();
      client.removeListener('state', onState);
      if (connected.value === s) connected.next(undefined);
      if (session === s) session = undefined;
      s.end(error);
    };
    const onState = (state: ZkState): void => {
      switch (state.name) {
        case 'SYNC_CONNECTED':
        case 'CONNECTED_READ_ONLY':
          expiry?.unsubscribe();
          expiry = undefined;
          s.markConnected(true);
          connected.next(s);
          return;
        case 'DISCONNECTED': {
          if (connected.value === s) connected.next(undefined);
          s.markConnected(
            false,
            new RegistryUnavailableError(`lost the connection to ZooKeeper (${hosts})`, context),
          );
          // No expiry event comes while cut off: the session is gone once its timeout has passed.
          const ms = client.getSessionTimeout() || options.sessionTimeoutMs;
          expiry?.unsubscribe();
          expiry = timer(ms).subscribe(() =>
            finish(
              new RegistryUnavailableError(
                `the ZooKeeper session ${s.id} expired (no connection for ${ms} ms); opening a new one`,
                context,
              ),
            ),
          );
          return;
        }
        case 'EXPIRED':
          finish(
            new RegistryUnavailableError(
              `the ZooKeeper session ${s.id} expired; opening a new one`,
              context,
            ),
          );
          return;
        case 'AUTH_FAILED':
          finish(new AuthenticationError('ZooKeeper refused the credentials', context));
          return;
      }
    };
    client.on('state', onState);
    client.connect();
  };

  return {
    current: () => {
      if (closed) return Promise.reject(closedError(config.url));
      if (session === undefined) open();
      return firstValueFrom(
        connected.pipe(
          filter((s): s is ZkSession => s !== undefined),
          timeout({
            first: options.connectTimeoutMs,
            with: () =>
              throwError(
                () =>
                  new RegistryUnavailableError(
                    `no connection to ZooKeeper (${hosts}) within ${options.connectTimeoutMs} ms`,
                    context,
                  ),
              ),
          }),
        ),
      );
    },
    peek: () => session,
    close: () => {
      closed = true;
      const s = session;
      session = undefined;
      connected.next(undefined);
      s?.end(closedError(config.url));
    },
  };
};
