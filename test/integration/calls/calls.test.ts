/**
 * End to end on loopback: three node:http servers registered in a memory
 * registry, called through `kyFor()` and `call()` with retries, outlier
 * ejection and latency-aware balancers.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { filter, firstValueFrom, type OperatorFunction } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryDiscovery } from '../../../src/backends/memory/index.js';
import { MemoryRegistry } from '../../../src/backends/memory/store.js';
import type { Discovery } from '../../../src/core/discovery.js';
import { baseUrl } from '../../../src/core/instance.js';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import { kyFor } from '../../../src/http/index.js';
import type { Balancer } from '../../../src/operators/balancers/balancer.js';
import { ewma } from '../../../src/operators/balancers/ewma.js';
import { leastRequest } from '../../../src/operators/balancers/least-request.js';
import { roundRobin } from '../../../src/operators/balancers/round-robin.js';
import { call } from '../../../src/operators/call.js';
import { live } from '../../../src/operators/live.js';
import { createOutlierDetector } from '../../../src/operators/outlier-ejection.js';
import { retryBudget } from '../../../src/operators/retry-budget.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';

expectNoLeakedHandles();

interface Node {
  readonly id: string;
  readonly server: Server;
  readonly port: number;
  delayMs: number;
  served: number;
}

const start = async (id: string, delayMs = 0): Promise<Node> => {
  const node = { id, delayMs, served: 0 } as Node;
  const server = createServer((req, res) => {
    node.served++;
    const reply = () => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id, path: req.url }));
    };
    if (node.delayMs > 0) setTimeout(reply, node.delayMs);
    else reply();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(node, { server, port: (server.address() as AddressInfo).port });
};

const stop = (node: Node): Promise<void> =>
  new Promise((resolve) => {
    node.server.close(() => resolve());
    node.server.closeAllConnections();
  });

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.reverse()) await f();
  cleanup = [];
});

/** Three servers registered as `hello` in a fresh memory registry. */
const fleet = async (delays: [number, number, number] = [0, 0, 0]) => {
  const nodes = await Promise.all(delays.map((d, k) => start(`n${k}`, d)));
  const registry: Discovery = memoryDiscovery(new MemoryRegistry(`calls-${Math.random()}`));
  const registrations = nodes.map((n) =>
    registry.register({ id: n.id, service: 'hello', host: '127.0.0.1', port: n.port }).subscribe(),
  );
  const hello$ = registry.instances$('hello');
  await firstValueFrom(hello$.pipe(filter((s) => s.size === 3)));
  cleanup.push(async () => {
    for (const r of registrations) r.unsubscribe();
    await registry.close();
    await Promise.all(nodes.filter((n) => n.server.listening).map(stop));
  });
  return { nodes, hello$ };
};

/** Runs `total` calls, `concurrency` at a time; returns the failures. */
const load = async (
  total: number,
  concurrency: number,
  one: (k: number) => Promise<unknown>,
  midway?: () => Promise<void> | void,
): Promise<unknown[]> => {
  const failures: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < total) {
      const k = next++;
      if (k === Math.floor(total / 3) && midway) await midway();
      await one(k).catch((e: unknown) => failures.push(e));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return failures;
};

describe('calls on loopback', () => {
  it('kyFor: killing one instance mid-load fails no user call, and the dead one is ejected', async () => {
    const { nodes, hello$ } = await fleet();
    const outliers = createOutlierDetector({ consecutiveFailures: 2, baseEjectionMs: 60_000 });
    const ejected: string[] = [];
    const events = outliers.events$.subscribe((e) => {
      if (e.type === 'ejected') ejected.push(e.instance.id);
    });
    const api = kyFor(hello$.pipe(outliers.operator(), roundRobin()), {
      detector: outliers,
      retry: { attempts: 3, budget: retryBudget() },
    });
    cleanup.push(async () => {
      api.close();
      events.unsubscribe();
    });
    const victim = nodes[1]!;
    const failures = await load(
      300,
      10,
      (k) => api.get(`hello/${k}`).json<{ id: string }>(),
      () => stop(victim),
    );
    expect(failures).toEqual([]);
    expect(ejected).toEqual(['n1']);
    const servedAfter = victim.served;
    await load(30, 3, (k) => api.get(`again/${k}`).json());
    expect(victim.served).toBe(servedAfter);
  });

  it('call(): retries a connection refused on a different instance', async () => {
    const { nodes, hello$ } = await fleet();
    await stop(nodes[0]!);
    const hello = live(hello$.pipe(roundRobin({ start: 'first' })));
    cleanup.push(async () => hello.close());
    const seen: string[] = [];
    const body = await call(
      hello,
      async (i, { signal }) => {
        seen.push(i.id);
        const r = await fetch(`${baseUrl(i)}/x`, { signal });
        return (await r.json()) as { id: string };
      },
      { retry: { budget: false } },
    );
    expect(seen[0]).toBe('n0');
    expect(seen[1]).not.toBe('n0');
    expect(body.id).toBe(seen[1]);
  });

  const slowShare = async (balancer: OperatorFunction<InstanceSet, Balancer>): Promise<number> => {
    const { nodes, hello$ } = await fleet([1, 1, 30]);
    const api = kyFor(hello$.pipe(balancer), { retry: { budget: false } });
    cleanup.push(async () => api.close());
    const failures = await load(240, 8, (k) => api.get(`w/${k}`).json());
    expect(failures).toEqual([]);
    const total = nodes.reduce((n, x) => n + x.served, 0);
    return nodes[2]!.served / total;
  };

  it('ewma() sends a slow instance much less than its third of the traffic', async () => {
    expect(await slowShare(ewma())).toBeLessThan(0.12);
  });

  it('leastRequest() sends a slow instance much less than its third of the traffic', async () => {
    expect(await slowShare(leastRequest())).toBeLessThan(0.15);
  });

  it('roundRobin() (control) gives the slow instance its full third', async () => {
    const share = await slowShare(roundRobin());
    expect(share).toBeGreaterThan(0.3);
  });
});
