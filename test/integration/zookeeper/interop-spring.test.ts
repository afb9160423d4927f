/**
 * Interop with Spring Cloud Zookeeper (Java, spring-cloud-starter-zookeeper-discovery
 * on Curator's ServiceDiscovery) against a real ZooKeeper, both ways: rxdisco
 * sees what Spring registers, with its metadata, and Spring's DiscoveryClient
 * sees what rxdisco registers, with its metadata.
 */
import type { Subscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistrationEvent } from '../../../src/core/registration.js';
import { waitFor } from '../../conformance/suite.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { until } from '../../servers/process.js';
import {
  startZookeeper,
  startZookeeperSpringClient,
  type ZookeeperCluster,
  type ZookeeperSpringClient,
} from '../../servers/zookeeper.js';
import { testDiscovery } from './harness.js';

expectNoLeakedHandles();

let zk: ZookeeperCluster;
let spring: ZookeeperSpringClient;

beforeAll(async () => {
  zk = await startZookeeper();
  spring = await startZookeeperSpringClient(zk.connectString, 'spring-zk', {
    version: '7',
    team: 'blue',
  });
}, 120_000);

afterAll(async () => {
  await spring?.stop();
  await zk?.destroy();
});

describe('zk:// with Spring Cloud Zookeeper', () => {
  it('sees the Spring application, with its metadata', async () => {
    const d = testDiscovery(`zk://${zk.connectString}/services`);
    try {
      const set = await waitFor(
        d.instances$('spring-zk'),
        (s) => s.size === 1,
        30_000,
        'the Spring instance',
      );
      expect(set.instances[0]).toMatchObject({
        service: 'spring-zk',
        host: '127.0.0.1',
        port: spring.port,
        status: 'UP',
        metadata: { version: '7', team: 'blue' },
      });
    } finally {
      await d.close();
    }
  }, 60_000);

  it("is seen by Spring's DiscoveryClient, with its metadata", async () => {
    const d = testDiscovery(`zk://${zk.connectString}/services`);
    const events: RegistrationEvent[] = [];
    let sub: Subscription | undefined;
    try {
      sub = d
        .register(
          {
            service: 'from-rxdisco',
            host: '127.0.0.1',
            port: 18400,
            id: 'rx-1',
            metadata: { flavour: 'rx' },
          },
          { ttlMs: 5000 },
        )
        .subscribe((e) => events.push(e));
      await eventually(() => events.some((e) => e.type === 'registered'), 10_000, 'registered');
      let seen: Awaited<ReturnType<ZookeeperSpringClient['seen']>> = [];
      await until(
        async () => {
          seen = await spring.seen('from-rxdisco');
          return seen.length === 1;
        },
        30_000,
        'Spring to see the rxdisco registration',
      );
      expect(seen[0]).toMatchObject({ host: '127.0.0.1', port: 18400, secure: false });
      expect(seen[0]!.metadata).toMatchObject({ flavour: 'rx' });
      sub.unsubscribe();
      sub = undefined;
      await d.settled();
      await until(
        async () => (await spring.seen('from-rxdisco')).length === 0,
        30_000,
        'Spring to see it gone',
      );
    } finally {
      sub?.unsubscribe();
      await d.close();
    }
  }, 60_000);
});
