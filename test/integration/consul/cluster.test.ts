/**
 * Three Consul servers on loopback; the leader is stopped: watches and
 * registrations go on through the election.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Discovery } from '../../../src/core/discovery.js';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import type { RegistrationEvent } from '../../../src/core/registration.js';
import { waitFor } from '../../conformance/suite.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type ConsulCluster, ensureConsul, startConsulCluster } from '../../servers/consul.js';
import { registerRaw, testDiscovery } from './harness.js';

expectNoLeakedHandles();

let cluster: ConsulCluster;
const opened: Discovery[] = [];

beforeAll(async () => {
  await ensureConsul();
  cluster = await startConsulCluster(3);
}, 15 * 60_000);

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  await cluster?.destroy();
});

const ids = (s: InstanceSet): string => s.instances.map((i) => i.id).join(',');

describe('consul cluster of three servers', () => {
  it('keeps watching and registering through a leader election', async () => {
    const leader = await cluster.leader();
    const followers = cluster.agents.filter((a) => a !== leader);
    // the client talks to a follower first, then to the other servers
    const url = `consul://${[...followers, leader].map((a) => `127.0.0.1:${a.httpPort}`).join(',')}`;
    const d = testDiscovery(url);
    opened.push(d);
    const service = 'clustered';
    const events: RegistrationEvent[] = [];
    const reg = d
      .register({ service, host: '127.0.0.1', port: 23001, id: 'c1' }, { ttlMs: 3000 })
      .subscribe((e) => events.push(e));
    const set$ = d.instances$(service);
    const sub = set$.subscribe();
    await waitFor(set$, (s) => ids(s) === 'c1' && !s.stale, 20_000, 'c1');

    await leader.kill();
    const killedAt = Date.now();
    const next = await cluster.leader(60_000);
    expect(next).not.toBe(leader);
    // a change made after the election reaches the watch
    await registerRaw(followers[1]!, { id: 'c2', service, host: '127.0.0.1', port: 23002 });
    await waitFor(
      set$,
      (s) => ids(s) === 'c1,c2' && !s.stale,
      30_000,
      'c1 and c2 after the election',
    );
    // the registration is kept alive through the election
    await eventually(
      () => events.some((e) => e.type === 'renewed' && e.at > killedAt),
      20_000,
      'a renewal after the leader stopped',
    );
    expect(events.filter((e) => e.type === 'lost')).toEqual([]);
    sub.unsubscribe();
    reg.unsubscribe();
    await d.settled();
    await waitFor(d.instances$(service), (s) => ids(s) === 'c2', 20_000, 'c1 deregistered');
  }, 180_000);
});
