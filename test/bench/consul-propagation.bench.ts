/**
 * Propagation latency of the Consul backend: a service registered through
 * the agent API -> seen by three observers watching it at the same time, on
 * the same agent in the same run:
 *
 * - rxdisco's `instances$` (blocking queries);
 * - the `consul` npm package's watch (`consul.watch({ method: consul.health.service })`,
 *   blocking queries too), as a Node.js service would use it today;
 * - polling `/v1/health/service/<name>?passing=true` every second.
 *
 * Changes are isolated: each starts at a random phase of the polling period,
 * and change N+1 starts only once every observer has seen change N (and its
 * deregistration). In the first series every observer sees the very same
 * changes at once; the targets are judged on it. Two more series run the
 * blocking clients alone (no other client woken by the same change, so no
 * contention for the event loop), in alternating blocks of 5 changes, and a last, rxdisco-only series measures
 * back-to-back changes (paced by the token bucket). Prints p50 / p90, the
 * ratios and PASS/MISS against the targets: rxdisco's median no
 * worse than the consul watch's, and at least 10x better than 1 s polling.
 * Asserts nothing.
 */
import { performance } from 'node:perf_hooks';
import Consul from 'consul';
import { filter, firstValueFrom, type Subscription } from 'rxjs';
import { consulDiscovery } from '../../src/backends/consul/index.js';
import { consulRequest, startConsul } from '../servers/consul.js';

const CHANGES = 30;
/** Changes per block of the alone series (rxdisco's block, then the watch's, and so on). */
const ALONE_BLOCK = 5;
const BURST_CHANGES = 40;
const POLL_EVERY = 1000;
const CHANGE_TIMEOUT = 20_000;

const percentile = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};
const ms = (x: number): string => `${x.toFixed(1)} ms`;
const sleep = (t: number): Promise<void> => new Promise((r) => setTimeout(r, t));

const OBSERVERS = ['rxdisco', 'consul watch', 'polling'] as const;
type Observer = (typeof OBSERVERS)[number];

interface HealthEntry {
  readonly Service: { readonly ID: string };
}

/** One change under way: which id must appear (or disappear), since when, seen by whom. */
interface Pending {
  readonly id: string;
  readonly by: readonly Observer[];
  readonly present: boolean;
  readonly t0: number;
  readonly seen: Map<Observer, number>;
  readonly done: () => void;
}

export async function run(): Promise<void> {
  const agent = await startConsul();
  const port = agent.httpPort;
  const register = (service: string, id: string, p: number) =>
    consulRequest(port, 'PUT', '/v1/agent/service/register', {
      ID: id,
      Name: service,
      Address: '127.0.0.1',
      Port: p,
    });
  const deregister = (id: string) =>
    consulRequest(port, 'PUT', `/v1/agent/service/deregister/${id}`);
  const registry = consulDiscovery(agent.url, { onProblem: () => undefined });
  const consul = new Consul({ host: '127.0.0.1', port });
  const service = 'prop';
  const watchErrors: string[] = [];
  let pending: Pending | undefined;
  const observe = (who: Observer, ids: ReadonlySet<string>): void => {
    const p = pending;
    if (p === undefined || p.seen.has(who) || ids.has(p.id) !== p.present) return;
    p.seen.set(who, performance.now() - p.t0);
    if (p.by.every((o) => p.seen.has(o))) p.done();
  };

  // (a) rxdisco
  const subscribeRxdisco = async () => {
    const set$ = registry.instances$(service);
    const sub = set$.subscribe((set) =>
      observe('rxdisco', new Set(set.instances.map((i) => i.id))),
    );
    await firstValueFrom(set$);
    return sub;
  };
  // (b) the consul package's watch (its defaults: wait 30s, backoff 100 ms x 2^n)
  const startWatch = async () => {
    const watch = consul.watch({
      method: consul.health.service,
      options: { service, passing: 'true' },
    });
    const started = new Promise<void>((r) => watch.once('change', () => r()));
    watch.on('change', (data: HealthEntry[]) => {
      observe('consul watch', new Set(data.map((e) => e.Service.ID)));
    });
    watch.on('error', (e: Error) => {
      watchErrors.push(e.message);
    });
    await started;
    return watch;
  };
  // (c) polling every second, as a plain HTTP client would
  let polls = 0;
  let stop = false;
  const poll = async () => {
    while (!stop) {
      const r = await consulRequest(port, 'GET', `/v1/health/service/${service}?passing=true`);
      polls++;
      const list = JSON.parse(r.text) as HealthEntry[];
      observe('polling', new Set(list.map((e) => e.Service.ID)));
      await sleep(POLL_EVERY);
    }
  };

  const change = async (
    id: string,
    present: boolean,
    by: readonly Observer[],
    action: () => Promise<unknown>,
  ) => {
    let done: () => void = () => undefined;
    const all = new Promise<void>((r) => {
      done = r;
    });
    const p: Pending = { id, by, present, t0: performance.now(), seen: new Map(), done };
    pending = p;
    await action();
    const timedOut = await Promise.race([
      all.then(() => false),
      sleep(CHANGE_TIMEOUT).then(() => true),
    ]);
    pending = undefined;
    if (timedOut) {
      const missing = by.filter((o) => !p.seen.has(o)).join(', ');
      console.log(`  ${id} ${present ? 'registration' : 'removal'}: not seen by ${missing}`);
    }
    return p.seen;
  };
  /** `CHANGES` isolated changes seen by `by`: register -> seen, per observer. */
  const series = async (tag: string, by: readonly Observer[], count = CHANGES) => {
    const out = new Map<Observer, number[]>(by.map((o) => [o, []]));
    for (let n = 0; n < count; n++) {
      const id = `${tag}${n}`;
      // a random phase of the polling period, as real changes have
      await sleep(Math.random() * POLL_EVERY);
      const up = await change(id, true, by, () => register(service, id, 10_000 + n));
      for (const [o, t] of up) out.get(o)?.push(t);
      await change(id, false, by, () => deregister(id));
    }
    return out;
  };

  const subs: Subscription[] = [];
  const watches: Array<{ end(): void }> = [];
  let poller: Promise<void> = Promise.resolve();
  let together = new Map<Observer, number[]>();
  const rxAlone: number[] = [];
  const watchAlone: number[] = [];
  const burst: number[] = [];
  let pollsDuring = 0;
  try {
    // 1. all three at once, on the same changes
    const rx = await subscribeRxdisco();
    subs.push(rx);
    const watch = await startWatch();
    watches.push(watch);
    poller = poll();
    together = await series('t', OBSERVERS);
    pollsDuring = polls;
    stop = true;
    await poller;
    watch.end();
    rx.unsubscribe();
    // 2. and 3. each blocking client alone
    // in alternating blocks, so that a drift of the agent or the machine
    // over the run weighs on both alike
    for (let block = 0; block < CHANGES / ALONE_BLOCK; block++) {
      const rx2 = await subscribeRxdisco();
      subs.push(rx2);
      rxAlone.push(
        ...((await series(`r${block}-`, ['rxdisco'], ALONE_BLOCK)).get('rxdisco') ?? []),
      );
      rx2.unsubscribe();
      const watch2 = await startWatch();
      watches.push(watch2);
      watchAlone.push(
        ...((await series(`w${block}-`, ['consul watch'], ALONE_BLOCK)).get('consul watch') ?? []),
      );
      watch2.end();
    }

    // 4. rxdisco alone: back-to-back changes (paced by the token bucket:
    // burst 2, then 10 queries/s)
    const set$ = registry.instances$(service);
    subs.push(set$.subscribe());
    for (let n = 0; n < BURST_CHANGES; n++) {
      const id = `b${n}`;
      const appeared = firstValueFrom(set$.pipe(filter((s) => s.get(id) !== undefined)));
      const t0 = performance.now();
      await register(service, id, 11_000 + n);
      await appeared;
      burst.push(performance.now() - t0);
      const gone = firstValueFrom(set$.pipe(filter((s) => s.get(id) === undefined)));
      await deregister(id);
      await gone;
    }
  } finally {
    stop = true;
    await poller;
    for (const w of watches) w.end();
    for (const s of subs) s.unsubscribe();
    await registry.close();
    consul.destroy();
    await agent.destroy();
  }

  const get = (o: Observer) => together.get(o) ?? [];
  const p50 = (o: Observer) => percentile(get(o), 50);
  const p90 = (o: Observer) => percentile(get(o), 90);
  console.log(
    `consul propagation: register -> seen, ${CHANGES} isolated changes per series (same agent)`,
  );
  const line = (name: string, xs: number[]) =>
    `  ${name.padEnd(44)} p50 ${ms(percentile(xs, 50)).padStart(9)}  p90 ${ms(percentile(xs, 90)).padStart(9)}  (n=${xs.length})`;
  console.log('  all three observers at once, same changes:');
  console.log(line('rxdisco (blocking queries)', get('rxdisco')));
  console.log(line('consul npm package watch (v2.0.1)', get('consul watch')));
  console.log(line(`polling every ${POLL_EVERY} ms`, get('polling')));
  console.log('  each blocking client alone:');
  console.log(line('rxdisco alone', rxAlone));
  console.log(line('consul npm package watch alone', watchAlone));
  console.log(line('rxdisco alone, back-to-back changes', burst));
  const watchRatio = p50('consul watch') / p50('rxdisco');
  const pollRatio = p50('polling') / p50('rxdisco');
  const aloneRatio = percentile(watchAlone, 50) / percentile(rxAlone, 50);
  console.log(
    `  consul watch / rxdisco, at once   p50 ${watchRatio.toFixed(2)}x  p90 ${(p90('consul watch') / p90('rxdisco')).toFixed(2)}x  (p50 rxdisco - watch: ${ms(p50('rxdisco') - p50('consul watch'))})  target: rxdisco's median no worse  ${watchRatio >= 1 ? 'PASS' : 'MISS'}`,
  );
  console.log(
    `  consul watch / rxdisco, alone     p50 ${aloneRatio.toFixed(2)}x  p90 ${(percentile(watchAlone, 90) / percentile(rxAlone, 90)).toFixed(2)}x  (p50 rxdisco - watch: ${ms(percentile(rxAlone, 50) - percentile(watchAlone, 50))})  same target  ${aloneRatio >= 1 ? 'PASS' : 'MISS'}`,
  );
  console.log(
    `  polling / rxdisco, at once        p50 ${pollRatio.toFixed(0)}x  p90 ${(p90('polling') / p90('rxdisco')).toFixed(0)}x  target: >= 10x  ${pollRatio >= 10 ? 'PASS' : 'MISS'}`,
  );
  console.log(
    `  polling sent ${pollsDuring} requests during the ${CHANGES} changes; blocking queries send about two per change (its registration and its removal), plus one per wait period when idle`,
  );
  if (watchErrors.length > 0) {
    console.log(`  consul watch errors: ${watchErrors.length} (${watchErrors[0]})`);
  }
}
