/**
 * A `-dev` agent restarted on the same ports comes back empty with its
 * index reset: watches recover the set without losing or duplicating
 * instances, and registrations come back by themselves.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Discovery } from '../../../src/core/discovery.js';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import type { RegistrationEvent } from '../../../src/core/registration.js';
import { waitFor } from '../../conformance/suite.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type ConsulAgent, ensureConsul, startConsul } from '../../servers/consul.js';
import { registerRaw, testDiscovery } from './harness.js';

expectNoLeakedHandles();

let agent: ConsulAgent;
const opened: Discovery[] = [];

beforeAll(async () => {
  await ensureConsul();
  agent = await startConsul();
}, 15 * 60_000);

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  await agent?.destroy();
});

const ids = (s: InstanceSet): string => s.instances.map((i) => i.id).join(',');
const index = async (service: string): Promise<number> =>
  Number((await agent.api('GET', `/v1/health/service/${service}`)).index);

describe('consul agent restart', () => {
  it('recovers watches and registrations after the index resets', async () => {
    // a long wait: recovering must not depend on a blocking query timing out
    const d = testDiscovery(agent.url, { waitMs: 300_000 });
    opened.push(d);
    const service = 'restart-svc';
    const events: RegistrationEvent[] = [];
    const reg = d
      .register({ service, host: '127.0.0.1', port: 20001, id: 'r1' }, { ttlMs: 2000 })
      .subscribe((e) => events.push(e));
    await registerRaw(agent, { id: 'x1', service, host: '127.0.0.1', port: 20002 });
    // churn so that the index before the restart is well above a fresh agent's
    for (let i = 0; i < 30; i++) {
      await registerRaw(agent, {
        id: 'churn',
        service: 'churn',
        host: '127.0.0.1',
        port: 20100 + i,
      });
    }
    const emissions: InstanceSet[] = [];
    const set$ = d.instances$(service);
    const sub = set$.subscribe((s) => emissions.push(s));
    await waitFor(set$, (s) => ids(s) === 'r1,x1' && !s.stale, 15_000, 'r1 and x1');
    const before = await index(service);

    await agent.restart();
    const after = await index(service);
    expect(after).toBeLessThan(before); // the index went backwards
    // x1's owner registers it again, as a real service would after an agent restart
    await registerRaw(agent, { id: 'x1', service, host: '127.0.0.1', port: 20002 });

    const fresh = await waitFor(
      set$,
      (s) => ids(s) === 'r1,x1' && !s.stale,
      30_000,
      'r1 and x1 back',
    );
    expect(fresh.instances.map((i) => i.port)).toEqual([20001, 20002]);
    await eventually(() => events.some((e) => e.type === 'reregistered'), 15_000, 'reregistered');
    const types = events.map((e) => e.type);
    expect(types.indexOf('lost')).toBeGreaterThan(types.indexOf('registered'));
    expect(types.indexOf('reregistered')).toBeGreaterThan(types.indexOf('lost'));
    // never two equal sets in a row, and no instance listed twice
    for (let i = 1; i < emissions.length; i++) {
      const [p, c] = [emissions[i - 1]!, emissions[i]!];
      expect(
        p.stale === c.stale &&
          ids(p) === ids(c) &&
          p.instances.every((x, k) => x === c.instances[k]),
      ).toBe(false);
    }
    for (const s of emissions) expect(new Set(s.instances.map((i) => i.id)).size).toBe(s.size);
    // and it still follows changes at the new, lower index
    await registerRaw(agent, { id: 'x2', service, host: '127.0.0.1', port: 20003 });
    await waitFor(set$, (s) => ids(s) === 'r1,x1,x2', 15_000, 'x2 after the restart');
    sub.unsubscribe();
    reg.unsubscribe();
    await d.settled();
  }, 120_000);

  it('marks the set stale when a frozen agent lets a blocking query hang past wait + wait/16, and recovers', async () => {
    const d = testDiscovery(agent.url, { waitMs: 2000, requestTimeoutMs: 1000 });
    opened.push(d);
    const service = 'frozen-svc';
    await registerRaw(agent, { id: 'f1', service, host: '127.0.0.1', port: 20201 });
    const set$ = d.instances$(service);
    const sub = set$.subscribe();
    await waitFor(set$, (s) => ids(s) === 'f1' && !s.stale, 15_000, 'f1');
    agent.pause();
    let frozenFor = 0;
    try {
      const frozenAt = Date.now();
      // wait 2 s + up to 1/16 of jitter + 1 s margin: the request times out, no answer ever comes
      const stale = await waitFor(set$, (s) => s.stale, 15_000, 'the set to go stale');
      frozenFor = Date.now() - frozenAt;
      expect(ids(stale)).toBe('f1');
      expect(stale.stale && stale.error.message).toMatch(/timed out/);
    } finally {
      agent.resume();
    }
    expect(frozenFor).toBeLessThan(8000);
    await waitFor(set$, (s) => ids(s) === 'f1' && !s.stale, 20_000, 'f1 fresh again');
    await registerRaw(agent, { id: 'f2', service, host: '127.0.0.1', port: 20202 });
    await waitFor(set$, (s) => ids(s) === 'f1,f2', 15_000, 'f2 after the freeze');
    sub.unsubscribe();
  }, 60_000);
});
