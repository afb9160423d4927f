/**
 * dns+srv:// against Consul's own DNS interface (the agent started with its
 * DNS port on): a service registered through rxdisco's Consul backend is
 * seen as `<service>.service.consul` (and `_<service>._tcp.service.consul`)
 * SRV records, its health honoured: a failing check takes it out of the
 * answer, a passing one brings it back, deregistration empties the set.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import type { Discovery } from '../../../src/core/discovery.js';
import type { RegistrationEvent } from '../../../src/core/registration.js';
import { discovery } from '../../../src/discovery.js';
import { waitFor } from '../../conformance/suite.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type ConsulAgent, ensureConsul, startConsul } from '../../servers/consul.js';
import { testDiscovery } from '../consul/harness.js';

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

const dnsOf = (a: ConsulAgent): Discovery => {
  const d = discovery(`dns+srv://127.0.0.1:${a.dnsPort}/?minTtl=100ms&maxTtl=300ms`, {
    graceMs: 20,
    backoff: exponentialBackoff({ initialMs: 50, maxMs: 500 }),
    onProblem: () => undefined,
  });
  opened.push(d);
  return d;
};

describe("dns+srv:// on Consul's DNS interface", () => {
  it('sees a service registered through consul://, honours its health, and sees it deregistered', async () => {
    const consul = testDiscovery(agent.url);
    opened.push(consul);
    const dns = dnsOf(agent);
    const events: RegistrationEvent[] = [];
    const registration = consul
      .register(
        { service: 'dnshello', id: 'r1', host: '127.0.0.1', port: 21100, weight: 3 },
        { ttlMs: 60_000, renewEveryMs: 20_000 },
      )
      .subscribe((e) => events.push(e));
    await eventually(() => events.some((e) => e.type === 'registered'), 15_000, 'registered');

    const set$ = dns.instances$('dnshello.service.consul');
    const rfc$ = dns.instances$('_dnshello._tcp.service.consul');
    const subs = [set$.subscribe(), rfc$.subscribe()];
    const seen = await waitFor(set$, (s) => s.size === 1, 15_000, 'r1 through Consul DNS');
    expect(seen.stale).toBe(false);
    expect(seen.instances[0]).toMatchObject({
      id: '127.0.0.1:21100',
      host: '127.0.0.1',
      port: 21100,
      service: 'dnshello.service.consul',
    });
    expect(seen.instances[0]!.metadata.target).toMatch(/\.consul$/);
    await waitFor(rfc$, (s) => s.size === 1, 15_000, 'r1 under the RFC 2782 name');

    // Health: a failing TTL check takes r1 out of Consul's answers (rxdisco's
    // next renewal is 20 s away), a passing one brings it back.
    expect((await agent.api('PUT', '/v1/agent/check/fail/service:r1?note=down')).status).toBe(200);
    const down = await waitFor(set$, (s) => s.size === 0, 15_000, 'r1 to leave on a failing check');
    expect(down.stale).toBe(false);
    expect((await agent.api('PUT', '/v1/agent/check/pass/service:r1')).status).toBe(200);
    await waitFor(set$, (s) => s.size === 1, 15_000, 'r1 back on a passing check');

    registration.unsubscribe();
    await consul.settled();
    const gone = await waitFor(set$, (s) => s.size === 0, 15_000, 'r1 to go on deregistration');
    expect(gone.stale).toBe(false);
    for (const s of subs) s.unsubscribe();
  });

  it('marks the set stale while the agent does not answer, and fresh again after', async () => {
    const dns = dnsOf(agent);
    const set$ = dns.instances$('consul.service.consul');
    const sub = set$.subscribe();
    const first = await waitFor(set$, (s) => s.size === 1, 15_000, 'the consul service itself');
    agent.pause();
    try {
      const stale = await waitFor(set$, (s) => s.stale, 15_000, 'the set to go stale');
      expect(stale.instances.map((i) => i.id)).toEqual(first.instances.map((i) => i.id));
      expect(stale.stale && stale.error.retryable).toBe(true);
    } finally {
      agent.resume();
    }
    await waitFor(set$, (s) => !s.stale && s.size === 1, 15_000, 'the set to be fresh again');
    sub.unsubscribe();
  });
});
