/**
 * The Eureka backend against a real server (one per file) in the ways a
 * deployment fails: down when the app starts, restarted under live
 * registrations and watchers, a burst of changes between two polls, a
 * dead peer listed first, a delta that lost a change on the way. Plus the
 * status override, end to end.
 */
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Subscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  appName,
  type RefreshReport,
  setEurekaStatus,
} from '../../../src/backends/eureka/index.js';
import type { Discovery } from '../../../src/core/discovery.js';
import type { RxdiscoError } from '../../../src/core/errors.js';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import type { RegistrationEvent } from '../../../src/core/registration.js';
import { healthy } from '../../../src/operators/healthy.js';
import { waitFor } from '../../conformance/suite.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type EurekaServer, startEureka } from '../../servers/eureka.js';
import { freePort } from '../../servers/process.js';
import {
  deleteInstance,
  getApps,
  postInstance,
  rawInstanceInfo,
  testDiscovery,
} from './harness.js';

vi.setConfig({ testTimeout: 90_000, hookTimeout: 120_000 });
expectNoLeakedHandles();

const PATIENCE = 30_000;
let server: EurekaServer;
const opened: Discovery[] = [];
const open = (d: Discovery): Discovery => {
  opened.push(d);
  return d;
};

beforeAll(async () => {
  server = await startEureka({ deferStart: true });
});

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  await server?.stop();
});

const ids = (s: InstanceSet): string => s.instances.map((i) => i.id).join(',');

/**
 * An HTTP proxy in front of the real server that can make the next
 * `/apps/delta` answer lose the instances of `drop` (as a cache or a
 * buggy peer could), leaving the server's `apps__hashcode` as it is.
 */
const deltaTamperingProxy = async (
  upstream: string,
): Promise<{
  url: string;
  drop: (id: string) => void;
  tampered: () => number;
  close: () => Promise<void>;
}> => {
  let dropping: string | undefined;
  let tampered = 0;
  const proxy: Server = createServer((req, res) => {
    const forward = request(
      `${upstream}${req.url!.replace(/^\/eureka/, '')}`,
      { method: req.method, headers: { ...req.headers, host: new URL(upstream).host } },
      (answer) => {
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => {
          let body = Buffer.concat(chunks).toString('utf8');
          const id = dropping;
          if (id !== undefined && req.url!.endsWith('/apps/delta') && body.includes(id)) {
            const json = JSON.parse(body) as {
              applications: { application?: Array<{ instance: Array<{ instanceId: string }> }> };
            };
            for (const app of json.applications.application ?? [])
              app.instance = app.instance.filter((i) => i.instanceId !== id);
            body = JSON.stringify(json);
            dropping = undefined;
            tampered++;
          }
          const headers = { ...answer.headers };
          delete headers['content-length'];
          delete headers['transfer-encoding'];
          res.writeHead(answer.statusCode ?? 502, headers);
          res.end(body);
        });
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const port = (proxy.address() as AddressInfo).port;
  return {
    url: `eureka://127.0.0.1:${port}/eureka`,
    drop: (id) => {
      dropping = id;
    },
    tampered: () => tampered,
    close: () =>
      new Promise((r) => {
        proxy.closeAllConnections();
        proxy.close(() => r());
      }),
  };
};

describe('Eureka resilience', () => {
  it('starts while the server is down: stale and empty, registration retried, then both recover', async () => {
    expect(server.running).toBe(false);
    const problems: RxdiscoError[] = [];
    const d = open(testDiscovery(server.url, problems));
    const events: RegistrationEvent[] = [];
    const reg = d
      .register({ service: 'early', host: '127.0.0.1', port: 18100, id: 'e1' }, { ttlMs: 15_000 })
      .subscribe((e) => events.push(e));
    const set$ = d.instances$('early');
    const sub = set$.subscribe();
    const stale = await waitFor(set$, () => true, PATIENCE, 'the first set');
    expect(stale.stale).toBe(true);
    expect(stale.size).toBe(0);
    await eventually(
      () => events.filter((e) => e.type === 'retrying').length >= 2,
      PATIENCE,
      'retries',
    );
    expect(problems.length).toBeGreaterThan(0);
    await server.start();
    const fresh = await waitFor(
      set$,
      (s) => !s.stale && s.size === 1,
      PATIENCE,
      'e1 after the start',
    );
    expect(fresh.instances[0]).toMatchObject({ id: 'e1', service: 'early', port: 18100 });
    expect(events.map((e) => e.type)).toContain('registered');
    reg.unsubscribe();
    await d.settled();
    await waitFor(set$, (s) => s.size === 0, PATIENCE, 'e1 deregistered');
    sub.unsubscribe();
  });

  it('survives a server restart: heartbeats get 404, the registration comes back, watchers recover', async () => {
    const d = open(testDiscovery(server.url));
    const events: RegistrationEvent[] = [];
    const reg = d
      .register(
        { service: 'phoenix', host: '127.0.0.1', port: 18101, id: 'p1' },
        { ttlMs: 6000, renewEveryMs: 1000 },
      )
      .subscribe((e) => events.push(e));
    const seen: InstanceSet[] = [];
    const set$ = d.instances$('phoenix');
    const sub = set$.subscribe((s) => seen.push(s));
    await waitFor(set$, (s) => s.size === 1 && !s.stale, PATIENCE, 'p1');
    await server.restart();
    await eventually(() => events.some((e) => e.type === 'reregistered'), PATIENCE, 'reregistered');
    const back = await waitFor(set$, (s) => !s.stale && ids(s) === 'p1', PATIENCE, 'p1 again');
    expect(back.instances[0]!.port).toBe(18101);
    const types = events.map((e) => e.type);
    expect(types.indexOf('lost')).toBeGreaterThan(types.indexOf('registered'));
    expect(types.indexOf('reregistered')).toBeGreaterThan(types.indexOf('lost'));
    const lost = events.find((e) => e.type === 'lost');
    expect(lost?.type === 'lost' && lost.error.message).toMatch(/404|keepalive/);
    // the watcher went stale while the server was away, keeping p1
    expect(seen.some((s) => s.stale && ids(s) === 'p1')).toBe(true);
    reg.unsubscribe();
    await d.settled();
    sub.unsubscribe();
  });

  it('ends with exactly the server set after many changes between two polls, by deltas alone', async () => {
    const reports: RefreshReport[] = [];
    // a long interval: every burst lands between two polls
    const d = open(
      testDiscovery(server.url, [], { intervalMs: 1500, onRefresh: (r) => reports.push(r) }),
    );
    const services = ['burst-a', 'burst-b', 'burst-c'];
    const subs: Subscription[] = services.map((s) => d.instances$(s).subscribe());
    await waitFor(d.instances$('burst-a'), () => true, PATIENCE, 'the first set');
    const fullBefore = reports.filter((r) => r.kind === 'full').length;
    const live = new Map<string, Set<string>>(services.map((s) => [s, new Set()]));
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 30; i++) {
        const service = services[i % 3]!;
        const id = `${service}-${(i * 7 + round) % 13}`;
        if (live.get(service)!.has(id) && i % 4 === 0) {
          await deleteInstance(server.base, appName(service), id);
          live.get(service)!.delete(id);
        } else {
          const port = 20_000 + round * 100 + i;
          await postInstance(
            server.base,
            appName(service),
            rawInstanceInfo({ service, id, host: '127.0.0.1', port }),
          );
          live.get(service)!.add(id);
        }
      }
      for (const service of services) {
        const want = [...live.get(service)!].sort().join(',');
        await waitFor(
          d.instances$(service),
          (s) => ids(s) === want,
          PATIENCE,
          `${service} round ${round}`,
        );
      }
    }
    // the final sets equal the server's own /eureka/apps
    const apps = await getApps(server.base);
    for (const service of services) {
      const app = apps.applications.application.find((a) => a.name === appName(service));
      const serverIds = (app?.instance ?? [])
        .map((i) => String(i.instanceId))
        .sort()
        .join(',');
      const set = await waitFor(d.instances$(service), () => true, PATIENCE, service);
      expect(ids(set)).toBe(serverIds);
      for (const i of set.instances) {
        const raw = app!.instance.find((x) => x.instanceId === i.id) as { port: { $: number } };
        expect(i.port).toBe(raw.port.$);
      }
    }
    // deltas did it: no mismatch, no further full fetch
    expect(reports.filter((r) => r.kind === 'delta').length).toBeGreaterThanOrEqual(3);
    expect(reports.filter((r) => r.kind === 'delta' && r.mismatch)).toEqual([]);
    expect(reports.filter((r) => r.kind === 'full').length).toBe(fullBefore);
    for (const s of subs) s.unsubscribe();
  });

  it('repairs a delta that lost a change: the hashcode differs, a full fetch follows', async () => {
    const proxy = await deltaTamperingProxy(server.base);
    try {
      const reports: RefreshReport[] = [];
      const d = open(testDiscovery(proxy.url, [], { onRefresh: (r) => reports.push(r) }));
      const set$ = d.instances$('lossy');
      const sub = set$.subscribe();
      await postInstance(
        server.base,
        'LOSSY',
        rawInstanceInfo({ service: 'lossy', id: 'l1', host: '127.0.0.1', port: 18104 }),
      );
      await waitFor(set$, (s) => ids(s) === 'l1', PATIENCE, 'l1 by a delta');
      const before = reports.length;
      proxy.drop('l2');
      await postInstance(
        server.base,
        'LOSSY',
        rawInstanceInfo({ service: 'lossy', id: 'l2', host: '127.0.0.1', port: 18105 }),
      );
      await waitFor(set$, (s) => ids(s) === 'l1,l2', PATIENCE, 'l2 after the repair');
      expect(proxy.tampered()).toBe(1);
      // the tampered delta was caught by its hashcode, and a full fetch repaired the copy
      const after = reports.slice(before);
      const caught = after.findIndex((r) => r.kind === 'delta' && r.mismatch === true);
      expect(caught).toBeGreaterThanOrEqual(0);
      expect(after[caught + 1]).toMatchObject({ kind: 'full', mismatch: true });
      expect(after.filter((r) => r.mismatch === true && r.kind === 'delta')).toHaveLength(1);
      sub.unsubscribe();
    } finally {
      await proxy.close();
    }
  });

  it('sets the Eureka status of a registered instance and keeps it in the watch', async () => {
    const d = open(testDiscovery(server.url));
    const reg = d
      .register({ service: 'drain', host: '127.0.0.1', port: 18102, id: 'd1' }, { ttlMs: 15_000 })
      .subscribe();
    const set$ = d.instances$('drain');
    const sub = set$.subscribe();
    await waitFor(set$, (s) => s.get('d1')?.status === 'UP', PATIENCE, 'd1 UP');
    await setEurekaStatus(d, 'drain', 'd1', 'OUT_OF_SERVICE');
    await waitFor(
      set$,
      (s) => s.get('d1')?.status === 'OUT_OF_SERVICE',
      PATIENCE,
      'd1 out of service',
    );
    const up = await waitFor(set$.pipe(healthy()), () => true, PATIENCE, 'the healthy view');
    expect(up.size).toBe(0);
    await setEurekaStatus(server.url, 'drain', 'd1', 'UP'); // by URL, as an operator tool would
    await waitFor(set$, (s) => s.get('d1')?.status === 'UP', PATIENCE, 'd1 UP again');
    await expect(setEurekaStatus(d, 'drain', 'nope', 'DOWN')).rejects.toThrow(/not registered/);
    reg.unsubscribe();
    await d.settled();
    sub.unsubscribe();
  });

  it('fails over from a dead peer listed first, for watches and registrations', async () => {
    const dead = await freePort();
    const url = `eureka://127.0.0.1:${dead},127.0.0.1:${server.port}/eureka`;
    const problems: RxdiscoError[] = [];
    const d = open(testDiscovery(url, problems));
    const reg = d
      .register({ service: 'peers', host: '127.0.0.1', port: 18103, id: 'f1' }, { ttlMs: 15_000 })
      .subscribe();
    const set = await waitFor(
      d.instances$('peers'),
      (s) => s.size === 1,
      PATIENCE,
      'f1 via the second peer',
    );
    expect(set.stale).toBe(false);
    expect(problems).toEqual([]);
    reg.unsubscribe();
    await d.settled();
  });
});
