/**
 * dns+srv:// and dns:// against a real authoritative server (Knot), whose
 * zone each test rewrites and reloads: SRV fields into instances, the TTL
 * as the re-resolution interval (bounded by minTtl/maxTtl), NXDOMAIN as a
 * fresh empty set, TCP when the UDP answer is truncated, A/AAAA with a port.
 */
import { filter, firstValueFrom, type Observable, timeout } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dnsDiscovery } from '../../../src/backends/dns/index.js';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import type { Discovery } from '../../../src/core/discovery.js';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import { discovery } from '../../../src/discovery.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type KnotServer, startKnot } from '../../servers/dns.js';
import { type CountingRelay, startCountingRelay } from './counting-relay.js';

let server: KnotServer;
const opened: Discovery[] = [];

beforeAll(async () => {
  server = await startKnot();
}, 60_000);

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  await server?.destroy();
});

expectNoLeakedHandles();

const open = (url: string, options: Parameters<typeof dnsDiscovery>[1] = {}): Discovery => {
  const d = dnsDiscovery(url, {
    graceMs: 0,
    backoff: exponentialBackoff({ initialMs: 20, maxMs: 200 }),
    onProblem: () => undefined,
    ...options,
  });
  opened.push(d);
  return d;
};

const waitFor = (
  set$: Observable<InstanceSet>,
  predicate: (s: InstanceSet) => boolean,
  what: string,
  ms = 5000,
): Promise<InstanceSet> =>
  firstValueFrom(
    set$.pipe(
      filter(predicate),
      timeout({
        first: ms,
        with: () => {
          throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        },
      }),
    ),
  );

const ports = (s: InstanceSet): string => s.instances.map((i) => i.port).join(',');

describe('dns+srv:// on Knot', () => {
  it('turns SRV records and their targets into instances: address:port ids, SRV weight, priority and target in metadata', async () => {
    await server.setZone([
      '_http._tcp.fields 1 IN SRV 10 5 8080 a1.fields',
      '_http._tcp.fields 1 IN SRV 20 0 8081 a2.fields',
      'a1.fields 1 IN A 127.0.0.1',
      'a1.fields 1 IN AAAA ::1',
      'a2.fields 1 IN A 127.0.0.2',
    ]);
    const d = open(`dns+srv://${server.address}/?minTtl=50ms&maxTtl=200ms`);
    const set = await waitFor(d.instances$('_http._tcp.fields.rxdisco.test'), () => true, 'a set');
    expect(set.stale).toBe(false);
    expect(set.instances.map((i) => [i.id, i.host, i.port, i.weight, i.metadata])).toEqual([
      [
        '127.0.0.1:8080',
        '127.0.0.1',
        8080,
        5,
        { target: 'a1.fields.rxdisco.test', priority: '10' },
      ],
      [
        '127.0.0.2:8081',
        '127.0.0.2',
        8081,
        0,
        { target: 'a2.fields.rxdisco.test', priority: '20' },
      ],
      ['[::1]:8080', '::1', 8080, 5, { target: 'a1.fields.rxdisco.test', priority: '10' }],
    ]);
    expect(set.instances[0]).toMatchObject({
      service: '_http._tcp.fields.rxdisco.test',
      status: 'UP',
      secure: false,
      registry: d.registry,
    });
  });

  /** How long `n` more queries take to reach the relay. */
  const timeQueries = async (relay: CountingRelay, n: number, within: number): Promise<number> => {
    const from = relay.count;
    const started = performance.now();
    await eventually(() => relay.count >= from + n, within, `${n} more queries`);
    return performance.now() - started;
  };

  it('re-resolves at the records’ TTL, bounded by minTtl and maxTtl, and reads a TTL the zone changes', async () => {
    const relay = await startCountingRelay(server.port);
    try {
      await server.setZone(['_http._tcp.ttl 1 IN SRV 0 1 8080 a1.ttl', 'a1.ttl 1 IN A 127.0.0.1']);
      const d = open(`dns+srv://${relay.address}/?minTtl=50ms&maxTtl=2s`);
      const set$ = d.instances$('_http._tcp.ttl.rxdisco.test');
      const sub = set$.subscribe();
      await waitFor(set$, (s) => s.size === 1, 'the first set');
      // TTL 1 s: one SRV query a second (the A record comes in the additional section).
      const atOneSecond = await timeQueries(relay, 3, 8000);
      expect(atOneSecond).toBeGreaterThan(1800);
      expect(atOneSecond).toBeLessThan(4500);
      // The zone raises the TTL to an hour: once read, the interval is maxTtl (2 s).
      await server.setZone([
        '_http._tcp.ttl 3600 IN SRV 0 1 8081 a1.ttl',
        'a1.ttl 3600 IN A 127.0.0.1',
      ]);
      await waitFor(set$, (s) => ports(s) === '8081', 'the new port');
      const atMax = await timeQueries(relay, 2, 10_000);
      expect(atMax).toBeGreaterThan(3500);
      expect(atMax).toBeLessThan(6500);
      sub.unsubscribe();
    } finally {
      await relay.close();
    }
  });

  it('bounds a TTL of 0 (Consul’s default) by minTtl instead of asking without pause', async () => {
    const relay = await startCountingRelay(server.port);
    try {
      await server.setZone([
        '_http._tcp.zero 0 IN SRV 0 1 8080 a1.zero',
        'a1.zero 0 IN A 127.0.0.1',
      ]);
      const d = open(`dns+srv://${relay.address}/?minTtl=500ms&maxTtl=30s`);
      const set$ = d.instances$('_http._tcp.zero.rxdisco.test');
      const sub = set$.subscribe();
      await waitFor(set$, (s) => s.size === 1, 'the first set');
      const elapsed = await timeQueries(relay, 4, 6000);
      expect(elapsed).toBeGreaterThan(1400);
      expect(elapsed).toBeLessThan(3500);
      sub.unsubscribe();
    } finally {
      await relay.close();
    }
  });

  it('sees NXDOMAIN as a fresh empty set, then the records when they appear and go', async () => {
    await server.setZone([]);
    const d = open(`dns+srv://${server.address}/?minTtl=50ms&maxTtl=200ms`);
    const set$ = d.instances$('_http._tcp.later.rxdisco.test');
    const sub = set$.subscribe();
    const first = await waitFor(set$, () => true, 'the first set');
    expect(first.size).toBe(0);
    expect(first.stale).toBe(false);
    await server.setZone([
      '_http._tcp.later 1 IN SRV 0 1 8080 a1.later',
      'a1.later 1 IN A 127.0.0.1',
    ]);
    await waitFor(set$, (s) => s.size === 1, 'the record', 5000);
    await server.setZone([]);
    const gone = await waitFor(set$, (s) => s.size === 0, 'the record to go', 5000);
    expect(gone.stale).toBe(false);
    sub.unsubscribe();
  });

  it('asks again over TCP when the UDP answer is truncated, and sees every record', async () => {
    const records = Array.from({ length: 120 }, (_, i) => [
      `_http._tcp.big 30 IN SRV 0 1 ${20000 + i} t${i}.big`,
      `t${i}.big 30 IN A 127.0.0.1`,
    ]).flat();
    await server.setZone(records);
    const d = open(`dns+srv://${server.address}/`, { udpPayloadSize: 512 });
    const set = await waitFor(d.instances$('_http._tcp.big.rxdisco.test'), () => true, 'a set');
    expect(set.size).toBe(120);
    expect(set.instances.every((i) => i.host === '127.0.0.1')).toBe(true);
  });

  it('skips and reports an SRV record that does not make an instance (port 0, a target without addresses)', async () => {
    await server.setZone([
      '_http._tcp.mixed 1 IN SRV 0 1 8080 good.mixed',
      '_http._tcp.mixed 1 IN SRV 0 1 0 zero.mixed',
      '_http._tcp.mixed 1 IN SRV 0 1 8082 nowhere.mixed',
      'good.mixed 1 IN A 127.0.0.1',
      'zero.mixed 1 IN A 127.0.0.1',
    ]);
    const problems: string[] = [];
    const d = open(`dns+srv://${server.address}/?minTtl=50ms&maxTtl=200ms`, {
      onProblem: (p) => problems.push(p.message),
    });
    const set = await waitFor(d.instances$('_http._tcp.mixed.rxdisco.test'), () => true, 'a set');
    expect(set.instances.map((i) => i.id)).toEqual(['127.0.0.1:8080']);
    expect(
      problems.some((m) =>
        /zero\.mixed\.rxdisco\.test:0.*data\.port: expected Port, got 0/.test(m),
      ),
    ).toBe(true);
    expect(problems.some((m) => /nowhere\.mixed\.rxdisco\.test:8082.*A or AAAA/.test(m))).toBe(
      true,
    );
  });
});

describe('dns:// on Knot', () => {
  it('resolves the A and AAAA records of a name on the port of the watch or of the URL', async () => {
    await server.setZone([
      'web 1 IN A 127.0.0.1',
      'web 1 IN A 127.0.0.2',
      'web 1 IN AAAA ::1',
      'alias 1 IN CNAME web',
    ]);
    const d = discovery(`dns://${server.address}/?port=8080&minTtl=50ms&maxTtl=200ms`, {
      graceMs: 0,
      onProblem: () => undefined,
    });
    opened.push(d);
    const byUrl = await waitFor(d.instances$('web.rxdisco.test'), () => true, 'a set');
    expect(byUrl.instances.map((i) => i.id)).toEqual([
      '127.0.0.1:8080',
      '127.0.0.2:8080',
      '[::1]:8080',
    ]);
    const byWatch = await waitFor(
      d.instances$('alias.rxdisco.test', { port: 9090 }),
      () => true,
      'a set',
    );
    expect(byWatch.instances.map((i) => i.id)).toEqual([
      '127.0.0.1:9090',
      '127.0.0.2:9090',
      '[::1]:9090',
    ]);
  });
});
