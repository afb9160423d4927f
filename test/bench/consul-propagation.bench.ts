/**
 * Propagation latency of the Consul backend: a service registered through
 * the agent API -> its emission on `instances$` (blocking queries), against
 * the usual alternative, polling `/v1/health/service/<name>` every second,
 * on the same agent in the same run. Prints p50 / p95 and the ratio.
 * The `consul` npm package's watch is not installed in this repository, so
 * it is not measured. Asserts nothing.
 */
import { performance } from 'node:perf_hooks';
import { filter, firstValueFrom } from 'rxjs';
import { consulDiscovery } from '../../src/backends/consul/index.js';
import { consulRequest, startConsul } from '../servers/consul.js';

const CHANGES = 40;
const POLL_CHANGES = 15;
const POLL_EVERY = 1000;

const percentile = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};
const ms = (x: number): string => `${x.toFixed(1)} ms`;
const sleep = (t: number): Promise<void> => new Promise((r) => setTimeout(r, t));

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
  try {
    // rxdisco: blocking queries
    const service = 'prop';
    const set$ = registry.instances$(service);
    const sub = set$.subscribe();
    await firstValueFrom(set$);
    // isolated changes (the token bucket has refilled), then back-to-back ones
    // (paced by the token bucket: burst 2, then 10 queries/s)
    const measure = async (gapMs: number, tag: string): Promise<number[]> => {
      const out: number[] = [];
      for (let n = 0; n < CHANGES; n++) {
        const id = `${tag}${n}`;
        if (gapMs > 0) await sleep(gapMs);
        const seen = firstValueFrom(set$.pipe(filter((s) => s.get(id) !== undefined)));
        const t0 = performance.now();
        await register(service, id, 10_000 + n);
        await seen;
        out.push(performance.now() - t0);
        const gone = firstValueFrom(set$.pipe(filter((s) => s.get(id) === undefined)));
        await deregister(id);
        await gone;
      }
      return out;
    };
    const rx = await measure(300, 'i');
    const burst = await measure(0, 'b');
    sub.unsubscribe();

    // the peer: poll every second, as a plain HTTP client would
    const polled = 'polled';
    const poll: number[] = [];
    let wanted: string | undefined;
    let found: (() => void) | undefined;
    let polls = 0;
    let stop = false;
    const poller = (async () => {
      while (!stop) {
        const r = await consulRequest(port, 'GET', `/v1/health/service/${polled}?passing=true`);
        polls++;
        const list = JSON.parse(r.text) as Array<{ Service: { ID: string } }>;
        if (wanted !== undefined && list.some((e) => e.Service.ID === wanted)) found?.();
        await sleep(POLL_EVERY);
      }
    })();
    for (let n = 0; n < POLL_CHANGES; n++) {
      const id = `q${n}`;
      // start at a random phase of the polling period, as real changes do
      await sleep(Math.random() * POLL_EVERY);
      const seen = new Promise<void>((r) => {
        found = r;
      });
      wanted = id;
      const t0 = performance.now();
      await register(polled, id, 11_000 + n);
      await seen;
      poll.push(performance.now() - t0);
      wanted = undefined;
      await deregister(id);
    }
    stop = true;
    await poller;

    console.log(
      `consul propagation: register -> seen (${CHANGES} changes with rxdisco, ${POLL_CHANGES} polling)`,
    );
    const line = (name: string, xs: number[]) =>
      `  ${name.padEnd(36)} p50 ${ms(percentile(xs, 50))}  p95 ${ms(percentile(xs, 95))}`;
    console.log(line('rxdisco, isolated changes', rx));
    console.log(line('rxdisco, back-to-back changes', burst));
    console.log(line(`polling every ${POLL_EVERY} ms`, poll));
    console.log(
      `  ratio polling / rxdisco              p50 ${(percentile(poll, 50) / percentile(rx, 50)).toFixed(0)}x  p95 ${(percentile(poll, 95) / percentile(rx, 95)).toFixed(0)}x`,
    );
    console.log(
      `  polling sent ${polls} requests for ${POLL_CHANGES} changes; blocking queries send one per change (plus one per wait period when idle)`,
    );
    console.log('  consul npm package watch: not installed in this repository, not measured');
  } finally {
    await registry.close();
    await agent.destroy();
  }
}
