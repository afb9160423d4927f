/**
 * A 3-member ZooKeeper ensemble with its leader killed while instances
 * churn: once the ensemble has a new leader, the watched set is exactly
 * what was written, and every registration is back.
 */
import type { Subscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import { waitFor } from '../../conformance/suite.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import { until } from '../../servers/process.js';
import { startZookeeper, type ZookeeperCluster } from '../../servers/zookeeper.js';
import { curatorJson, type RawZk, rawZk, testDiscovery } from './harness.js';

expectNoLeakedHandles();

let zk: ZookeeperCluster;
let raw: RawZk;

beforeAll(async () => {
  zk = await startZookeeper(3);
  raw = await rawZk(zk.connectString);
}, 120_000);

afterAll(async () => {
  raw?.close();
  await zk?.destroy();
});

/** Retries a write until the ensemble takes it (it refuses writes while it elects). */
const persist = async (write: () => Promise<void>): Promise<void> => {
  await until(
    () =>
      write().then(
        () => true,
        () => false,
      ),
    30_000,
    'a write to be accepted by the ensemble',
  );
};

const ids = (s: InstanceSet): string => s.instances.map((i) => i.id).join(',');

describe('zk:// on a 3-member ensemble', () => {
  it('keeps exact sets and restores registrations when the leader is killed under churn', async () => {
    const d = testDiscovery(`zk://${zk.connectString}/ensemble`, [], { sessionTimeoutMs: 4000 });
    const subs: Subscription[] = [];
    try {
      for (const id of ['r1', 'r2', 'r3']) {
        subs.push(
          d
            .register({ service: 'churn', host: '127.0.0.1', port: 18200, id }, { ttlMs: 6000 })
            .subscribe(),
        );
      }
      const set$ = d.instances$('churn');
      subs.push(set$.subscribe());
      await waitFor(
        set$,
        (s) => ids(s) === 'r1,r2,r3' && !s.stale,
        20_000,
        'the three registrations',
      );

      const written = new Set<string>();
      const churn = async (from: number, to: number): Promise<void> => {
        for (let n = from; n < to; n++) {
          const id = `w${String(n).padStart(3, '0')}`;
          await persist(() =>
            raw.put(
              `/ensemble/churn/${id}`,
              curatorJson({ id, service: 'churn', host: '127.0.0.1', port: 19000 + n }),
            ),
          );
          written.add(id);
          if (n % 3 === 0) {
            const gone = `w${String(n - 1).padStart(3, '0')}`;
            if (written.has(gone)) {
              await persist(() => raw.remove(`/ensemble/churn/${gone}`));
              written.delete(gone);
            }
          }
        }
      };
      await churn(1, 20);
      const leader = await zk.leader();
      expect(leader).toBeDefined();
      const killing = leader!.kill();
      await churn(20, 40);
      await killing;
      await until(async () => (await zk.leader()) !== undefined, 60_000, 'a new leader');
      await churn(40, 50);

      const expected = [...written, 'r1', 'r2', 'r3'].sort().join(',');
      const final = await waitFor(
        set$,
        (s) => !s.stale && ids(s) === expected,
        30_000,
        `the exact set ${expected}`,
      );
      expect(final.size).toBe(written.size + 3);
      // The registrations live on the server too, not only in our view.
      await until(
        async () => (await raw.children('/ensemble/churn')).sort().join(',') === expected,
        30_000,
        'the registrations on the ensemble',
      );
      await leader!.start();
    } finally {
      for (const s of subs) s.unsubscribe();
      await d.close();
    }
  }, 120_000);
});
