/**
 * Retry overhead on the success path: `call(balancer, fn)` (retries,
 * budget, attempt timeout, abort signal, outcome reports) against a direct
 * `fn(balancer.pick())` with the same reports by hand, both awaiting a
 * resolved promise. Target: under 2 µs added per call.
 */
import { of } from 'rxjs';
import { createInstance, type Instance } from '../../src/core/instance.js';
import { instanceSet } from '../../src/core/instance-set.js';
import { roundRobin } from '../../src/operators/balancers/round-robin.js';
import { call } from '../../src/operators/call.js';
import { live } from '../../src/operators/live.js';
import { retryBudget } from '../../src/operators/retry-budget.js';
import { verdict } from './heap.js';

const CALLS = 200_000;
const ROUNDS = 5;

const instances: Instance[] = Array.from({ length: 10 }, (_, k) =>
  createInstance({ service: 'bench', host: `10.0.0.${k}`, port: 8000 + k }, 'memory://bench'),
);
const lb = live(of(instanceSet('bench', 'memory://bench', instances)).pipe(roundRobin()));
const work = (i: Instance): Promise<number> => Promise.resolve(i.port);

const direct = async (): Promise<number> => {
  let acc = 0;
  for (let k = 0; k < CALLS; k++) {
    const i = lb.pick()!;
    lb.started(i);
    const t0 = performance.now();
    acc += await work(i);
    lb.finished(i, { ok: true, latencyMs: performance.now() - t0 });
  }
  return acc;
};

const budget = retryBudget();
const viaCall = async (): Promise<number> => {
  let acc = 0;
  for (let k = 0; k < CALLS; k++) acc += await call(lb, work, { retry: { budget } });
  return acc;
};

/** Nanoseconds per call, best of ROUNDS. */
const perCall = async (loop: () => Promise<number>): Promise<number> => {
  await loop(); // warm up
  let best = Infinity;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    await loop();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / CALLS);
  }
  return best;
};

export async function run(): Promise<void> {
  const base = await perCall(direct);
  const wrapped = await perCall(viaCall);
  const overheadUs = (wrapped - base) / 1000;
  console.log(
    `calls: call() ${(wrapped / 1000).toFixed(2)} µs/call vs direct ${(base / 1000).toFixed(2)} µs/call: +${overheadUs.toFixed(2)} µs per call (target < 2 µs) ${verdict(overheadUs < 2)}`,
  );
  lb.close();
}
