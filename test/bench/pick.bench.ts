/**
 * pick(): `live(...).pick()` with `roundRobin()` against a bare
 * `array[i++ % n]` loop in the same run (target: >= 0.5x its throughput),
 * and heap allocated per pick (target: ~0 bytes).
 */
import { type OperatorFunction, of } from 'rxjs';
import { createInstance, type Instance } from '../../src/core/instance.js';
import { type InstanceSet, instanceSet } from '../../src/core/instance-set.js';
import type { Balancer } from '../../src/operators/balancers/balancer.js';
import { leastRequest } from '../../src/operators/balancers/least-request.js';
import { random } from '../../src/operators/balancers/random.js';
import { roundRobin } from '../../src/operators/balancers/round-robin.js';
import { weightedRoundRobin } from '../../src/operators/balancers/weighted-round-robin.js';
import { type LiveBalancer, live } from '../../src/operators/live.js';
import { gc, median, verdict } from './heap.js';

const SIZE = 100;
const PICKS = 10_000_000;
const ROUNDS = 5;
const ALLOC_PICKS = 100_000;

let sink: unknown;

const instances: Instance[] = Array.from({ length: SIZE }, (_, k) =>
  createInstance(
    { service: 'bench', host: `10.0.${k >> 8}.${k & 255}`, port: 8000 + k },
    'memory://bench',
  ),
);
const set: InstanceSet = instanceSet('bench', 'memory://bench', instances);

const bare = (times: number): number => {
  const list = set.instances;
  const n = list.length;
  let i = 0;
  let acc = 0;
  for (let k = 0; k < times; k++) acc += list[i++ % n]!.port;
  return acc;
};

const viaLive =
  (holder: LiveBalancer) =>
  (times: number): number => {
    let acc = 0;
    for (let k = 0; k < times; k++) acc += holder.pick()!.port;
    return acc;
  };

/** Picks per second, best of `ROUNDS`. */
const throughput = (loop: (times: number) => number, picks: number): number => {
  loop(picks / 10); // warm up
  let best = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    sink = loop(picks);
    const ns = Number(process.hrtime.bigint() - t0);
    best = Math.max(best, picks / (ns / 1e9));
  }
  return best;
};

/** Bytes the heap grows by per call of `step`, median of 5 runs of `ALLOC_PICKS`. */
const bytesPer = (loop: (times: number) => unknown): number => {
  loop(ALLOC_PICKS); // warm up
  const samples: number[] = [];
  for (let r = 0; r < 5; r++) {
    gc();
    const before = process.memoryUsage().heapUsed;
    sink = loop(ALLOC_PICKS);
    samples.push((process.memoryUsage().heapUsed - before) / ALLOC_PICKS);
  }
  return Math.max(0, median(samples));
};

const holderOf = (operator: OperatorFunction<InstanceSet, Balancer>): LiveBalancer =>
  live(of(set).pipe(operator));

export async function run(): Promise<void> {
  const rr = holderOf(roundRobin());
  const bareRate = throughput(bare, PICKS);
  const rrRate = throughput(viaLive(rr), PICKS);
  const ratio = rrRate / bareRate;
  console.log(
    `pick: live(roundRobin()).pick() ${(rrRate / 1e6).toFixed(1)} M/s vs bare array[i++ % n] ${(bareRate / 1e6).toFixed(1)} M/s (${SIZE} instances): ${ratio.toFixed(2)}x (target >= 0.5x) ${verdict(ratio >= 0.5)}`,
  );

  // Method check: a loop that allocates one small object per call and keeps
  // it (so that neither escape analysis nor a scavenge can hide it).
  const kept = new Array<unknown>(ALLOC_PICKS).fill(undefined);
  const control = bytesPer((times) => {
    for (let k = 0; k < times; k++) kept[k] = { k };
    return kept;
  });
  const rrBytes = bytesPer(viaLive(rr));
  console.log(
    `pick: heap per live(roundRobin()).pick() ${rrBytes.toFixed(2)} bytes (target ~0, < 1) ${verdict(rrBytes < 1)}; method check: an object per call reads ${control.toFixed(1)} bytes`,
  );
  rr.close();

  for (const [name, operator] of [
    ['random()', random()],
    ['weightedRoundRobin()', weightedRoundRobin()],
    ['leastRequest()', leastRequest()],
  ] as const) {
    const holder = holderOf(operator);
    const picks = name === 'weightedRoundRobin()' ? PICKS / 50 : PICKS / 5;
    const rate = throughput(viaLive(holder), picks);
    const bytes = bytesPer(viaLive(holder));
    console.log(
      `pick: live(${name}).pick() ${(rate / 1e6).toFixed(2)} M/s, ${bytes.toFixed(2)} bytes/pick (${SIZE} instances; info)`,
    );
    holder.close();
  }
  if (sink === Symbol.for('never')) console.log(sink);
}
