/**
 * rxdisco/grpc end to end on loopback, for grpc-js 1.14.x and 1.13.x: Echo
 * servers (grpc-js, 127.0.0.1 port 0) registered in a memory registry,
 * called through `rxdisco:///echo` targets with generated-style and
 * proto-loader clients.
 */
import { Observable, pipe, ReplaySubject } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryDiscovery } from '../../../src/backends/memory/index.js';
import type { Discovery } from '../../../src/core/discovery.js';
import { RegistryUnavailableError } from '../../../src/core/errors.js';
import { createInstance } from '../../../src/core/instance.js';
import { emptySet, type InstanceSet, instanceSet } from '../../../src/core/instance-set.js';
import { registerRxdiscoResolver } from '../../../src/grpc/index.js';
import { consistentHash } from '../../../src/operators/balancers/consistent-hash.js';
import { ewma } from '../../../src/operators/balancers/ewma.js';
import { roundRobin } from '../../../src/operators/balancers/round-robin.js';
import { createOutlierDetector } from '../../../src/operators/outlier-ejection.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import {
  type EchoClient,
  type EchoServer,
  GRPC_VERSIONS,
  generatedClient,
  protoLoaderClient,
  startEcho,
} from './echo.js';

expectNoLeakedHandles();

let cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

let n = 0;

describe.each(GRPC_VERSIONS)('grpc-js %s', (_version, grpc) => {
  const setup = async (names: string[], delays: number[] = []) => {
    const d: Discovery = memoryDiscovery(`grpc-${process.pid}-${n++}`, { graceMs: 0 });
    cleanup.push(() => d.close());
    const servers: EchoServer[] = [];
    for (const [i, name] of names.entries()) {
      const s = await startEcho(grpc, name, delays[i] ?? 0);
      servers.push(s);
      cleanup.push(() => s.stop());
    }
    const regs = servers.map((s) =>
      d.register({ service: 'echo', id: s.name, host: '127.0.0.1', port: s.port }).subscribe(),
    );
    cleanup.push(() => {
      for (const r of regs) r.unsubscribe();
    });
    return { d, servers, regs };
  };
  const scheme = () => `rxd${n++}`;
  const client = (make: typeof generatedClient, target: string, options?: object): EchoClient => {
    const c = make(grpc, target, options);
    cleanup.push(() => c.close());
    return c;
  };

  it.each([
    ['generated', generatedClient],
    ['proto-loader', protoLoaderClient],
  ] as const)('spreads calls round robin (%s client)', async (_kind, make) => {
    const { d } = await setup(['a', 'b', 'c']);
    const r = registerRxdiscoResolver(d, { grpc, scheme: scheme(), balancer: roundRobin() });
    const c = client(make, r.target('echo'));
    await c.who(undefined, { waitForReady: true });
    // once all three are READY, round robin visits each in turn
    const seen = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const who = await c.who(undefined, { waitForReady: true });
      seen.set(who, (seen.get(who) ?? 0) + 1);
    }
    expect([...seen.keys()].sort()).toEqual(['a', 'b', 'c']);
    for (const count of seen.values()) expect(count).toBeGreaterThanOrEqual(15);
  });

  it('follows the set: a new instance gets calls, a removed one none', async () => {
    const { d, regs } = await setup(['a', 'b']);
    const r = registerRxdiscoResolver(d, { grpc, scheme: scheme() });
    const c = client(generatedClient, r.target('echo'));
    const calls = async (k: number) => {
      const seen = new Set<string>();
      for (let i = 0; i < k; i++) seen.add(await c.who(undefined, { waitForReady: true }));
      return seen;
    };
    const third = await startEcho(grpc, 'c');
    cleanup.push(() => third.stop());
    const reg = d
      .register({ service: 'echo', id: 'c', host: '127.0.0.1', port: third.port })
      .subscribe();
    cleanup.push(() => reg.unsubscribe());
    const start = Date.now();
    while (!(await calls(6)).has('c')) expect(Date.now() - start).toBeLessThan(5000);
    regs[0]!.unsubscribe();
    await d.settled();
    // the removal reaches the channel asynchronously; then 'a' gets no call
    const since = Date.now();
    while ((await calls(6)).has('a')) expect(Date.now() - since).toBeLessThan(5000);
    expect([...(await calls(30))].sort()).toEqual(['b', 'c']);
  });

  it('leaves a stopped server without a failed call while another is READY', async () => {
    const { d, servers } = await setup(['a', 'b']);
    const r = registerRxdiscoResolver(d, { grpc, scheme: scheme() });
    const c = client(generatedClient, r.target('echo'));
    const seen: string[] = [];
    for (let i = 0; i < 10; i++) seen.push(await c.who(undefined, { waitForReady: true }));
    expect(new Set(seen)).toEqual(new Set(['a', 'b']));
    await servers[0]!.stop(); // stops without deregistering: the registry still lists it
    const after: string[] = [];
    for (let i = 0; i < 40; i++) after.push(await c.who(undefined, { waitForReady: true }));
    expect(new Set(after)).toEqual(new Set(['b']));
  });

  it("keeps the channel's methodConfig: a retryPolicy retries an UNAVAILABLE call on another instance", async () => {
    const { d, servers } = await setup(['down', 'up']);
    servers[0]!.failCode = grpc.status.UNAVAILABLE;
    const r = registerRxdiscoResolver(d, { grpc, scheme: scheme() });
    const retrying = {
      'grpc.service_config': JSON.stringify({
        methodConfig: [
          {
            name: [{ service: 'rxdisco.test.Echo' }],
            retryPolicy: {
              maxAttempts: 3,
              initialBackoff: '0.01s',
              maxBackoff: '0.05s',
              backoffMultiplier: 2,
              retryableStatusCodes: ['UNAVAILABLE'],
            },
          },
        ],
      }),
    };
    const c = client(generatedClient, r.target('echo'), retrying);
    for (let i = 0; i < 10; i++)
      await expect(c.who(undefined, { waitForReady: true })).resolves.toBe('up');
    expect(servers[0]!.served).toBeGreaterThan(0);
  });

  it('an empty fresh set fails calls with UNAVAILABLE, waitForReady calls wait for an instance', async () => {
    const { d } = await setup([]);
    const r = registerRxdiscoResolver(d, { grpc, scheme: scheme() });
    const c = client(generatedClient, r.target('echo'));
    await expect(c.who()).rejects.toMatchObject({ code: grpc.status.UNAVAILABLE });
    const waiting = c.who(undefined, { waitForReady: true });
    const s = await startEcho(grpc, 'late');
    cleanup.push(() => s.stop());
    const reg = d
      .register({ service: 'echo', id: 'late', host: '127.0.0.1', port: s.port })
      .subscribe();
    cleanup.push(() => reg.unsubscribe());
    await expect(waiting).resolves.toBe('late');
  });

  it('a stale set keeps the last addresses; a first stale set fails calls naming the error', async () => {
    const s = await startEcho(grpc, 'a');
    cleanup.push(() => s.stop());
    const d = memoryDiscovery(`grpc-stale-${n++}`);
    cleanup.push(() => d.close());
    const sets = new ReplaySubject<InstanceSet>(1);
    const stub: Discovery = Object.assign(Object.create(d) as Discovery, {
      instances$: () => sets.asObservable(),
    });
    const away = {
      stale: true,
      since: 0,
      error: new RegistryUnavailableError('the registry is away', { registry: 'memory://' }),
    } as const;
    sets.next(emptySet('echo', 'memory://', away));
    const r = registerRxdiscoResolver(stub, { grpc, scheme: scheme() });
    const c = client(generatedClient, r.target('echo'));
    await expect(c.who()).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
      details: expect.stringContaining('the registry is away'),
    });
    const a = createInstance(
      { service: 'echo', id: 'a', host: '127.0.0.1', port: s.port },
      'memory://',
    );
    sets.next(instanceSet('echo', 'memory://', [a]));
    await expect(c.who(undefined, { waitForReady: true })).resolves.toBe('a');
    sets.next(emptySet('echo', 'memory://', away)); // the registry went away: nothing known now
    for (let i = 0; i < 10; i++) await expect(c.who()).resolves.toBe('a');
  });

  it('consistentHash sends one key to one server', async () => {
    const { d } = await setup(['a', 'b', 'c']);
    const r = registerRxdiscoResolver(d, { grpc, scheme: scheme(), balancer: consistentHash() });
    const c = client(generatedClient, r.target('echo'));
    await c.who('warm', { waitForReady: true });
    // wait until every connection is READY, so that the ring holds all three
    const servedBy = new Map<string, Set<string>>();
    const keys = Array.from({ length: 30 }, (_, i) => `user-${i}`);
    for (let round = 0; round < 3; round++) {
      for (const k of keys) {
        const who = await c.who(k, { waitForReady: true });
        if (round > 0) servedBy.set(k, (servedBy.get(k) ?? new Set()).add(who));
      }
    }
    for (const owners of servedBy.values()) expect(owners.size).toBe(1);
    const owners = new Set([...servedBy.values()].map((s) => [...s][0]));
    expect(owners.size).toBeGreaterThan(1);
  });

  it('a slow server gets less traffic with ewma()', async () => {
    const { d, servers } = await setup(['fast1', 'fast2', 'slow'], [0, 0, 50]);
    const r = registerRxdiscoResolver(d, { grpc, scheme: scheme(), balancer: ewma() });
    const c = client(generatedClient, r.target('echo'));
    await c.who(undefined, { waitForReady: true });
    const before = servers.map((s) => s.served);
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 25; i++) await c.who(undefined, { waitForReady: true });
      }),
    );
    const served = servers.map((s, i) => s.served - before[i]!);
    expect(served[2]!).toBeLessThan(Math.min(served[0]!, served[1]!) / 3);
  });

  it('UNAVAILABLE ejects an instance, an application error does not', async () => {
    const { d, servers } = await setup(['good', 'down', 'app']);
    servers[1]!.failCode = grpc.status.UNAVAILABLE;
    servers[2]!.failCode = grpc.status.NOT_FOUND;
    const outliers = createOutlierDetector({ consecutiveFailures: 2, maxEjectedRatio: 0.5 });
    const ejected: string[] = [];
    const events = outliers.events$.subscribe((e) => {
      if (e.type === 'ejected') ejected.push(e.instance.id);
    });
    cleanup.push(() => events.unsubscribe());
    const r = registerRxdiscoResolver(d, {
      grpc,
      scheme: scheme(),
      balancer: pipe(outliers.operator(), roundRobin()),
      detector: outliers,
    });
    const c = client(generatedClient, r.target('echo'));
    const results: string[] = [];
    for (let i = 0; i < 30; i++) {
      results.push(
        await c
          .who(undefined, { waitForReady: true })
          .catch((e: { code: number }) => `error ${e.code}`),
      );
    }
    expect(ejected).toEqual(['down']);
    // once 'down' is out, calls alternate between good and app (whose errors are its own)
    expect(results.slice(-10).filter((x) => x === `error ${grpc.status.UNAVAILABLE}`)).toEqual([]);
    expect(results.slice(-10)).toContain(`error ${grpc.status.NOT_FOUND}`);
  });

  it('closing the channel stops its watch; close() stops every watch of the scheme', async () => {
    const { d } = await setup(['a']);
    let watching = 0;
    const counted: Discovery = Object.assign(Object.create(d) as Discovery, {
      instances$: (service: string) =>
        d.instances$(service).pipe(
          (source) =>
            new Observable<InstanceSet>((subscriber) => {
              watching++;
              const s = source.subscribe(subscriber);
              return () => {
                watching--;
                s.unsubscribe();
              };
            }),
        ),
    });
    const r = registerRxdiscoResolver(counted, { grpc, scheme: scheme() });
    const c1 = generatedClient(grpc, r.target('echo'));
    await expect(c1.who(undefined, { waitForReady: true })).resolves.toBe('a');
    expect(watching).toBe(1);
    c1.close();
    expect(watching).toBe(0);
    const c2 = client(generatedClient, r.target('echo'));
    await expect(c2.who(undefined, { waitForReady: true })).resolves.toBe('a');
    expect(watching).toBe(1);
    r.close();
    expect(watching).toBe(0);
  });
});
