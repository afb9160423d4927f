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

/**
 * Runs one raw request with a deadline, retried (a few times) when it
 * fails or does not answer: the raw client may be reconnecting after a
 * test restarted the server. Every raw write is idempotent.
 */
const patiently = async <T>(op: () => Promise<T>, what: string): Promise<T> => {
  let last: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        op(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`${what}: no answer within 3 s`)), 3000);
        }),
      ]);
    } catch (e) {
      last = e;
    } finally {
      clearTimeout(timer);
    }
  }
  throw last;
};

/** Connects a raw client to `connectString`. */
export const rawZk = async (connectString: string): Promise<RawZk> => {
  const client = zookeeper.createClient(connectString, {
    sessionTimeout: 10_000,
    spinDelay: 100,
    retries: 0,
  }) as ZkClient & {
    once(event: 'connected', l: () => void): void;
  };
  await new Promise<void>((resolve) => {
    client.once('connected', resolve);
    client.connect();
  });
  const mkdirp = (p: string): Promise<string> =>
    new Promise((res, rej) => client.mkdirp(p, cb(res, rej)));
  const parent = (p: string): string => p.slice(0, p.lastIndexOf('/'));
  return {
    client,
    put: (path, data, ephemeral = false) =>
      patiently(async () => {
        await mkdirp(parent(path));
        await new Promise<void>((res, rej) =>
          client.create(path, Buffer.from(data), ephemeral ? 1 : 0, (e) => {
            if (e && (e as { getCode?: () => number }).getCode?.() === -110) {
              client.setData(path, Buffer.from(data), -1, (e2) => (e2 ? rej(e2) : res()));
            } else if (e) rej(e);
            else res();
          }),
        );
      }, `put ${path}`),
    createSequential: async (prefix, data) => {
      await mkdirp(parent(prefix));
      return new Promise((res, rej) => client.create(prefix, Buffer.from(data), 3, cb(res, rej)));
    },
    remove: (path) =>
      new Promise((res, rej) =>
        client.remove(path, -1, (e) =>
          e && (e as { getCode?: () => number }).getCode?.() !== -101 ? rej(e) : res(),
        ),
      ),
    children: (path) =>
      new Promise((res) => client.getChildren(path, undefined as never, (e, c) => res(e ? [] : c))),
    get: (path) =>
      new Promise((res, rej) =>
        client.getData(path, undefined as never, (e, d) =>
          e ? rej(e) : res(d?.toString('utf8') ?? ''),
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
