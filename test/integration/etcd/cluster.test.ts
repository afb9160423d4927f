/**
 * A 3-member etcd cluster on loopback: the leader is killed while instances
 * register and deregister in a loop, and a single member is restarted under
 * a watcher that only knows that member.
 */
import type { Etcd3 } from 'etcd3';
import type { Subscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenWatcher, openWatcher } from '../../../src/backends/etcd/prefix-watch.js';
import type { Discovery } from '../../../src/core/discovery.js';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import type { RegistrationEvent } from '../../../src/core/registration.js';
import { waitFor } from '../../conformance/suite.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type EtcdCluster, type EtcdMember, startEtcd } from '../../servers/etcd.js';
import { jsonValue, leaderOf, rawClient, retry, testDiscovery } from './harness.js';

expectNoLeakedHandles();

const PATIENCE = 15_000;
let etcd: EtcdCluster;
let raw: Etcd3;
const opened: Discovery[] = [];

beforeAll(async () => {
  etcd = await startEtcd({ size: 3 });
  raw = rawClient(etcd.endpoints);
});

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  raw?.close();
  await etcd?.destroy();
});

const ids = (s: InstanceSet): string => s.instances.map((i) => i.id).join(',');

/** The member that is the raft leader now. */
const leader = (): Promise<EtcdMember> => leaderOf(etcd, raw);

describe('etcd cluster', () => {
  it('keeps every watcher exact and gapless while the leader is killed under register/deregister churn', async () => {
    const prefix = '/cluster/';
    const service = 'churn';
    const url = `etcd://${etcd.endpoints.join(',')}${prefix}`;
    const watchers = [testDiscovery(url), testDiscovery(url)];
    const writer = testDiscovery(url);
    opened.push(...watchers, writer);
    const seen: InstanceSet[][] = watchers.map(() => []);
    const subs = watchers.map((d, i) => d.instances$(service).subscribe((s) => seen[i]!.push(s)));
    const expectEverywhere = async (want: string, what: string) => {
      for (const d of watchers)
        await waitFor(d.instances$(service), (s) => ids(s) === want && !s.stale, PATIENCE, what);
    };
    const live = new Map<string, Subscription>();
    const expected = new Set<string>();
    const want = () => [...expected].sort().join(',');
    const N = 24;
    let killed: EtcdMember | undefined;
    for (let i = 0; i < N; i++) {
      if (i === 8) {
        killed = await leader();
        await killed.kill();
      }
      if (i === 16) await killed!.start();
      const id = `i${String(i).padStart(2, '0')}`;
      const events: RegistrationEvent[] = [];
      live.set(
        id,
        writer
          .register({ service, host: '127.0.0.1', port: 20000 + i, id }, { ttlMs: 3000 })
          .subscribe((e) => events.push(e)),
      );
      expected.add(id);
      await expectEverywhere(want(), `${id} registered`);
      if (i % 3 === 2) {
        // deregister an older one
        const old = [...live.keys()][0]!;
        live.get(old)!.unsubscribe();
        live.delete(old);
        expected.delete(old);
        await expectEverywhere(want(), `${old} deregistered`);
      }
    }
    // every change was seen: each registered id appeared in some emission of every watcher
    for (const history of seen) {
      const appeared = new Set(history.flatMap((s) => s.instances.map((x) => x.id)));
      for (let i = 0; i < N; i++) expect(appeared.has(`i${String(i).padStart(2, '0')}`)).toBe(true);
      expect(ids(history[history.length - 1]!)).toBe(want());
    }
    for (const s of live.values()) s.unsubscribe();
    await writer.settled();
    await expectEverywhere('', 'everything deregistered');
    for (const s of subs) s.unsubscribe();
  });

  it('resumes from its revision when the only member it knows restarts', async () => {
    await eventually(() => etcd.members.every((m) => m.running), PATIENCE, 'all members up');
    const prefix = '/restart/';
    const service = 'resume';
    const member = etcd.members[1]!;
    const starts: number[] = [];
    const spy: OpenWatcher = (client, p, revision) => {
      starts.push(revision);
      return openWatcher(client, p, revision);
    };
    const d = testDiscovery(`etcd://${member.endpoint}${prefix}`, [], { openWatcher: spy });
    opened.push(d);
    const put = (id: string) =>
      retry(() =>
        raw
          .put(`${prefix}${service}/${id}`)
          .value(jsonValue({ id, service, host: '127.0.0.1', port: 21000 }))
          .exec(),
      );
    await put('before');
    const set$ = d.instances$(service);
    const sub = set$.subscribe();
    await waitFor(set$, (s) => ids(s) === 'before' && !s.stale, PATIENCE, 'before');
    await member.stop();
    const others = rawClient(etcd.members.filter((m) => m !== member).map((m) => m.endpoint));
    let firstDown: number;
    try {
      firstDown = Number(
        (await retry(() => others.delete().key(`${prefix}${service}/before`).exec())).header
          .revision,
      );
      await retry(() =>
        others
          .put(`${prefix}${service}/during`)
          .value(jsonValue({ id: 'during', service, host: '127.0.0.1', port: 21001 }))
          .exec(),
      );
    } finally {
      others.close();
    }
    await waitFor(set$, (s) => s.stale, PATIENCE, 'stale while the member is down');
    await member.start();
    await waitFor(
      set$,
      (s) => ids(s) === 'during' && !s.stale,
      PATIENCE,
      'the changes made while it was down',
    );
    // one read at the start, then watches; the reopened one started before the downtime writes
    expect(starts.length).toBeGreaterThanOrEqual(2);
    expect(starts[starts.length - 1]).toBeLessThanOrEqual(firstDown);
    expect(starts[starts.length - 1]).toBe(starts[0]);
    sub.unsubscribe();
  });
});
