/**
 * Shared pieces of the ZooKeeper integration tests: a raw
 * node-zookeeper-client (the "other writer"), discovery clients with test
 * tuning, and node helpers.
 */
import zookeeper from 'node-zookeeper-client';
import {
  type ZookeeperOptions,
  zookeeperDiscovery,
} from '../../../src/backends/zookeeper/index.js';
import type { ZkClient } from '../../../src/backends/zookeeper/zk-client.js';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import type { Discovery, DiscoveryOptions } from '../../../src/core/discovery.js';
import type { RxdiscoError } from '../../../src/core/errors.js';

/** Test tuning: short grace, backoff and session, problems collected instead of warned. */
export const testDiscovery = (
  url: string,
  problems: RxdiscoError[] = [],
  extra: DiscoveryOptions & ZookeeperOptions = {},
): Discovery =>
  zookeeperDiscovery(url, {
    graceMs: 20,
    backoff: exponentialBackoff({ initialMs: 20, maxMs: 300 }),
    onProblem: (p) => problems.push(p),
    sessionTimeoutMs: 2000,
    connectTimeoutMs: 2000,
    requestTimeoutMs: 2000,
    ...extra,
  });

/** A raw client of another stack, connected. */
export interface RawZk {
  /** The current connection (a new one after a request went unanswered). */
  readonly client: ZkClient;
  put(path: string, data: string, ephemeral?: boolean): Promise<void>;
  createSequential(prefix: string, data: string): Promise<string>;
  remove(path: string): Promise<void>;
  children(path: string): Promise<string[]>;
  get(path: string): Promise<string>;
  close(): void;
}

const cb =
  <T>(resolve: (v: T) => void, reject: (e: unknown) => void) =>
  (e: unknown, v: T): void =>
    e ? reject(e) : resolve(v);

type RawClient = ZkClient & { once(event: 'connected', l: () => void): void };

const connectRaw = async (connectString: string): Promise<RawClient> => {
  const client = zookeeper.createClient(connectString, {
    sessionTimeout: 10_000,
    spinDelay: 100,
    retries: 0,
  }) as RawClient;
  await new Promise<void>((resolve) => {
    client.once('connected', resolve);
    client.connect();
  });
  return client;
};

const codeOf = (e: unknown): number | undefined =>
  (e as { getCode?: () => number } | null)?.getCode?.();

/**
 * Connects a raw client to `connectString`. Each request has a deadline;
 * one that fails or gets no answer is retried (a few times) on a new
 * connection: node-zookeeper-client can stop answering after the server
 * restarts under it (seen in the outage test), and the raw writer must not
 * be what fails a test. Every raw write is idempotent.
 */
export const rawZk = async (connectString: string): Promise<RawZk> => {
  let client = await connectRaw(connectString);
  const patiently = async <T>(what: string, op: (c: RawClient) => Promise<T>): Promise<T> => {
    let last: unknown;
    for (let attempt = 0; attempt < 4; attempt++) {
      let timer: NodeJS.Timeout | undefined;
      try {
        return await Promise.race([
          op(client),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`${what}: no answer within 3 s`)), 3000);
          }),
        ]);
      } catch (e) {
        last = e;
        client.close();
        client = await connectRaw(connectString);
      } finally {
        clearTimeout(timer);
      }
    }
    throw last;
  };
  const mkdirp = (c: RawClient, p: string): Promise<string> =>
    new Promise((res, rej) => c.mkdirp(p, cb(res, rej)));
  const parent = (p: string): string => p.slice(0, p.lastIndexOf('/'));
  return {
    get client() {
      return client;
    },
    put: (path, data, ephemeral = false) =>
      patiently(`put ${path}`, async (c) => {
        await mkdirp(c, parent(path));
        await new Promise<void>((res, rej) =>
          c.create(path, Buffer.from(data), ephemeral ? 1 : 0, (e) => {
            if (codeOf(e) === -110)
              c.setData(path, Buffer.from(data), -1, (e2) => (e2 ? rej(e2) : res()));
            else if (e) rej(e);
            else res();
          }),
        );
      }),
    createSequential: (prefix, data) =>
      patiently(`create ${prefix}`, async (c) => {
        await mkdirp(c, parent(prefix));
        return new Promise<string>((res, rej) =>
          c.create(prefix, Buffer.from(data), 3, cb(res, rej)),
        );
      }),
    remove: (path) =>
      patiently(
        `remove ${path}`,
        (c) =>
          new Promise<void>((res, rej) =>
            c.remove(path, -1, (e) => (e && codeOf(e) !== -101 ? rej(e) : res())),
          ),
      ),
    children: (path) =>
      patiently(
        `children ${path}`,
        (c) =>
          new Promise<string[]>((res, rej) =>
            c.getChildren(path, undefined as never, (e, ch) =>
              codeOf(e) === -101 ? res([]) : e ? rej(e) : res(ch),
            ),
          ),
      ),
    get: (path) =>
      patiently(
        `get ${path}`,
        (c) =>
          new Promise<string>((res, rej) =>
            c.getData(path, undefined as never, (e, d) =>
              e ? rej(e) : res(d?.toString('utf8') ?? ''),
            ),
          ),
      ),
    close: () => client.close(),
  };
};

/** A Curator / Spring Cloud Zookeeper ServiceInstance, as Spring writes it. */
export const curatorJson = (r: {
  id: string;
  service: string;
  host: string;
  port: number;
  metadata?: Record<string, string>;
}): string =>
  JSON.stringify({
    name: r.service,
    id: r.id,
    address: r.host,
    port: r.port,
    sslPort: null,
    payload: {
      '@class': 'org.springframework.cloud.zookeeper.discovery.ZookeeperInstance',
      id: r.service,
      name: r.service,
      metadata: { instance_status: 'UP', ...(r.metadata ?? {}) },
    },
    registrationTimeUTC: 1_700_000_000_000,
    serviceType: 'DYNAMIC',
    uriSpec: { parts: [{ value: 'scheme', variable: true }] },
  });
