/**
 * Prefixes and watch catch-ups larger than one gRPC message of grpc-js's
 * default size (4 MiB): a range read of the whole prefix (the catalog, or a
 * big service) and the events a resumed watch replays after a disconnect.
 * (10,000 services x 3 rxdisco records are about 6 MB: the scale bench never
 * got its first catalog while each read failed with RESOURCE_EXHAUSTED.)
 */
import type { Etcd3 } from 'etcd3';
import { filter, firstValueFrom, map, merge, type Observable, timeout } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { READ_PAGE_KEYS } from '../../../src/backends/etcd/prefix-watch.js';
import type { Catalog } from '../../../src/core/catalog.js';
import type { Discovery } from '../../../src/core/discovery.js';
import type { RxdiscoError } from '../../../src/core/errors.js';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import { waitFor } from '../../conformance/suite.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import { type EtcdCluster, startEtcd } from '../../servers/etcd.js';
import { FaultProxy } from './fault-proxy.js';
import { jsonValue, rawClient, testDiscovery } from './harness.js';

expectNoLeakedHandles();

const PATIENCE = 20_000;
const LONG = 90_000;
/** 50 values of 100 KB: 5 MB, past grpc-js's 4 MiB default receive limit. */
const KEYS = 50;
const BIG = 'x'.repeat(100_000);

let etcd: EtcdCluster;
let raw: Etcd3;
let proxy: FaultProxy;
const opened: Discovery[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  raw = rawClient(etcd.endpoints);
  proxy = await FaultProxy.start(etcd.endpoints[0]!);
});

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  raw?.close();
  await proxy?.close();
  await etcd?.destroy();
});

const putBig = async (prefix: string, service: string, k: number, version: string) =>
  raw.put(`${prefix}${service}/i${k}`).value(
    jsonValue({
      id: `i${k}`,
      service,
      host: '127.0.0.1',
      port: 10_000 + k,
      metadata: { version, blob: BIG },
    }),
  );

/** The first value of `source$` passing `predicate`; the first problem reported fails it. */
const firstOrProblem = <T>(
  d: Discovery,
  source$: Observable<T>,
  predicate: (v: T) => boolean,
  what: string,
): Promise<T> =>
  firstValueFrom(
    merge(
      source$.pipe(filter(predicate)),
      d.problems$.pipe(
        map((p: RxdiscoError): T => {
          throw p;
        }),
      ),
    ).pipe(
      timeout({
        first: PATIENCE,
        with: () => {
          throw new Error(`timed out after ${PATIENCE} ms waiting for ${what}`);
        },
      }),
    ),
  );

/** The first fresh catalog of a new discovery of `prefix`; a problem reported fails it. */
const firstFreshCatalog = (prefix: string): Promise<Catalog> => {
  const d = testDiscovery(`etcd://${etcd.endpoints[0]}${prefix}`);
  opened.push(d);
  return firstOrProblem(d, d.catalog$(), (c) => !c.stale, 'the first fresh catalog');
};

const allAt = (version: string) => (s: InstanceSet | undefined) =>
  s !== undefined &&
  !s.stale &&
  s.size === KEYS &&
  s.instances.every((i) => i.metadata.version === version);

describe('etcd: more than one gRPC message of data', () => {
  it(
    'catalog$() reads a prefix of 5 MB (past the 4 MiB default message size)',
    async () => {
      const prefix = '/large-catalog/';
      for (let k = 0; k < KEYS; k++) await putBig(prefix, `svc-${k % 5}`, k, 'v1');
      const catalog = await firstFreshCatalog(prefix);
      expect(catalog.size).toBe(5);
      expect(catalog.instanceCount).toBe(KEYS);
      expect(catalog.get('svc-3')?.get('i13')?.metadata.blob).toBe(BIG);
    },
    LONG,
  );

  it(
    'reads a prefix of 2,500 keys in pages of READ_PAGE_KEYS: every key once',
    async () => {
      const prefix = '/paged/';
      const count = READ_PAGE_KEYS * 2 + 500;
      const puts: Promise<unknown>[] = [];
      for (let k = 0; k < count; k++) {
        const service = `svc-${k % 50}`;
        puts.push(
          raw
            .put(`${prefix}${service}/i${k}`)
            .value(jsonValue({ id: `i${k}`, service, host: '127.0.0.1', port: 1 + k }))
            .exec(),
        );
        if (puts.length >= 250) await Promise.all(puts.splice(0));
      }
      await Promise.all(puts);
      const catalog = await firstFreshCatalog(prefix);
      expect(catalog.size).toBe(50);
      expect(catalog.instanceCount).toBe(count);
      const ports = [...catalog.entries()].flatMap(([, s]) => s.instances.map((i) => i.port));
      expect(new Set(ports).size).toBe(count);
      // a page boundary key (the first key of the second page, in key order) is there
      const keys = ports.map((p) => `svc-${(p - 1) % 50}/i${p - 1}`).sort();
      const boundary = keys[READ_PAGE_KEYS]!;
      const [service, id] = boundary.split('/') as [string, string];
      expect(catalog.get(service)?.get(id)).toBeDefined();
    },
    LONG,
  );

  it(
    'instances$() reads a service of 5 MB',
    async () => {
      const prefix = '/large-service/';
      for (let k = 0; k < KEYS; k++) await putBig(prefix, 'big', k, 'v1');
      const d = testDiscovery(`etcd://${etcd.endpoints[0]}${prefix}`);
      opened.push(d);
      const set = await firstOrProblem(d, d.instances$('big'), allAt('v1'), 'the first fresh set');
      expect(set.get('i7')?.metadata.blob).toBe(BIG);
    },
    LONG,
  );

  it(
    'resumes a catalog watch whose catch-up after a disconnect is 5 MB of events',
    async () => {
      const prefix = '/large-catchup/';
      const service = 'big';
      for (let k = 0; k < KEYS; k++) await putBig(prefix, service, k, 'v1');
      const problems: RxdiscoError[] = [];
      const d = testDiscovery(`etcd://${proxy.endpoint}${prefix}`, problems);
      opened.push(d);
      const catalog$ = d.catalog$();
      const sub = catalog$.subscribe();
      const until = (p: (c: Catalog) => boolean, what: string) =>
        waitFor(catalog$, p, PATIENCE, what);
      await until((c) => allAt('v1')(c.get(service)), 'every v1');
      proxy.block();
      try {
        await until((c) => c.stale, 'the catalog to go stale');
        // Written while it is away: the resumed watch replays them in one response.
        for (let k = 0; k < KEYS; k++) await putBig(prefix, service, k, 'v2');
      } finally {
        proxy.unblock();
      }
      const after = await until((c) => allAt('v2')(c.get(service)), 'every v2 after the catch-up');
      expect(after.instanceCount).toBe(KEYS);
      expect(problems.filter((p) => /RESOURCE_EXHAUSTED/.test(p.message))).toEqual([]);
      sub.unsubscribe();
    },
    LONG,
  );
});
