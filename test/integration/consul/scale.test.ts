/**
 * 1,000 services watched from one discovery against an agent with the
 * default limits (`limits.http_max_conns_per_client` 200): every watch
 * fresh with its exact set, never a 429, and at most `maxConnections`
 * connections to the agent, counted by a TCP proxy in front of it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Discovery } from '../../../src/core/discovery.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type ConsulAgent, ensureConsul, startConsul } from '../../servers/consul.js';
import { CountingProxy } from './counting-proxy.js';
import { deregisterRaw, registerRaw, testDiscovery } from './harness.js';
import { registerServices, Watches } from './scale-watch.js';

expectNoLeakedHandles();

const COUNT = 1000;
let agent: ConsulAgent;
let names: string[];
const opened: Discovery[] = [];
const proxies: CountingProxy[] = [];

/** A proxy of its own for each test: counts from one discovery only. */
const newProxy = async (): Promise<CountingProxy> => {
  const p = await CountingProxy.start(agent.httpPort);
  proxies.push(p);
  return p;
};

beforeAll(async () => {
  await ensureConsul();
  agent = await startConsul();
  names = await registerServices(agent, 'scale', COUNT);
}, 15 * 60_000);

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  await Promise.all(proxies.map((p) => p.close()));
  await agent?.destroy();
});

describe('consul: 1,000 services watched from one discovery', () => {
  it('all fresh with their exact sets, no 429, at most maxConnections connections; changes seen', async () => {
    const proxy = await newProxy();
    const d = testDiscovery(`consul://${proxy.endpoint}`);
    opened.push(d);
    const watches = new Watches(d, names);
    const expected = new Map(names.map((n) => [n, `${n}-a`]));
    const ids = (n: string): string => expected.get(n)!;
    await eventually(
      () => watches.wrong(names, ids).length === 0,
      120_000,
      'every watch fresh with its instance',
    );

    // one service with checks and one without gain an instance; another loses its only one
    const [checked, checkless, emptied] = [names[500]!, names[501]!, names[502]!];
    await registerRaw(agent, {
      id: `${checked}-b`,
      service: checked,
      host: '127.0.0.1',
      port: 20_001,
      check: { TTL: '10m', Status: 'passing' },
    });
    await registerRaw(agent, { id: `${checkless}-b`, service: checkless, port: 20_002 });
    await deregisterRaw(agent, `${emptied}-a`);
    expected.set(checked, `${checked}-a,${checked}-b`);
    expected.set(checkless, `${checkless}-a,${checkless}-b`);
    expected.set(emptied, '');
    await eventually(
      () => watches.wrong(names, ids).length === 0,
      // a change without checks hidden by a later write waits for a full pass (<= waitMs)
      120_000,
      'the three changes in their watches, nothing else moved',
    );

    const counts = proxy.counts();
    watches.close();
    expect(counts.tooMany).toBe(0);
    expect(counts.maxOpen).toBeGreaterThan(0);
    expect(counts.maxOpen).toBeLessThanOrEqual(64);
    // the views share the catalog: far fewer reads than one blocking query per service
    expect(counts.requests).toBeLessThan(COUNT * 3);
  }, 300_000);

  it('renews a registration on time while more blocking queries wait than the blocking slots hold', async () => {
    const proxy = await newProxy();
    const d = testDiscovery(`consul://${proxy.endpoint}`);
    opened.push(d);
    // 100 watches with params: each its own blocking query (48 hold the slots, 52 wait)
    const subs = names.slice(0, 100).map((n) => d.instances$(n, { passing: false }).subscribe());
    await eventually(() => proxy.counts().open >= 48, 60_000, 'the blocking slots taken');
    const renewals: number[] = [];
    const reg = d
      .register(
        { service: 'scale-renewed', host: '127.0.0.1', port: 20_009, id: 'r1' },
        {
          ttlMs: 3000,
          renewEveryMs: 1000,
        },
      )
      .subscribe((e) => {
        if (e.type === 'renewed') renewals.push(Date.now());
      });
    // a blocking query waits up to waitMs (30 s): renewals must not wait for them
    await eventually(() => renewals.length >= 4, 20_000, 'four renewals');
    const counts = proxy.counts();
    reg.unsubscribe();
    for (const s of subs) s.unsubscribe();
    await d.settled();
    expect(counts.tooMany).toBe(0);
    expect(counts.maxOpen).toBeLessThanOrEqual(64);
  }, 120_000);
});
