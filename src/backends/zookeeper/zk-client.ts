/**
 * The slice of `node-zookeeper-client` the backend uses, typed here so that
 * rxdisco's published types do not depend on the optional peer (which ships
 * no types of its own), and the loader that imports it on first use.
 *
 * @module
 */
/** A node's `Stat` (only the fields the backend reads). */
export interface ZkStat {
  readonly version: number;
  /** The session that owns an ephemeral node (8 bytes; zeros: persistent). */
  readonly ephemeralOwner: Buffer;
}

/** A client state (`SYNC_CONNECTED`, `DISCONNECTED`, `EXPIRED`, `AUTH_FAILED`...). */
export interface ZkState {
  readonly name: string;
  readonly code: number;
}

/** A watcher notification. */
export interface ZkEvent {
  readonly name: string;
  readonly path: string;
}

/** A ZooKeeper error (`getCode()`: `NO_NODE` -101, `NODE_EXISTS` -110...). */
export interface ZkException extends Error {
  getCode(): number;
}

type Cb<T> = (error: ZkException | Error | null, value: T, stat: ZkStat) => void;

/** The node-zookeeper-client `Client` methods rxdisco calls. */
export interface ZkClient {
  connect(): void;
  close(): void;
  on(event: 'state', listener: (state: ZkState) => void): this;
  removeListener(event: 'state', listener: (state: ZkState) => void): this;
  getSessionId(): Buffer;
  getSessionTimeout(): number;
  getChildren(path: string, watcher: (e: ZkEvent) => void, cb: Cb<string[]>): void;
  getData(path: string, watcher: (e: ZkEvent) => void, cb: Cb<Buffer | undefined>): void;
  exists(
    path: string,
    watcher: ((e: ZkEvent) => void) | undefined,
    cb: (error: ZkException | Error | null, stat: ZkStat | null) => void,
  ): void;
  create(
    path: string,
    data: Buffer,
    mode: number,
    cb: (error: ZkException | Error | null, path: string) => void,
  ): void;
  mkdirp(path: string, cb: (error: ZkException | Error | null, path: string) => void): void;
  setData(
    path: string,
    data: Buffer,
    version: number,
    cb: (error: ZkException | Error | null) => void,
  ): void;
  remove(path: string, version: number, cb: (error: ZkException | Error | null) => void): void;
}

/** What the module exports (the parts rxdisco uses). */
export interface ZkModule {
  createClient(
    connectionString: string,
    options: { sessionTimeout: number; spinDelay: number; retries: number },
  ): ZkClient;
}

/** ZooKeeper error codes the backend acts on. */
export const ZK_CODES = Object.freeze({
  NO_NODE: -101,
  NODE_EXISTS: -110,
  NOT_EMPTY: -111,
  SESSION_EXPIRED: -112,
});

/** CreateMode values. */
export const CREATE_MODE = Object.freeze({ PERSISTENT: 0, EPHEMERAL: 1, EPHEMERAL_SEQUENTIAL: 3 });

/** The ZooKeeper error code of `e`, if it is one. */
export const zkCode = (e: unknown): number | undefined =>
  typeof (e as ZkException | undefined)?.getCode === 'function'
    ? (e as ZkException).getCode()
    : undefined;

/**
 * Imports node-zookeeper-client. A missing package rejects with Node's
 * `ERR_MODULE_NOT_FOUND`, which the core turns into a permanent
 * `ConfigError` naming the `npm install` to run.
 */
export const loadZk = async (): Promise<ZkModule> => {
  const m = (await import('node-zookeeper-client')) as { default?: ZkModule } & ZkModule;
  return m.default ?? m;
};
