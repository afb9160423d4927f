/**
 * Health checks: an instance whose check fails leaves the passing set and
 * returns when it passes again; `{ passing: false }` shows it with its
 * status; the HTTP check option lets the agent probe the instance.
 */
import { createServer, type Server } from 'node:http';
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
const client = (options: Parameters<typeof testDiscovery>[1] = {}): Discovery => {
  const d = testDiscovery(agent.url, options);
  opened.push(d);
  return d;
};

beforeAll(async () => {
  await ensureConsul();
  agent = await startConsul();
}, 15 * 60_000);

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  await agent?.destroy();
});

const ids = (s: InstanceSet): string => s.instances.map((i) => i.id).join(',');
const statusOf = (s: InstanceSet, id: string): string | undefined => s.get(id)?.status;

describe('consul health checks', () => {
  it('drops an instance whose check fails from the passing set and brings it back', async () => {
    const d = client();
    const service = 'checked';
    const ttlCheck = { CheckID: 'service:h1', TTL: '60s', Status: 'passing' };
    await registerRaw(agent, {
      id: 'h1',
      service,
      host: '127.0.0.1',
      port: 21001,
      check: ttlCheck,
    });
    await registerRaw(agent, { id: 'h2', service, host: '127.0.0.1', port: 21002 });
    const passing$ = d.instances$(service);
    const all$ = d.instances$(service, { passing: false });
    const subs = [passing$.subscribe(), all$.subscribe()];
    await waitFor(passing$, (s) => ids(s) === 'h1,h2', 15_000, 'both passing');

    expect((await agent.api('PUT', '/v1/agent/check/fail/service:h1?note=broken')).status).toBe(
      200,
    );
    await waitFor(passing$, (s) => ids(s) === 'h2', 15_000, 'h1 to leave the passing set');
    await waitFor(all$, (s) => statusOf(s, 'h1') === 'DOWN', 15_000, 'h1 DOWN in the full set');

    expect((await agent.api('PUT', '/v1/agent/check/warn/service:h1')).status).toBe(200);
    await waitFor(all$, (s) => statusOf(s, 'h1') === 'UP', 15_000, 'h1 warning = UP');

    expect((await agent.api('PUT', '/v1/agent/check/pass/service:h1')).status).toBe(200);
    await waitFor(passing$, (s) => ids(s) === 'h1,h2', 15_000, 'h1 back in the passing set');

    expect(
      (await agent.api('PUT', '/v1/agent/service/maintenance/h2?enable=true&reason=t')).status,
    ).toBe(200);
    await waitFor(passing$, (s) => ids(s) === 'h1', 15_000, 'h2 in maintenance to leave');
    await waitFor(all$, (s) => statusOf(s, 'h2') === 'OUT_OF_SERVICE', 15_000, 'h2 OUT_OF_SERVICE');
    for (const s of subs) s.unsubscribe();
  });

  it('registers with an HTTP check that the agent probes (option check)', async () => {
    let healthy = true;
    const server: Server = createServer((_req, res) => {
      res.writeHead(healthy ? 200 : 503).end(healthy ? 'ok' : 'down');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const d = client({
        check: (i) => ({
          type: 'http',
          url: `http://${i.host}:${i.port}/health`,
          intervalMs: 1000,
          timeoutMs: 1000,
        }),
      });
      const service = 'http-checked';
      const events: RegistrationEvent[] = [];
      const reg = d
        .register({ service, host: '127.0.0.1', port, id: 'web-http' }, { ttlMs: 3000 })
        .subscribe((e) => events.push(e));
      const set$ = d.instances$(service);
      const sub = set$.subscribe();
      // Consul starts an HTTP check critical until its first probe passes
      await waitFor(set$, (s) => ids(s) === 'web-http', 20_000, 'the probed instance');
      healthy = false;
      await waitFor(set$, (s) => s.size === 0, 20_000, 'the failing instance to leave');
      healthy = true;
      await waitFor(set$, (s) => s.size === 1, 20_000, 'the instance to return');
      // renewals only ask the agent whether it still knows the service
      await eventually(() => events.some((e) => e.type === 'renewed'), 10_000, 'a renewal');
      sub.unsubscribe();
      reg.unsubscribe();
      await d.settled();
      const left = await agent.api('GET', '/v1/agent/service/web-http');
      expect(left.status).toBe(404);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  }, 90_000);

  it('sends tag, near, filter and consistency params that Consul accepts and applies', async () => {
    const d = client();
    const service = 'params';
    await registerRaw(agent, {
      id: 'v1a',
      service,
      host: '127.0.0.1',
      port: 21101,
      tags: ['v1'],
      metadata: { version: '1' },
    });
    await registerRaw(agent, {
      id: 'v2a',
      service,
      host: '127.0.0.1',
      port: 21102,
      tags: ['v2', 'primary'],
      metadata: { version: '2' },
    });
    const wait = (params: Record<string, string | boolean>, want: string) =>
      waitFor(
        d.instances$(service, params),
        (s) => ids(s) === want,
        15_000,
        `${want} for ${JSON.stringify(params)}`,
      );
    await wait({ tag: 'v2,primary', stale: true }, 'v2a');
    await wait({ near: '_agent', consistent: true }, 'v1a,v2a');
    await wait({ filter: 'Service.Meta.version == "1"', dc: 'dc1' }, 'v1a');
    const list = await waitFor(
      client({ consistency: 'stale' }).services$(),
      (l) => l.names.includes(service),
      15_000,
      'a stale read of the catalog',
    );
    expect(list.stale).toBe(false);
  });

  it('registers a non-UP instance in maintenance mode, out of the passing set', async () => {
    const d = client();
    const service = 'starting';
    const reg = d
      .register(
        { service, host: '127.0.0.1', port: 21010, id: 's1', status: 'STARTING' },
        { ttlMs: 5000 },
      )
      .subscribe();
    const passingSizes: number[] = [];
    const watch = d.instances$(service).subscribe((s) => passingSizes.push(s.size));
    const all$ = d.instances$(service, { passing: false });
    const seen = await waitFor(
      all$,
      (s) => s.size === 1 && s.instances[0]!.status === 'OUT_OF_SERVICE',
      15_000,
      's1 out of service in the full set',
    );
    expect(seen.instances[0]!.id).toBe('s1');
    // never in the passing set, not even between registration and maintenance mode
    await waitFor(d.instances$(service), () => true, 15_000, 'the passing set');
    expect(passingSizes.every((n) => n === 0)).toBe(true);
    watch.unsubscribe();
    reg.unsubscribe();
    await d.settled();
  });
});
