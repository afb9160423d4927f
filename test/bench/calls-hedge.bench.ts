/**
 * Hedged calls through the real `call$()` path, in virtual time (an RxJS
 * VirtualTimeScheduler drives the attempts, hedge delays and budgets, so the
 * run is fast and repeatable): 10 instances behind roundRobin(), 20,000
 * calls arriving every 0.5 ms, each attempt taking 10 ms ± 20 %, except
 * that 1 % of the calls hit a 20x slower first attempt (200 ms ± 20 %; a
 * hedge or any other attempt is 20x slower with a 1 % chance too). Compares
 * the p99 latency of calls without hedging, with `hedge: { afterMs: 15 }`
 * and with `hedge: { quantile: 0.98 }`; hedges draw on a retry budget and
 * are capped at `maxExtraLoadRatio: 0.05`. Target (issue 16): p99 at least 5x
 * lower than without hedging, at no more than 5 % extra calls.
 */
import { map, of, type SchedulerAction, timer, VirtualAction, VirtualTimeScheduler } from 'rxjs';
import { createInstance, type Instance } from '../../src/core/instance.js';
import { instanceSet } from '../../src/core/instance-set.js';
import type { Balancer } from '../../src/operators/balancers/balancer.js';
import { roundRobin } from '../../src/operators/balancers/round-robin.js';
import { call$ } from '../../src/operators/call.js';
import type { CallTarget, HedgeOptions } from '../../src/operators/call-options.js';
import { retryBudget } from '../../src/operators/retry-budget.js';
import { verdict } from './heap.js';

const INSTANCES = 10;
const CALLS = 20_000;
const EVERY_MS = 0.5;
const FAST_MS = 10;
const SLOWER = 20;

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

interface Run {
  /** Call latencies, sorted, in ms. */
  readonly latencies: Float64Array;
  /** Attempts started beyond one per call, per call. */
  readonly extra: number;
}

const simulate = (hedge: HedgeOptions | undefined): Run => {
  const scheduler = new VirtualTimeScheduler(VirtualAction, Number.POSITIVE_INFINITY);
  let balancer: Balancer | undefined;
  of(instanceSet('bench', 'memory://bench', instances))
    .pipe(roundRobin({ random: seeded(1) }))
    .subscribe((b) => {
      balancer = b;
    });
  const lb = balancer!;
  let attempts = 0;
  // A fresh target per run: hedging state (latencies, extra-load allowance) is per target.
  const target: CallTarget = {
    set: lb.set,
    pick: (key) => lb.pick(key),
    started: (i) => {
      attempts++;
      lb.started(i);
    },
    finished: (i, o) => lb.finished(i, o),
  };
  const random = seeded(7);
  const budget = retryBudget({ ratio: 0.2, now: () => scheduler.now() });
  const latencies = new Float64Array(CALLS);
  let done = 0;
  const start = (k: number): void => {
    const t0 = scheduler.now();
    call$(
      target,
      (_instance, { attempt }) => {
        const slow = attempt === 1 ? k % 100 === 37 : random() < 0.01;
        const ms = FAST_MS * (slow ? SLOWER : 1) * (0.8 + 0.4 * random());
        return timer(ms, scheduler).pipe(map(() => k));
      },
      { scheduler, retry: { budget }, ...(hedge === undefined ? {} : { hedge }) },
    ).subscribe(() => {
      latencies[done++] = scheduler.now() - t0;
    });
  };
  // One arrival scheduled at a time (the virtual scheduler sorts its queue on every schedule).
  scheduler.schedule<number>(function (this: SchedulerAction<number>, k = 0) {
    start(k);
    if (k + 1 < CALLS) this.schedule(k + 1, EVERY_MS);
  }, 0);
  scheduler.flush();
  if (done !== CALLS) throw new Error(`${CALLS - done} calls did not end`);
  return { latencies: latencies.sort(), extra: (attempts - CALLS) / CALLS };
};

const p99 = (sorted: Float64Array): number => sorted[Math.floor(sorted.length * 0.99)]!;

export async function run(): Promise<void> {
  const plain = simulate(undefined);
  const base = p99(plain.latencies);
  console.log(
    `calls-hedge: ${CALLS} calls on ${INSTANCES} instances, 1 % of them ${SLOWER}x slower, in virtual time: without hedging p99 ${base.toFixed(1)} ms`,
  );
  for (const [name, hedge] of [
    ['afterMs: 15', { afterMs: 15, maxExtraLoadRatio: 0.05 }],
    ['quantile: 0.98', { quantile: 0.98, maxExtraLoadRatio: 0.05 }],
  ] as const) {
    const r = simulate(hedge);
    const p = p99(r.latencies);
    const ratio = base / p;
    console.log(
      `calls-hedge: hedge { ${name} } p99 ${p.toFixed(1)} ms: ${ratio.toFixed(1)}x lower (target >= 5x) at ${(r.extra * 100).toFixed(2)} % extra calls (target <= 5 %) ${verdict(ratio >= 5 && r.extra <= 0.05)}`,
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
