/**
 * rxdisco/grpc against grpc-js's own balancing, unary calls to three local
 * grpc-js Echo servers (127.0.0.1, port 0), a closed loop of CLIENTS
 * concurrent callers on one channel, in one run:
 *
 * 1. overhead: `rxdisco:///echo` with `roundRobin()` (a memory registry)
 *    against grpc-js `round_robin` over a static `ipv4:` target of the same
 *    servers. Targets: throughput >= 0.95x, p99 no worse (<= 1.0x, within
 *    5% for timer noise);
 * 2. one server 10x slower (SLOW_MS against FAST_MS): `ewma()` through
 *    grpc-js against grpc-js `round_robin`. Target: p99 at least 3x lower.
 *
 * Both contenders run at the same time in each round (half the callers
 * each), so that the noise of a shared machine hits both alike; the median
 * of the rounds counts.
 */
import * as grpc from '@grpc/grpc-js';
import type { OperatorFunction } from 'rxjs';
import { memoryDiscovery } from '../../src/backends/memory/index.js';
import type { InstanceSet } from '../../src/core/instance-set.js';
import { registerRxdiscoResolver } from '../../src/grpc/index.js';
import type { Balancer } from '../../src/operators/balancers/balancer.js';
import { ewma } from '../../src/operators/balancers/ewma.js';
import { roundRobin } from '../../src/operators/balancers/round-robin.js';
import {
  type EchoClient,
  type EchoServer,
  generatedClient,
  startEcho,
} from '../integration/grpc/echo.js';
import { median, verdict } from './heap.js';

const CLIENTS = 32;
/**
 * Callers of the slow-server comparison (2 per channel). At higher
 * concurrency peak-EWMA's in-flight factor and the latency spikes of a busy
 * machine (each taken as a peak) make a loaded fast server cost as much as
 * the idle slow one, and the slow one gets over 1% of the calls.
 */
const SLOW_CLIENTS = 4;
const ROUND_MS = 3000;
const ROUNDS = 5;
const FAST_MS = 20;
const SLOW_MS = 200;

interface Figures {
  readonly perSecond: number;
  readonly p99: number;
}

/** A closed loop of `callers` callers until `end`: the latencies of their calls (ms). */
const load = async (client: EchoClient, callers: number, end: number): Promise<number[]> => {
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        await client.who();
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return latencies;
};

const figures = (latencies: number[], ms: number): Figures => {
  latencies.sort((x, y) => x - y);
  return {
    perSecond: (latencies.length * 1000) / ms,
    p99: latencies[Math.floor(latencies.length * 0.99)]!,
  };
};

let schemes = 0;

const contenders = (servers: EchoServer[], balancer: OperatorFunction<InstanceSet, Balancer>) => {
  const d = memoryDiscovery(`grpc-bench-${schemes}`);
  const regs = servers.map((s) =>
    d.register({ service: 'echo', id: s.name, host: '127.0.0.1', port: s.port }).subscribe(),
  );
  const r = registerRxdiscoResolver(d, { grpc, scheme: `rxbench${schemes++}`, balancer });
  const rx = generatedClient(grpc, r.target('echo'));
  const target = `ipv4:${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`;
  const rr = generatedClient(grpc, target, {
    'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }),
  });
  return {
    rx,
    rr,
    close: async () => {
      rx.close();
      rr.close();
      r.close();
      for (const reg of regs) reg.unsubscribe();
      await d.close();
    },
  };
};

/**
 * ROUNDS rounds in which both clients run at the same time, CLIENTS / 2
 * callers each, so that both see the same machine (the noise of other
 * processes hits both alike); the median figures of each.
 */
const compare = async (
  a: EchoClient,
  b: EchoClient,
  callers: number,
): Promise<[Figures, Figures]> => {
  // warm both channels: every connection READY
  for (let i = 0; i < 50; i++) {
    await Promise.all([
      a.who(undefined, { waitForReady: true }),
      b.who(undefined, { waitForReady: true }),
    ]);
  }
  const fa: Figures[] = [];
  const fb: Figures[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const end = performance.now() + ROUND_MS;
    const [la, lb] = await Promise.all([load(a, callers / 2, end), load(b, callers / 2, end)]);
    fa.push(figures(la, ROUND_MS));
    fb.push(figures(lb, ROUND_MS));
  }
  const med = (fs: Figures[]): Figures => ({
    perSecond: median(fs.map((f) => f.perSecond)),
    p99: median(fs.map((f) => f.p99)),
  });
  return [med(fa), med(fb)];
};

export const run = async (): Promise<void> => {
  const servers = await Promise.all(['a', 'b', 'c'].map((n) => startEcho(grpc, n)));
  try {
    const overhead = contenders(servers, roundRobin());
    const [rx, rr] = await compare(overhead.rx, overhead.rr, CLIENTS);
    await overhead.close();
    const throughput = rx.perSecond / rr.perSecond;
    const p99 = rx.p99 / rr.p99;
    console.log(
      `rxdisco roundRobin vs grpc-js round_robin (ipv4:), ${CLIENTS} callers: ` +
        `${rx.perSecond.toFixed(0)} vs ${rr.perSecond.toFixed(0)} calls/s = ${throughput.toFixed(2)}x (target >= 0.95x) ${verdict(throughput >= 0.95)}; ` +
        `p99 ${rx.p99.toFixed(2)} vs ${rr.p99.toFixed(2)} ms = ${p99.toFixed(2)}x (target <= 1.00x, 5% timer noise) ${verdict(p99 <= 1.05)}`,
    );

    for (const s of servers) s.delayMs = FAST_MS;
    servers[2]!.delayMs = SLOW_MS;
    const slow = contenders(servers, ewma());
    const [ew, rr2] = await compare(slow.rx, slow.rr, SLOW_CLIENTS);
    await slow.close();
    const lower = rr2.p99 / ew.p99;
    console.log(
      `one of three servers 10x slower (${SLOW_MS} vs ${FAST_MS} ms), ${SLOW_CLIENTS} callers: rxdisco ewma p99 ${ew.p99.toFixed(1)} ms vs grpc-js round_robin ${rr2.p99.toFixed(1)} ms = ` +
        `${lower.toFixed(1)}x lower (target >= 3x) ${verdict(lower >= 3)}; throughput ${ew.perSecond.toFixed(0)} vs ${rr2.perSecond.toFixed(0)} calls/s`,
    );
  } finally {
    for (const s of servers) await s.stop();
  }
};

if (import.meta.url === `file://${process.argv[1]}`) await run();
