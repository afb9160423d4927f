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
let proxy: CountingProxy;
let names: string[];
const opened: Discovery[] = [];

beforeAll(async () => {
  await ensureConsul();
  agent = await startConsul();
  proxy = await CountingProxy.start(agent.httpPort);
  names = await registerServices(agent, 'scale', COUNT);
}, 15 * 60_000);

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  await proxy?.close();
  await agent?.destroy();
});

describe('consul: 1,000 services watched from one discovery', () => {
  it('all fresh with their exact sets, no 429, at most maxConnections connections; changes seen', async () => {
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
});
