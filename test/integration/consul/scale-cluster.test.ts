/**
 * 1,000 services watched through a 3-server Consul cluster whose leader is
 * stopped while services change: every watch ends fresh with its exact
 * set, never a 429, and at most `maxConnections` connections to any one
 * server (counted by a TCP proxy in front of each).
 */
import { defer, lastValueFrom, retry } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Discovery } from '../../../src/core/discovery.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import {
  type ConsulAgent,
  type ConsulCluster,
  ensureConsul,
  startConsulCluster,
} from '../../servers/consul.js';
import { CountingProxy } from './counting-proxy.js';
import { deregisterRaw, registerRaw, testDiscovery } from './harness.js';
import { eachLimited, registerServices, Watches } from './scale-watch.js';

expectNoLeakedHandles();

const COUNT = 1000;
let cluster: ConsulCluster;
const proxies: CountingProxy[] = [];
const opened: Discovery[] = [];

beforeAll(async () => {
  await ensureConsul();
  cluster = await startConsulCluster(3);
}, 15 * 60_000);

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  await Promise.all(proxies.map((p) => p.close()));
  await cluster?.destroy();
});

/** Retries a write refused while there is no leader, every 200 ms, for up to a minute. */
const retried = (write: () => Promise<void>): Promise<void> =>
  lastValueFrom(defer(write).pipe(retry({ count: 300, delay: 200 })), { defaultValue: undefined });

describe('consul cluster: 1,000 services watched while the leader stops', () => {
  it('every watch ends fresh with its exact set; no 429; at most maxConnections to each server', async () => {
    const leader = await cluster.leader();
    const followers = cluster.agents.filter((a) => a !== leader);
    const writer: ConsulAgent = followers[0]!;
    const names = await registerServices(writer, 'cl', COUNT);
    for (const a of [...followers, leader]) proxies.push(await CountingProxy.start(a.httpPort));
    const d = testDiscovery(`consul://${proxies.map((p) => p.endpoint).join(',')}`);
    opened.push(d);
    const watches = new Watches(d, names);
    const expected = new Map(names.map((n) => [n, `${n}-a`]));
    const ids = (n: string): string => expected.get(n)!;
    await eventually(() => watches.wrong(names, ids).length === 0, 120_000, 'every watch fresh');

    await leader.kill();
    // churn through the election: 50 services gain an instance, 50 lose theirs
    const gain = names.slice(100, 150);
    const lose = names.slice(600, 650);
    for (const n of gain) expected.set(n, `${n}-a,${n}-b`);
    for (const n of lose) expected.set(n, '');
    await eachLimited(
      [...gain.map((n) => ['gain', n]), ...lose.map((n) => ['lose', n])],
      4,
      ([op, n]) =>
        retried(() =>
          op === 'gain'
            ? registerRaw(writer, {
                id: `${n}-b`,
                service: n!,
                host: '127.0.0.1',
                port: 20_003,
                check: { TTL: '10m', Status: 'passing' },
              })
            : deregisterRaw(writer, `${n}-a`),
        ),
    );
    await eventually(
      () => watches.wrong(names, ids).length === 0,
      180_000,
      'every watch fresh with its exact set after the election',
    );
    const counts = proxies.map((p) => p.counts());
    watches.close();
    expect(counts.reduce((n, c) => n + c.tooMany, 0)).toBe(0);
    // the client talks to one server at a time: never more than the cap to any of them
    for (const c of counts) expect(c.maxOpen).toBeLessThanOrEqual(64);
  }, 600_000);
});
