// The operators that go beyond a set and a balancer: byLocality() (zone
// tiers with gradual spill-over), subset() (a few instances per client),
// loadReported() (weights from the load servers report) and slowStart()
// (new instances ramp up).
//
// Run: npx tsx docs/examples/weights-and-tiers.ts
import { filter, firstValueFrom, timer } from 'rxjs';
import {
  byLocality,
  call,
  discovery,
  healthy,
  type Instance,
  LOAD_REPORT_HEADER,
  live,
  loadReported,
  slowStart,
  subset,
  weightedRoundRobin,
} from '../../src/index.js';

const registry = discovery('memory://');
const register = (id: string, zone: string, status: 'UP' | 'DOWN' = 'UP') =>
  registry
    .register({
      id,
      service: 'hello',
      host: '127.0.0.1',
      port: 8000 + Number(id.slice(2)),
      zone,
      status,
    })
    .subscribe();
const registrations = [
  ...['a-1', 'a-2', 'a-3', 'a-4'].map((id, k) => register(id, 'a', k < 2 ? 'DOWN' : 'UP')),
  ...['b-5', 'b-6', 'b-7', 'b-8'].map((id) => register(id, 'b')),
];
const hello$ = registry.instances$('hello');
const watching = hello$.subscribe(); // keeps the shared watch (and its latest set) open
await firstValueFrom(hello$.pipe(filter((set) => set.size === 8)));

/** The share of `picks` picks that go to each zone (or instance, with `by`). */
const shares = (
  pick: () => Instance | undefined,
  picks: number,
  by: (i: Instance) => string = (i) => i.zone ?? '-',
): string => {
  const counts: Record<string, number> = {};
  for (let n = 0; n < picks; n++) {
    const i = pick();
    if (i !== undefined) counts[by(i)] = (counts[by(i)] ?? 0) + 1;
  }
  return Object.keys(counts)
    .sort()
    .map((k) => `${k}=${Math.round((100 * counts[k]!) / picks)}%`)
    .join(' ');
};

// Half of zone a is down: with overprovisioning 1.4, zone a keeps 70 %.
const local = live(hello$.pipe(byLocality({ zone: 'a' }), weightedRoundRobin()));
console.log(`byLocality, half of zone a down: ${shares(() => local.pick(), 1000)}`);
local.close();

// Each client keeps 3 of the 8 instances, the same 3 for the same id.
for (const clientId of ['web-1', 'web-3', 'web-1']) {
  const mine = live(hello$.pipe(subset({ size: 3, clientId }), weightedRoundRobin()));
  console.log(`subset for ${clientId}: ${mine.set?.instances.map((i) => i.id).join(' ')}`);
  mine.close();
}

// Weights from load reports: b-5 answers its qps at twice the utilization
// of the others (half their capacity), as its endpoint-load-metrics say.
const load = loadReported({ blackoutMs: 0, refreshMs: 20 });
const up = live(hello$.pipe(healthy(), weightedRoundRobin({ weights: load })));
const server = (i: Instance) => ({
  headers: new Headers({
    [LOAD_REPORT_HEADER]: `TEXT cpu_utilization=${i.id === 'b-5' ? 0.8 : 0.4}, rps_fractional=100`,
  }),
});
for (let n = 0; n < 8; n++) {
  await call(up, async (i) => server(i), {
    loadReport: (answer) => (answer as { headers: Headers }).headers.get(LOAD_REPORT_HEADER),
  });
}
await firstValueFrom(timer(50)); // one refresh of the weights
console.log(
  `loadReported, b-5 at half capacity: ${shares(
    () => up.pick(),
    700,
    (i) => (i.id === 'b-5' ? 'b-5' : 'others'),
  )}`,
);
up.close();

// Slow start: b-9 joins and gets a tenth of its weight at first.
const ramped = live(
  hello$.pipe(
    byLocality({ zone: 'b' }),
    weightedRoundRobin({ weights: slowStart({ windowMs: 2000, refreshMs: 20 }) }),
  ),
);
const late = register('b-9', 'b');
await firstValueFrom(hello$.pipe(filter((set) => set.size === 9)));
const isNew = (i: Instance) => (i.id === 'b-9' ? 'b-9' : 'others');
console.log(`slowStart, b-9 just joined: ${shares(() => ramped.pick(), 410, isNew)}`);
await firstValueFrom(timer(2100));
console.log(`slowStart, after the window: ${shares(() => ramped.pick(), 500, isNew)}`);
ramped.close();

late.unsubscribe();
for (const r of registrations) r.unsubscribe();
watching.unsubscribe();
await registry.close();
console.log('closed');
