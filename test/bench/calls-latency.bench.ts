/**
 * Latency-aware balancing in a simulated fleet: 10 instances, one of them
 * 10x slower, each serving at most 4 calls at once (the rest queue), in
 * virtual time, so that the run is fast and repeatable. A closed loop of
 * CLIENTS callers, each making its next call 1 ms after the last one
 * ended (as a service under load does). Compares the p99 latency of calls
 * under `ewma()` and `leastRequest()` against `roundRobin()`. Target: at
 * least 3x lower p99.
 */
import { type OperatorFunction, of } from 'rxjs';
import { createInstance, type Instance } from '../../src/core/instance.js';
import { type InstanceSet, instanceSet } from '../../src/core/instance-set.js';
import type { Balancer } from '../../src/operators/balancers/balancer.js';
import { ewma } from '../../src/operators/balancers/ewma.js';
import { leastRequest } from '../../src/operators/balancers/least-request.js';
import { roundRobin } from '../../src/operators/balancers/round-robin.js';
import { verdict } from './heap.js';

const INSTANCES = 10;
const WORKERS = 4;
const FAST_MS = 10;
const SLOW_MS = 100;
const CLIENTS = 24;
const THINK_MS = 1;
const CALLS = 100_000;

/** mulberry32, seeded: the same run every time. */
const seeded = (seed: number) => (): number => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const instances: Instance[] = Array.from({ length: INSTANCES }, (_, k) =>
  createInstance(
    { id: `i${k}`, service: 'bench', host: `10.0.0.${k}`, port: 8080 },
    'memory://bench',
  ),
);
const set: InstanceSet = instanceSet('bench', 'memory://bench', instances);

interface Server {
  busy: number;
  readonly queue: number[]; // arrival times of queued calls
}

/** A binary min-heap of [time, kind, server, arrival] events. */
class Events {
  readonly #heap: [number, number, number, number][] = [];
  push(e: [number, number, number, number]): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]![0] <= h[i]![0]) break;
      [h[p], h[i]] = [h[i]!, h[p]!];
      i = p;
    }
  }
  pop(): [number, number, number, number] | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last !== undefined) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]![0] < h[m]![0]) m = l;
        if (r < h.length && h[r]![0] < h[m]![0]) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}

/** Latencies (ms) of CALLS calls through `operator`, in virtual time. */
const simulate = (
  make: (now: () => number) => OperatorFunction<InstanceSet, Balancer>,
): Float64Array => {
  let now = 0;
  let balancer: Balancer | undefined;
  of(set)
    .pipe(make(() => now))
    .subscribe((b) => {
      balancer = b;
    });
  const lb = balancer!;
  const random = seeded(42);
  const servers: Server[] = instances.map(() => ({ busy: 0, queue: [] }));
  const events = new Events();
  const latencies = new Float64Array(CALLS);
  let done = 0;
  const serviceTime = (k: number): number =>
    (k === INSTANCES - 1 ? SLOW_MS : FAST_MS) * (0.5 + random());
  const begin = (k: number, arrival: number): void => {
    servers[k]!.busy++;
    events.push([now + serviceTime(k), 1, k, arrival]);
  };
  // kind 0: a client calls, kind 1: a call ends
  let issued = 0;
  for (let c = 0; c < CLIENTS; c++) events.push([random(), 0, -1, 0]);
  for (let e = events.pop(); e !== undefined; e = events.pop()) {
    const [time, kind, k, arrival] = e;
    now = time;
    if (kind === 0) {
      if (issued >= CALLS) continue;
      issued++;
      const target = lb.pick()!;
      lb.started(target);
      const s = Number(target.id.slice(1));
      if (servers[s]!.busy < WORKERS) begin(s, now);
      else servers[s]!.queue.push(now);
    } else {
      const server = servers[k]!;
      server.busy--;
      const latency = now - arrival;
      latencies[done++] = latency;
      lb.finished(instances[k]!, { ok: true, latencyMs: latency });
      const queued = server.queue.shift();
      if (queued !== undefined) begin(k, queued);
      events.push([now + THINK_MS, 0, -1, 0]);
    }
  }
  return latencies.sort();
};

const p99 = (sorted: Float64Array): number => sorted[Math.floor(sorted.length * 0.99)]!;

export async function run(): Promise<void> {
  const rr = p99(simulate(() => roundRobin({ random: seeded(1) })));
  console.log(
    `calls: simulated fleet of ${INSTANCES} (${WORKERS} workers each), one ${SLOW_MS / FAST_MS}x slower, ${CALLS} calls from ${CLIENTS} callers: roundRobin() p99 ${rr.toFixed(1)} ms`,
  );
  for (const [name, make] of [
    ['ewma()', (now: () => number) => ewma({ now, random: seeded(2) })],
    ['leastRequest()', () => leastRequest({ random: seeded(3) })],
  ] as const) {
    const p = p99(simulate(make));
    const ratio = rr / p;
    console.log(
      `calls: ${name} p99 ${p.toFixed(1)} ms: ${ratio.toFixed(1)}x lower than roundRobin() (target >= 3x) ${verdict(ratio >= 3)}`,
    );
  }
}
