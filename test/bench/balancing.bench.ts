/**
 * The balancing operators of issue 16, each against its rule or a peer in
 * the same run, in virtual time (a TestScheduler clock: no sleeps, the same
 * figures on any machine):
 * - slowStart: a new instance's share over its window follows the
 *   configured curve within 10 % (roundRobin gives it 1/N at once);
 * - subset: 100 clients x 300 instances, subset 20: max/mean clients per
 *   instance <= 1.15; one instance leaving changes the subsets of at most
 *   2 x (20 / 300) of the clients;
 * - loadReported: three servers of 1x, 2x, 4x capacity (FIFO queues,
 *   exponential service times, Poisson arrivals at 60 % and 40 % of the
 *   total capacity, each server reporting its utilization and qps once a second
 *   in ORCA's text form): p99 latency at least 3x lower than roundRobin's;
 * - byLocality: half of zone A's instances down: the share of traffic
 *   leaving zone A within 5 % of the overprovisioning rule (preferZone,
 *   all or nothing, keeps it all).
 */
import { type OperatorFunction, Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { createInstance, type Instance, type InstanceStatus } from '../../src/core/instance.js';
import { applyChanges, type InstanceSet, instanceSet } from '../../src/core/instance-set.js';
import type { Balancer } from '../../src/operators/balancers/balancer.js';
import { roundRobin } from '../../src/operators/balancers/round-robin.js';
import { weightedRoundRobin } from '../../src/operators/balancers/weighted-round-robin.js';
import { byLocality } from '../../src/operators/by-locality.js';
import { healthy } from '../../src/operators/healthy.js';
import { loadReported } from '../../src/operators/load-reported.js';
import { preferZone } from '../../src/operators/prefer-zone.js';
import { slowStart, slowStartFactor } from '../../src/operators/slow-start.js';
import { subset } from '../../src/operators/subset.js';
import { verdict } from './heap.js';

const REGISTRY = 'memory://bench';

const instance = (id: string, extra: { zone?: string; status?: InstanceStatus } = {}): Instance =>
  createInstance({ id, service: 'bench', host: `${id}.bench`, port: 8080, ...extra }, REGISTRY);

const setOf = (instances: Instance[]): InstanceSet => instanceSet('bench', REGISTRY, instances);

/** A virtual clock whose timers run only when advanced. */
const clock = (): TestScheduler => {
  const s = new TestScheduler(() => undefined);
  s.maxFrames = Number.POSITIVE_INFINITY;
  return s;
};

const advanceTo = (s: TestScheduler, t: number): void => {
  if (t <= s.now()) return;
  s.schedule(() => undefined, t - s.now());
  s.maxFrames = t;
  s.flush();
  s.maxFrames = Number.POSITIVE_INFINITY;
};

/** A balancer pipeline fed by hand; `latest()` is its latest balancer. */
const pipeline = <T>(operator: OperatorFunction<InstanceSet, T>) => {
  const sets = new Subject<InstanceSet>();
  let latest: T | undefined;
  const subscription = sets.pipe(operator).subscribe((x) => {
    latest = x;
  });
  return { sets, latest: () => latest!, stop: () => subscription.unsubscribe() };
};

/** mulberry32: seeded uniform numbers in [0, 1). */
const seeded = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

const slowStartCurve = (): void => {
  const WINDOW = 30_000;
  const BUCKETS = 10;
  const PICKS_PER_MS = 2;
  const aggressions = [1, 2];
  for (const aggression of aggressions) {
    const s = clock();
    const established = Array.from({ length: 9 }, (_, k) => instance(`old-${k}`));
    const fresh = instance('new');
    const ramp = pipeline(
      weightedRoundRobin({ weights: slowStart({ windowMs: WINDOW, aggression, scheduler: s }) }),
    );
    const plain = pipeline(roundRobin({ start: 'first' }));
    const s0 = setOf(established);
    ramp.sets.next(s0);
    plain.sets.next(s0);
    ramp.sets.next(applyChanges(s0, [fresh], []));
    plain.sets.next(applyChanges(s0, [fresh], []));
    let worst = 0;
    let firstRoundRobin = 0;
    let firstExpected = 0;
    const bucketMs = WINDOW / BUCKETS;
    for (let bucket = 0; bucket < BUCKETS; bucket++) {
      let got = 0;
      let rr = 0;
      let expected = 0;
      let picks = 0;
      for (let ms = bucket * bucketMs; ms < (bucket + 1) * bucketMs; ms++) {
        advanceTo(s, ms);
        const f = slowStartFactor(ms, WINDOW, 1 / aggression, 0.1);
        for (let p = 0; p < PICKS_PER_MS; p++) {
          picks++;
          expected += f / (9 + f);
          if (ramp.latest().pick() === fresh) got++;
          if (plain.latest().pick() === fresh) rr++;
        }
      }
      const error = Math.abs(got - expected) / expected;
      worst = Math.max(worst, error);
      if (bucket === 0) {
        firstRoundRobin = rr / picks;
        firstExpected = expected / picks;
      }
    }
    ramp.stop();
    plain.stop();
    console.log(
      `  slowStart (aggression ${aggression}): new instance's share per ${bucketMs / 1000} s of a ${WINDOW / 1000} s window, worst deviation from the curve ${(worst * 100).toFixed(1)} %  target: <= 10 %  ${verdict(worst <= 0.1)}`,
    );
    if (aggression === 1) {
      console.log(
        `    first ${bucketMs / 1000} s: curve ${(firstExpected * 100).toFixed(1)} %, roundRobin ${(firstRoundRobin * 100).toFixed(1)} % (1/N at once: ${(firstRoundRobin / firstExpected).toFixed(1)}x the curve)`,
      );
    }
  }
};

const subsets = (): void => {
  const CLIENTS = 100;
  const INSTANCES = 300;
  const SIZE = 20;
  const all = Array.from({ length: INSTANCES }, (_, k) => instance(`i-${k}`));
  const full = setOf(all);
  const gone = all[137]!;
  const without = applyChanges(full, [], [gone.id]);
  const load = new Map<string, number>();
  let moved = 0;
  for (let c = 0; c < CLIENTS; c++) {
    const p = pipeline(subset({ size: SIZE, clientId: `client-${c}` }));
    p.sets.next(full);
    const before = p.latest().instances.map((i) => i.id);
    for (const id of before) load.set(id, (load.get(id) ?? 0) + 1);
    p.sets.next(without);
    const after = p.latest().instances.map((i) => i.id);
    if (after.join() !== before.join()) moved++;
    p.stop();
  }
  const counts = all.map((i) => load.get(i.id) ?? 0);
  const mean = (CLIENTS * SIZE) / INSTANCES;
  const ratio = Math.max(...counts) / mean;
  console.log(
    `  subset: ${CLIENTS} clients x ${INSTANCES} instances, size ${SIZE}: clients per instance max/mean ${ratio.toFixed(2)} (min ${Math.min(...counts)}, max ${Math.max(...counts)}, mean ${mean.toFixed(2)})  target: <= 1.15  ${verdict(ratio <= 1.15)}`,
  );
  // The floor of any scheme where each client chooses alone from its own id:
  // ideal independent uniform subsets (a seeded shuffle per client), the
  // median max/mean over many fleets of the same size.
  let seed = 0x2545f491;
  const next = (): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const fleetRatios: number[] = [];
  const order = Array.from({ length: INSTANCES }, (_, k) => k);
  for (let fleet = 0; fleet < 201; fleet++) {
    const used = new Array<number>(INSTANCES).fill(0);
    for (let c = 0; c < CLIENTS; c++) {
      for (let k = 0; k < SIZE; k++) {
        const j = k + Math.floor(next() * (INSTANCES - k));
        [order[k], order[j]] = [order[j]!, order[k]!];
        used[order[k]!]!++;
      }
    }
    fleetRatios.push(Math.max(...used) / mean);
  }
  fleetRatios.sort((x, y) => x - y);
  const floor = fleetRatios[100]!;
  console.log(
    `    floor for clients that choose alone (ideal independent uniform subsets, median of 201 fleets): max/mean ${floor.toFixed(2)} (best fleet ${fleetRatios[0]!.toFixed(2)}); rendezvous ${(ratio / floor).toFixed(2)}x that floor. 1.15 needs clients that know their index among their peers`,
  );
  const bound = (2 * SIZE) / INSTANCES;
  console.log(
    `  subset: one instance leaving moved ${moved} of ${CLIENTS} clients (${((moved / CLIENTS) * 100).toFixed(1)} %; ideal ${((SIZE / INSTANCES) * 100).toFixed(1)} %)  target: <= ${(bound * 100).toFixed(1)} %  ${verdict(moved / CLIENTS <= bound)}`,
  );
};

/** p99 latency (virtual ms) of `operator` over three FIFO servers of capacity 1x, 2x, 4x. */
const queueSimulation = (
  loadRatio: number,
  make: (s: TestScheduler) => {
    operator: OperatorFunction<InstanceSet, Balancer>;
    report?: (i: Instance, text: string) => void;
  },
): number => {
  const s = clock();
  const { operator, report } = make(s);
  const servers = [1, 2, 4].map((capacity, k) => ({
    instance: instance(`server-${k}`),
    rate: capacity / 10, // requests per virtual ms: 0.1, 0.2, 0.4
    freeAt: 0,
    busy: 0, // service time done in the current report window
    done: 0,
  }));
  const p = pipeline(operator);
  p.sets.next(setOf(servers.map((x) => x.instance)));
  const random = seeded(42);
  const arrivalsPerMs = loadRatio * (0.1 + 0.2 + 0.4);
  const DURATION = 120_000;
  const WARMUP = 40_000;
  const latencies: number[] = [];
  // completions not yet counted in a report: [time, service time, server]
  const pending: Array<[number, number, number]> = [];
  let nextReport = 1000;
  let t = 0;
  while (t < DURATION) {
    t += -Math.log(1 - random()) / arrivalsPerMs;
    while (nextReport <= t) {
      advanceTo(s, nextReport);
      for (let k = pending.length - 1; k >= 0; k--) {
        const [at, service, server] = pending[k]!;
        if (at > nextReport) continue;
        servers[server]!.busy += service;
        servers[server]!.done++;
        pending.splice(k, 1);
      }
      for (const x of servers) {
        const utilization = Math.min(1, x.busy / 1000);
        report?.(
          x.instance,
          `TEXT cpu_utilization=${utilization.toFixed(4)}, rps_fractional=${x.done}`,
        );
        x.busy = 0;
        x.done = 0;
      }
      nextReport += 1000;
    }
    advanceTo(s, Math.floor(t));
    const target = p.latest().pick()!;
    const k = servers.findIndex((x) => x.instance === target);
    const server = servers[k]!;
    const service = -Math.log(1 - random()) / server.rate;
    const completion = Math.max(t, server.freeAt) + service;
    server.freeAt = completion;
    pending.push([completion, service, k]);
    if (t >= WARMUP) latencies.push(completion - t);
  }
  p.stop();
  latencies.sort((x, y) => x - y);
  return latencies[Math.floor(latencies.length * 0.99)]!;
};

const loadReports = (): void => {
  for (const loadRatio of [0.6, 0.4]) {
    const rr = queueSimulation(loadRatio, () => ({ operator: roundRobin({ start: 'first' }) }));
    const reported = queueSimulation(loadRatio, (s) => {
      const load = loadReported({ scheduler: s });
      return {
        operator: weightedRoundRobin({ weights: load }),
        report: (i, text) => load.reportLoad(i, text),
      };
    });
    const ratio = rr / reported;
    const why = loadRatio * 7 > 3 ? ' (its 1/3 overloads the 1x server)' : '';
    console.log(
      `  loadReported: servers of 1x, 2x, 4x capacity at ${loadRatio * 100} % load: p99 ${reported.toFixed(0)} ms, roundRobin ${rr.toFixed(0)} ms${why}: ${ratio.toFixed(1)}x lower  target: >= 3x  ${verdict(ratio >= 3)}`,
    );
  }
};

const locality = (): void => {
  const zoneA = Array.from({ length: 10 }, (_, k) =>
    instance(`a-${k}`, { zone: 'a', status: k < 5 ? 'DOWN' : 'UP' }),
  );
  const zoneB = Array.from({ length: 10 }, (_, k) => instance(`b-${k}`, { zone: 'b' }));
  const set = setOf([...zoneA, ...zoneB]);
  const share = (operator: OperatorFunction<InstanceSet, Balancer>): number => {
    const p = pipeline(operator);
    p.sets.next(set);
    const N = 100_000;
    let left = 0;
    for (let k = 0; k < N; k++) if (p.latest().pick()?.zone !== 'a') left++;
    p.stop();
    return left / N;
  };
  const rule = 1 - Math.min(1, 1.4 * (5 / 10));
  const tiered = share((s) => s.pipe(byLocality({ zone: 'a' }), weightedRoundRobin()));
  const allOrNothing = share((s) => s.pipe(preferZone('a'), healthy(), weightedRoundRobin()));
  const off = Math.abs(tiered - rule);
  console.log(
    `  byLocality: half of zone a down: ${(tiered * 100).toFixed(1)} % of the traffic leaves zone a, the rule says ${(rule * 100).toFixed(1)} % (preferZone: ${(allOrNothing * 100).toFixed(1)} %)  target: within 5 %  ${verdict(off <= 0.05)}`,
  );
};

/** Runs the four lines. */
export const run = async (): Promise<void> => {
  slowStartCurve();
  subsets();
  loadReports();
  locality();
};
