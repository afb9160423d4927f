/**
 * Scale on Eureka (issue 11): 2,000 applications x 5 instances on our real
 * Spring Cloud Netflix server, registered through the server's peer
 * replication batch endpoint (`POST /eureka/peerreplication/batch`, 500
 * registrations per request), every service watched from one process
 * (the first `catalogViewsPast` on streams of their own, the rest views of
 * the catalog: all fed by the one shared poller). Measures, against a bare
 * `GET` + `JSON.parse` of the same payload in the same run (the floor: what
 * any client must do to read the registry):
 * - the time to every first set, and its CPU (one full refresh, the
 *   catalog and every view's first set), against the floor of `GET /apps`;
 * - heap in all, per instance and per watched service (2,000 more watched
 *   services without instances), against the heap of the parsed payload;
 *   targets 400 B per instance, 2 KB per watched service;
 * - CPU per delta refresh carrying one change, against GET + parse of a
 *   delta; heap kept per refresh (after many, settled);
 * - a full refresh again (warm), its CPU and the heap it holds at its end
 *   before a collection, against the floor's;
 * - the propagation of one change to a service watched as a view among
 *   2,000, against the same change seen by a discovery watching that one
 *   service (from the refresh that carried it to the emission; target:
 *   under 0.3 ms added at p50);
 * - requests per poll interval (one poller: 1).
 * Sizes: EUREKA_SCALE_APPS (default 2000), EUREKA_SCALE_CHANGES (delta rounds, default 100). Prints PASS/MISS; asserts nothing.
 */
import { performance } from 'node:perf_hooks';
import { filter, firstValueFrom, map, type Subscription } from 'rxjs';
import { eurekaDiscovery, type RefreshReport } from '../../src/backends/eureka/index.js';
import type { Discovery } from '../../src/core/discovery.js';
import type { InstanceSet } from '../../src/core/instance-set.js';
import { postInstance, rawInstanceInfo } from '../integration/eureka/harness.js';
import { rawRequest, startEureka } from '../servers/eureka.js';
import { until } from '../servers/process.js';
import { median, settledHeap, verdict } from './heap.js';

const APPS = Number(process.env.EUREKA_SCALE_APPS ?? 2000);
const PER_APP = 5;
const INTERVAL = 1000;
const CHANGES = Number(process.env.EUREKA_SCALE_CHANGES ?? 100);
const BATCH = 500;
const PROPAGATION = 20;

const name = (a: number): string => `scale-${String(a).padStart(4, '0')}`;
const kb = (bytes: number): string => `${(bytes / 1024).toFixed(2)} KB`;
const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
const ms = (x: number): string => `${x.toFixed(1)} ms`;
const ms3 = (x: number): string => `${x.toFixed(3)} ms`;
const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
const cpuMs = (from: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1000;
};
const mean = (xs: readonly number[]): number =>
  xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

/** One registration of the batch endpoint, as a peer server replicates it. */
const replicated = (service: string, i: number, a: number) => {
  const info = rawInstanceInfo({
    service,
    id: `${service}-${i}`,
    host: `10.${i}.${(a >> 8) & 255}.${a & 255}`,
    port: 8080,
    metadata: { version: '1.4.2', zone: `zone-${a % 3}` },
  }).instance;
  return {
    appName: service.toUpperCase(),
    id: info.instanceId,
    lastDirtyTimestamp: Date.now(),
    status: 'UP',
    overriddenStatus: 'UNKNOWN',
    instanceInfo: info,
    action: 'Register',
  };
};

/** Registers APPS x PER_APP instances, BATCH per request, 4 requests at a time. */
const fill = async (base: string): Promise<number> => {
  const all = Array.from({ length: APPS }, (_, a) =>
    Array.from({ length: PER_APP }, (_, i) => replicated(name(a), i, a)),
  ).flat();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < all.length) {
        const replicationList = all.slice(next, next + BATCH);
        next += BATCH;
        const res = await rawRequest('POST', `${base}/peerreplication/batch`, { replicationList });
        const codes = (JSON.parse(res.text) as { responseList: { statusCode: number }[] })
          .responseList;
        if (res.status !== 200 || codes.some((c) => c.statusCode !== 200))
          throw new Error(`batch registration answered ${res.status}: ${res.text.slice(0, 200)}`);
      }
    }),
  );
  return performance.now() - t0;
};

/** What {@link parsedHeap} holds while it measures. */
const keep: unknown[] = [];

/** Heap of `JSON.parse(text)` held (synchronous, so no suspended frame holds a stray value). */
const parsedHeap = (text: string): number => {
  const before = settledHeap();
  keep.push(JSON.parse(text));
  const held = settledHeap() - before;
  keep.length = 0;
  return held;
};

/** The floor: a bare GET of `path` and JSON.parse of its text (medians of `rounds`). */
const floor = async (base: string, path: string, rounds: number) => {
  const wall: number[] = [];
  const cpu: number[] = [];
  const atEnd: number[] = [];
  let text = '';
  for (let r = 0; r < rounds; r++) {
    text = '';
    const before = settledHeap();
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    text = (await rawRequest('GET', `${base}${path}`)).text;
    keep.push(JSON.parse(text));
    wall.push(performance.now() - t0);
    cpu.push(cpuMs(c0));
    atEnd.push(process.memoryUsage().heapUsed - before);
    keep.length = 0;
  }
  return {
    wall: median(wall),
    cpu: median(cpu),
    atEnd: median(atEnd),
    bytes: Buffer.byteLength(text),
    held: parsedHeap(text),
  };
};

/** Subscribes every name; resolves when each has a set satisfying `ready`. */
const watchAll = async (
  d: Discovery,
  names: readonly string[],
  ready: (s: InstanceSet) => boolean,
): Promise<{ subs: Subscription[]; ms: number; cpu: number; subscribeCpu: number }> => {
  let pending = names.length;
  let done!: () => void;
  const all = new Promise<void>((r) => {
    done = r;
  });
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const subs = names.map((n) => {
    let seen = false;
    return d.instances$(n).subscribe((s) => {
      if (!seen && ready(s)) {
        seen = true;
        if (--pending === 0) done();
      }
    });
  });
  const subscribeCpu = cpuMs(c0);
  if (pending > 0) await all;
  return { subs, ms: performance.now() - t0, cpu: cpuMs(c0), subscribeCpu };
};

type Report = RefreshReport & { cpu: number; heap: number; at: number };

/** A discovery of `url` that records, per refresh, the process CPU since the previous one. */
const recorded = (url: string, reports: Report[], clock: { last: NodeJS.CpuUsage }): Discovery =>
  eurekaDiscovery(url, {
    intervalMs: INTERVAL,
    graceMs: 0,
    onProblem: () => undefined,
    onRefresh: (r) => {
      reports.push({
        ...r,
        cpu: cpuMs(clock.last),
        heap: process.memoryUsage().heapUsed,
        at: performance.now(),
      });
      clock.last = process.cpuUsage();
    },
  });

/**
 * One change to `service` at a time, seen by `many` (every service watched:
 * a view of the catalog) and by a discovery watching that service alone (its
 * own stream): the time from the refresh that carried the change (its
 * answer decoded into the copy) to the emission, per discovery.
 */
const propagation = async (
  many: Discovery,
  server: { readonly url: string; readonly base: string },
  service: string,
  manyReports: readonly Report[],
): Promise<{ many: number[]; one: number[] }> => {
  const oneReports: Report[] = [];
  const one = recorded(server.url, oneReports, { last: process.cpuUsage() });
  const sub = one.instances$(service).subscribe();
  await firstValueFrom(one.instances$(service));
  const out = { many: [] as number[], one: [] as number[] };
  const since = (reports: readonly Report[], t: number): number =>
    t - reports.findLast((r) => r.at <= t)!.at;
  for (let n = 0; n < PROPAGATION; n++) {
    const port = 25_000 + n;
    const id = `${service}-0`;
    const at = (d: Discovery) =>
      firstValueFrom(
        d.instances$(service).pipe(
          filter((s) => s.get(id)?.port === port),
          map(() => performance.now()),
        ),
      );
    const both = Promise.all([at(many), at(one)]);
    await postInstance(
      server.base,
      service.toUpperCase(),
      rawInstanceInfo({ service, id, host: '10.9.9.7', port }),
    );
    const [tMany, tOne] = await both;
    out.many.push(since(manyReports, tMany));
    out.one.push(since(oneReports, tOne));
  }
  sub.unsubscribe();
  await one.close();
  out.many.sort((a, b) => a - b);
  out.one.sort((a, b) => a - b);
  return out;
};

export async function run(): Promise<void> {
  const server = await startEureka({
    properties: {
      // deltas keep the changes of the last 6 intervals, as 3 min do at Eureka's 30 s
      'eureka.server.retention-time-in-m-s-in-delta-queue': INTERVAL * 6,
      'eureka.server.delta-retention-timer-interval-in-ms': INTERVAL,
    },
  });
  const names = Array.from({ length: APPS }, (_, a) => name(a));
  const instances = APPS * PER_APP;
  const clock = { last: process.cpuUsage() };
  try {
    const fillMs = await fill(server.base);
    await until(
      async () => (await rawRequest('GET', `${server.base}/apps/delta`)).text.length < 2000,
      120_000,
      'the delta queue to drain',
    );
    console.log(
      `eureka scale: ${APPS} applications x ${PER_APP} instances (${instances}), registered in ${ms(fillMs)} by POST /eureka/peerreplication/batch (${BATCH} per request, 4 at a time)`,
    );

    // 1. every service watched, from one discovery (cold: the code runs for the first time)
    const reports: Report[] = [];
    const d = recorded(server.url, reports, clock);
    const before = settledHeap();
    clock.last = process.cpuUsage();
    const watched = await watchAll(d, names, (s) => s.size === PER_APP);
    const heap = settledHeap() - before;
    const catalog = await firstValueFrom(d.catalog$());
    const emptyBefore = settledHeap();
    const empty = await watchAll(
      d,
      names.map((n) => `${n}-none`),
      () => true,
    );
    const perEmpty = (settledHeap() - emptyBefore) / APPS;
    for (const s of empty.subs) s.unsubscribe();

    // 2. one change per interval: delta refreshes
    const settledBefore = settledHeap();
    const start = reports.length;
    const posts: number[] = [];
    const t0 = performance.now();
    for (let n = 0; n < CHANGES; n++) {
      const service = names[(n * 97) % APPS]!;
      const id = `${service}-0`;
      const port = 20_000 + n;
      const seen = firstValueFrom(
        d.instances$(service).pipe(filter((s) => s.get(id)?.port === port)),
      );
      const c0 = process.cpuUsage();
      await postInstance(
        server.base,
        service.toUpperCase(),
        rawInstanceInfo({ service, id, host: '10.9.9.9', port }),
      );
      posts.push(cpuMs(c0));
      await seen;
    }
    const elapsed = performance.now() - t0;
    const deltas = reports.slice(start + 1).filter((r) => r.kind === 'delta');
    const kept = (settledHeap() - settledBefore) / CHANGES;
    const requests = reports.slice(start).length / (elapsed / INTERVAL);
    const spread = await propagation(d, server, names[APPS - 1]!, reports);
    for (const s of watched.subs) s.unsubscribe();
    await d.close();

    // 3. a full refresh again, warm: a new discovery (a new poller) watches everything
    const fullAt = reports.length;
    const d2 = recorded(server.url, reports, clock);
    const warmBefore = settledHeap();
    clock.last = process.cpuUsage();
    const again = await watchAll(d2, names, (s) => s.size === PER_APP);
    const fullReport = reports.slice(fullAt).find((r) => r.kind === 'full')!;
    const warmHeap = settledHeap() - warmBefore;
    for (const s of again.subs) s.unsubscribe();
    await d2.close();

    // 4. the floor, on the same payloads
    const full = await floor(server.base, '/apps', 5);
    await postInstance(
      server.base,
      names[0]!.toUpperCase(),
      rawInstanceInfo({ service: names[0]!, id: `${names[0]}-0`, host: '10.9.9.8', port: 30_000 }),
    );
    const delta = await floor(server.base, '/apps/delta', 5);

    const perInstance = (warmHeap - perEmpty * APPS) / instances;
    // less the bench's own POST of the change, which happens between two refreshes
    const deltaCpu = mean(deltas.map((r) => r.cpu)) - median(posts);
    const fullCpu = fullReport.cpu - again.subscribeCpu;
    console.log(
      `  floor, bare GET /apps (${mb(full.bytes)}) + JSON.parse: ${ms(full.wall)} wall, ${ms(full.cpu)} CPU; the parsed payload held ${mb(full.held)} (${(full.held / instances).toFixed(0)} B per instance)`,
    );
    console.log(
      `  every first set      cold ${ms(watched.ms)} wall, ${ms(watched.cpu)} CPU; warm ${ms(again.ms)} wall, ${ms(again.cpu)} CPU (one full refresh, the catalog of ${catalog.size} services, ${APPS} first sets): warm ${(again.ms / full.wall).toFixed(2)}x the floor's wall, ${(again.cpu / full.cpu).toFixed(2)}x its CPU`,
    );
    console.log(
      `  heap in all          ${mb(warmHeap)} (${(warmHeap / full.held).toFixed(2)}x the parsed payload; cold ${mb(heap)}, with the code compiled on first use)`,
    );
    console.log(
      `  per instance         ${perInstance.toFixed(0)} B (heap less the per-watch cost below, over ${instances}; target <= 400 B: ${verdict(perInstance <= 400)}, ${(perInstance / 400).toFixed(2)}x; the parsed payload ${(full.held / instances).toFixed(0)} B)`,
    );
    console.log(
      `  per watched service  ${kb(warmHeap / APPS)} with its ${PER_APP} instances; with no instance ${kb(perEmpty)} (target <= 2 KB: ${verdict(perEmpty <= 2048)}, ${(perEmpty / 2048).toFixed(2)}x)`,
    );
    console.log(
      `  full refresh         ${ms(fullCpu)} CPU (warm: GET /apps, decode, the copy; the ${APPS} subscriptions before it ${ms(again.subscribeCpu)}) against the floor's ${ms(full.cpu)}: ${(fullCpu / full.cpu).toFixed(2)}x; heap at its end ${mb(fullReport.heap - warmBefore)} before a collection (the floor's ${mb(full.atEnd)}: ${((fullReport.heap - warmBefore) / full.atEnd).toFixed(2)}x)`,
    );
    console.log(
      `  delta refresh        ${ms(deltaCpu)} CPU per refresh carrying a change (${deltas.length} refreshes, ${kb(mean(deltas.map((r) => r.bytes)))} each; less the bench's own POST, ${ms(median(posts))}) against the floor's GET /apps/delta + parse ${ms(delta.cpu)} (${kb(delta.bytes)}): ${(deltaCpu / delta.cpu).toFixed(2)}x`,
    );
    console.log(
      `  heap kept per delta  ${(kept / 1024).toFixed(1)} KB (settled, over ${CHANGES} changes; 0: nothing grows with refreshes)`,
    );
    const [m50, m90] = [percentile(spread.many, 50), percentile(spread.many, 90)];
    const [o50, o90] = [percentile(spread.one, 50), percentile(spread.one, 90)];
    console.log(
      `  propagation          from the delta's answer decoded to the emission, ${PROPAGATION} changes: ${APPS} watched (a view of the catalog) p50 ${ms3(m50)}, p90 ${ms3(m90)}; 1 watched (its own stream) p50 ${ms3(o50)}, p90 ${ms3(o90)}; added by the catalog p50 ${ms3(m50 - o50)} (target < 0.3 ms: ${verdict(m50 - o50 < 0.3)})`,
    );
    console.log(
      `  requests             ${requests.toFixed(2)} per ${INTERVAL} ms interval for ${APPS} watched services and the catalog (one poller, target 1: ${verdict(requests <= 1.05)})`,
    );
  } finally {
    await server.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
