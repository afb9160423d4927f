/**
 * Sessions against a real ZooKeeper behind a fault proxy: a cut shorter
 * than the session timeout keeps the registration; a cut longer than it
 * expires the session (node-zookeeper-client reports nothing while cut off,
 * its #20), and the registration is re-created once the server is back:
 * `lost`, then `reregistered`.
 */
import type { Subscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistrationEvent } from '../../../src/core/registration.js';
import { waitFor } from '../../conformance/suite.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { until } from '../../servers/process.js';
import { startZookeeper, type ZookeeperCluster } from '../../servers/zookeeper.js';
import { FaultProxy } from '../etcd/fault-proxy.js';
import { type RawZk, rawZk, testDiscovery } from './harness.js';

expectNoLeakedHandles();

let zk: ZookeeperCluster;
let raw: RawZk;
let proxy: FaultProxy;

beforeAll(async () => {
  zk = await startZookeeper();
  raw = await rawZk(zk.connectString);
  proxy = await FaultProxy.start(zk.members[0]!.endpoint);
});

afterAll(async () => {
  raw?.close();
  await proxy?.close();
  await zk?.destroy();
});

const ownerOf = async (path: string): Promise<string | undefined> =>
  new Promise((resolve) =>
    raw.client.exists(path, undefined, (_e, st) =>
      resolve(st ? st.ephemeralOwner.toString('hex') : undefined),
    ),
  );

describe('zk:// sessions', () => {
  it('an expired session (cut off past its timeout) re-creates the registration: lost, then reregistered', async () => {
    const d = testDiscovery(`zk://${proxy.endpoint}/sessions`, [], { sessionTimeoutMs: 1500 });
    const events: RegistrationEvent[] = [];
    let sub: Subscription | undefined;
    try {
      sub = d
        .register(
          { service: 'exp', host: '127.0.0.1', port: 18100, id: 'e1' },
          { ttlMs: 30_000, renewEveryMs: 300 },
        )
        .subscribe((e) => events.push(e));
      await eventually(() => events.some((e) => e.type === 'registered'), 10_000, 'registered');
      const first = await ownerOf('/sessions/exp/e1');
      expect(first).toBeDefined();
      const set$ = d.instances$('exp');
      const seen = set$.subscribe();
      await waitFor(set$, (s) => s.size === 1 && !s.stale, 10_000, 'e1 seen');

      proxy.block();
      // Cut off: the set goes stale at once; past the session timeout the backend knows
      // the session (and so the ephemeral node) is gone, though the client reported nothing.
      await waitFor(set$, (s) => s.stale, 10_000, 'the set to go stale');
      await eventually(
        () => events.some((e) => e.type === 'lost'),
        10_000,
        'the lost event while cut off',
      );
      // The ensemble expired the session too: the node is gone.
      await until(
        async () => (await ownerOf('/sessions/exp/e1')) === undefined,
        10_000,
        'the node to vanish',
      );

      proxy.unblock();
      await eventually(() => events.some((e) => e.type === 'reregistered'), 15_000, 'reregistered');
      const second = await ownerOf('/sessions/exp/e1');
      expect(second).toBeDefined();
      expect(second).not.toBe(first);
      const types = events.map((e) => e.type);
      expect(types.indexOf('lost')).toBeLessThan(types.indexOf('reregistered'));
      await waitFor(set$, (s) => s.size === 1 && !s.stale, 10_000, 'e1 seen fresh again');
      seen.unsubscribe();
    } finally {
      proxy.unblock();
      sub?.unsubscribe();
      await d.close();
    }
  }, 60_000);

  it('a cut shorter than the session timeout keeps the session and the node', async () => {
    const d = testDiscovery(`zk://${proxy.endpoint}/sessions`, [], { sessionTimeoutMs: 8000 });
    const events: RegistrationEvent[] = [];
    let sub: Subscription | undefined;
    try {
      sub = d
        .register(
          { service: 'short', host: '127.0.0.1', port: 18101, id: 's1' },
          { ttlMs: 30_000, renewEveryMs: 300 },
        )
        .subscribe((e) => events.push(e));
      await eventually(() => events.some((e) => e.type === 'registered'), 10_000, 'registered');
      const owner = await ownerOf('/sessions/short/s1');
      const set$ = d.instances$('short');
      const seen = set$.subscribe();
      await waitFor(set$, (s) => s.size === 1 && !s.stale, 10_000, 's1 seen');
      proxy.block();
      await waitFor(set$, (s) => s.stale, 10_000, 'the set to go stale');
      proxy.unblock();
      await waitFor(set$, (s) => s.size === 1 && !s.stale, 15_000, 's1 fresh again');
      await eventually(
        () => events.filter((e) => e.type === 'renewed').length >= 2,
        10_000,
        'renewals after the cut',
      );
      expect(await ownerOf('/sessions/short/s1')).toBe(owner);
      expect(events.map((e) => e.type)).not.toContain('lost');
      seen.unsubscribe();
    } finally {
      proxy.unblock();
      sub?.unsubscribe();
      await d.close();
    }
  }, 60_000);
});
