// Compares the balancers on three instances of weight 5, 1 and 1: how often
// each one is picked, and how leastRequest steers calls away from a slow one.
//
// Run: npx tsx docs/examples/balancers.ts
import { filter, firstValueFrom, type OperatorFunction } from 'rxjs';
import {
  type Balancer,
  discovery,
  type InstanceSet,
  leastRequest,
  live,
  random,
  roundRobin,
  weightedRoundRobin,
} from '../../src/index.js';

/** A seeded generator (mulberry32), so that this output is the same every run. */
const seeded = (seed: number) => (): number => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};

const registry = discovery('memory://');
const registrations = [
  { id: 'a', port: 8081, weight: 5 },
  { id: 'b', port: 8082, weight: 1 },
  { id: 'c', port: 8083, weight: 1 },
].map((spec) => registry.register({ service: 'hello', host: '127.0.0.1', ...spec }).subscribe());
const hello$ = registry.instances$('hello');
const watching = hello$.subscribe(); // keeps the shared watch (and its latest set) open
await firstValueFrom(hello$.pipe(filter((set) => set.size === 3)));

const PICKS = 700;

const tally = (counts: Record<string, number>): string =>
  Object.keys(counts)
    .sort()
    .map((id) => `${id}=${counts[id]}`)
    .join(' ');

/** Picks PICKS times; prints the first picks in order and the count per id. */
const compare = (name: string, balancer: OperatorFunction<InstanceSet, Balancer>): void => {
  const lb = live(hello$.pipe(balancer)); // the latest set is replayed: ready at once
  const counts: Record<string, number> = {};
  let sequence = '';
  for (let n = 0; n < PICKS; n++) {
    const id = lb.pick()?.id ?? 'none';
    counts[id] = (counts[id] ?? 0) + 1;
    if (n < 14) sequence += id;
  }
  lb.close();
  console.log(`${name.padEnd(18)} ${sequence}...  ${tally(counts)}`);
};

console.log(`weights a=5 b=1 c=1, ${PICKS} picks each`);
// start: 'first' makes the output reproducible; by default each subscription starts at a random instance.
compare('roundRobin', roundRobin({ start: 'first' }));
compare('weightedRoundRobin', weightedRoundRobin());
compare('random', random({ random: seeded(7) }));
compare('leastRequest', leastRequest({ random: seeded(7) }));

// leastRequest with calls reported: `c` answers in 8 ticks, `a` and `b` in 1.
// Four calls start per tick; each goes to the less busy of two random instances.
const lb = live(hello$.pipe(leastRequest({ random: seeded(7) })));
const inFlight: { id: string; ends: number; done: () => void }[] = [];
const counts: Record<string, number> = {};
for (let tick = 0; tick < 100; tick++) {
  for (const call of inFlight.filter((c) => c.ends === tick)) {
    call.done();
    inFlight.splice(inFlight.indexOf(call), 1);
  }
  for (let k = 0; k < 4; k++) {
    const target = lb.pick();
    if (target === undefined) continue;
    lb.started(target);
    const ticks = target.id === 'c' ? 8 : 1;
    inFlight.push({
      id: target.id,
      ends: tick + ticks,
      done: () => lb.finished(target, { ok: true, latencyMs: ticks * 10 }),
    });
    counts[target.id] = (counts[target.id] ?? 0) + 1;
  }
}
console.log(`leastRequest, c slow: ${tally(counts)} (of 400 calls)`);
lb.close();

// Balancer state survives set changes: the rotation goes on after `d` joins.
const rr = live(hello$.pipe(roundRobin({ start: 'first' })));
let order = `${rr.pick()?.id}${rr.pick()?.id}`;
const d = registry
  .register({ id: 'd', service: 'hello', host: '127.0.0.1', port: 8084 })
  .subscribe();
await firstValueFrom(hello$.pipe(filter((set) => set.size === 4)));
order += ` | d joins | ${[1, 2, 3, 4, 5].map(() => rr.pick()?.id).join('')}`;
console.log(`roundRobin across a change: ${order}`);
rr.close();

watching.unsubscribe();
d.unsubscribe();
for (const r of registrations) r.unsubscribe();
await registry.close();
