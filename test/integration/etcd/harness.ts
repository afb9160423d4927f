/**
 * Shared pieces of the etcd integration tests: a raw etcd3 client (the
 * "other writer"), discovery clients with test tuning, and small waits.
 */
import { Etcd3, type IOptions } from 'etcd3';
import { firstValueFrom, timer } from 'rxjs';
import { type EtcdBackendOptions, etcdDiscovery } from '../../../src/backends/etcd/index.js';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import { toRecord } from '../../../src/core/codecs.js';
import type { Discovery, DiscoveryOptions } from '../../../src/core/discovery.js';
import type { RxdiscoError } from '../../../src/core/errors.js';
import { createInstance } from '../../../src/core/instance.js';
import type { EtcdCluster, EtcdMember } from '../../servers/etcd.js';

/** A raw etcd3 client of `endpoints`, as another stack would use. */
export const rawClient = (endpoints: readonly string[], extra: Partial<IOptions> = {}): Etcd3 =>
  new Etcd3({
    hosts: endpoints.map((e) => `http://${e}`),
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + 5000 }),
    grpcOptions: { 'grpc.use_local_subchannel_pool': 1, 'grpc.max_reconnect_backoff_ms': 1000 },
    ...extra,
  });

/** Test tuning: short grace and backoff, problems collected instead of warned. */
export const testDiscovery = (
  url: string,
  problems: RxdiscoError[] = [],
  extra: DiscoveryOptions & EtcdBackendOptions = {},
): Discovery =>
  etcdDiscovery(url, {
    graceMs: 20,
    backoff: exponentialBackoff({ initialMs: 20, maxMs: 300 }),
    onProblem: (p) => problems.push(p),
    callTimeoutMs: 2000,
    ...extra,
  });

/** rxdisco's JSON value for a record, as `writeRaw` puts it. */
export const jsonValue = (r: {
  id: string;
  service: string;
  host: string;
  port: number;
  metadata?: Record<string, string>;
}): string => JSON.stringify(toRecord(createInstance(r, 'etcd://')));

/** Revokes the lease of every key under `prefix` (what an operator's `etcdctl lease revoke` does). */
export const revokeLeasesUnder = async (client: Etcd3, prefix: string): Promise<number> => {
  const res = await client.getAll().prefix(prefix).exec();
  const leases = new Set(res.kvs.map((kv) => kv.lease).filter((l) => l !== '0'));
  for (const id of leases) await client.leaseClient.leaseRevoke({ ID: id });
  return leases.size;
};

/** Retries an idempotent write until the cluster takes it (elections make some fail), for up to `patienceMs`. */
export const retry = async <T>(write: () => Promise<T>, patienceMs = 15_000): Promise<T> => {
  const deadline = Date.now() + patienceMs;
  for (;;) {
    try {
      return await write();
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await firstValueFrom(timer(50));
    }
  }
};

/** The member of `etcd` that is the raft leader now. */
export const leaderOf = async (etcd: EtcdCluster, raw: Etcd3): Promise<EtcdMember> => {
  const status = await retry(() => raw.maintenance.status());
  const { members } = await retry(() => raw.cluster.memberList({}));
  const m = members.find((x) => x.ID === status.leader);
  const member = etcd.members.find((x) => m?.clientURLs.some((u) => u.endsWith(x.endpoint)));
  if (member === undefined) throw new Error(`no member is leader ${status.leader}`);
  return member;
};
