/**
 * The layouts rxdisco reads (detected per node) and writes (`?format=`),
 * against a real ZooKeeper: Curator / Spring Cloud Zookeeper
 * ServiceInstance JSON and go-kit sd/zk ephemeral sequential addresses.
 */
import type { Subscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RxdiscoError } from '../../../src/core/errors.js';
import type { RegistrationEvent } from '../../../src/core/registration.js';
import { waitFor } from '../../conformance/suite.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { startZookeeper, type ZookeeperCluster } from '../../servers/zookeeper.js';
import { curatorJson, type RawZk, rawZk, testDiscovery } from './harness.js';

expectNoLeakedHandles();

let zk: ZookeeperCluster;
let raw: RawZk;

beforeAll(async () => {
  zk = await startZookeeper();
  raw = await rawZk(zk.connectString);
});

afterAll(async () => {
  raw?.close();
  await zk?.destroy();
});

const registered = async (
  d: ReturnType<typeof testDiscovery>,
  spec: Parameters<ReturnType<typeof testDiscovery>['register']>[0],
): Promise<Subscription> => {
  const events: RegistrationEvent[] = [];
  const sub = d.register(spec, { ttlMs: 5000 }).subscribe((e) => events.push(e));
  await eventually(() => events.some((e) => e.type === 'registered'), 10_000, 'registered');
  return sub;
};

describe('zk:// layouts', () => {
  it('reads Curator and go-kit nodes side by side, and reports a node that is neither', async () => {
    const problems: RxdiscoError[] = [];
    const d = testDiscovery(`zk://${zk.connectString}/layouts`, problems);
    try {
      await raw.put(
        '/layouts/mixed/c1',
        curatorJson({
          id: 'c1',
          service: 'mixed',
          host: '10.0.0.1',
          port: 8080,
          metadata: { version: '3' },
        }),
      );
      const gk = await raw.createSequential(
        '/layouts/mixed/_c_0123456789abcdef0123456789abcdef-',
        'http://10.0.0.2:9090',
      );
      await raw.put('/layouts/mixed/bad', 'not an address');
      const set = await waitFor(d.instances$('mixed'), (s) => s.size === 2, 10_000, 'both layouts');
      const gid = gk.slice(gk.lastIndexOf('/') + 1);
      expect(set.get('c1')).toMatchObject({
        host: '10.0.0.1',
        port: 8080,
        metadata: { version: '3' },
      });
      expect(set.get(gid)).toMatchObject({ host: '10.0.0.2', port: 9090, status: 'UP' });
      await eventually(
        () => problems.some((p) => /\/layouts\/mixed\/bad/.test(p.message)),
        5000,
        'the bad node reported',
      );
    } finally {
      await d.close();
    }
  });

  it('sees a node whose data changes (its data watch re-armed each time), and one whose data stops decoding go', async () => {
    const d = testDiscovery(`zk://${zk.connectString}/layouts`);
    try {
      const set$ = d.instances$('changing');
      const sub = set$.subscribe();
      for (const port of [8081, 8082, 8083]) {
        await raw.put(
          '/layouts/changing/x1',
          curatorJson({ id: 'x1', service: 'changing', host: '10.0.0.9', port }),
        );
        await waitFor(set$, (s) => s.get('x1')?.port === port, 10_000, `x1 on port ${port}`);
      }
      await raw.put(
        '/layouts/changing/x1',
        '{"name":"changing","id":"x1","address":"10.0.0.9","port":-1}',
      );
      await waitFor(set$, (s) => s.size === 0 && !s.stale, 10_000, 'x1 gone once malformed');
      sub.unsubscribe();
    } finally {
      await d.close();
    }
  });

  it('writes a Spring Cloud Zookeeper ServiceInstance by default (curator)', async () => {
    const d = testDiscovery(`zk://${zk.connectString}/layouts`);
    const sub = await registered(d, {
      service: 'writes-curator',
      host: '127.0.0.1',
      port: 18300,
      id: 'i1',
      zone: 'z1',
      metadata: { k: 'v' },
    });
    try {
      const json = JSON.parse(await raw.get('/layouts/writes-curator/i1'));
      expect(json).toMatchObject({
        name: 'writes-curator',
        id: 'i1',
        address: '127.0.0.1',
        port: 18300,
        sslPort: null,
        serviceType: 'DYNAMIC',
        payload: {
          '@class': 'org.springframework.cloud.zookeeper.discovery.ZookeeperInstance',
          name: 'writes-curator',
          metadata: { k: 'v', zone: 'z1', instance_status: 'UP' },
        },
      });
      expect(typeof json.registrationTimeUTC).toBe('number');
      const owner = await new Promise<string>((r) =>
        raw.client.exists('/layouts/writes-curator/i1', undefined, (_e, st) =>
          r(st!.ephemeralOwner.toString('hex')),
        ),
      );
      expect(owner).not.toBe('0000000000000000'); // ephemeral
    } finally {
      sub.unsubscribe();
      await d.close();
    }
  });

  it('writes go-kit ephemeral sequential address nodes with ?format=gokit, and removes them on unsubscribe', async () => {
    const d = testDiscovery(`zk://${zk.connectString}/layouts?format=gokit`);
    const sub = await registered(d, { service: 'writes-gokit', host: '127.0.0.1', port: 18301 });
    try {
      const children = await raw.children('/layouts/writes-gokit');
      expect(children).toHaveLength(1);
      expect(children[0]).toMatch(/^_c_[0-9a-f]{32}-\d{10}$/);
      expect(await raw.get(`/layouts/writes-gokit/${children[0]}`)).toBe('127.0.0.1:18301');
    } finally {
      sub.unsubscribe();
      await d.settled();
      await d.close();
    }
    expect(await raw.children('/layouts/writes-gokit')).toEqual([]);
  });
});
