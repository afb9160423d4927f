/**
 * Where the time of a Consul change goes, for rxdisco and the `consul` npm
 * package's watch: from the registration call to the client's emission,
 * and from the last byte of the blocking query's answer (the health
 * answer's `end` event, seen through a wrapper of `IncomingMessage#emit`)
 * to the emission: what each client does with an answer. Each client runs
 * alone, in alternating blocks of changes, on one agent. Prints medians;
 * asserts nothing.
 */
import { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import Consul from 'consul';
import { consulDiscovery } from '../../src/backends/consul/index.js';
import { consulRequest, startConsul } from '../servers/consul.js';

const BLOCKS = 6;
const PER_BLOCK = 8;
const SERVICE = 'answer';

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};
const sleep = (t: number): Promise<void> => new Promise((r) => setTimeout(r, t));
const us = (ms: number): string => `${(ms * 1000).toFixed(0)} µs`;

type Client = 'rxdisco' | 'consul watch';

export async function run(): Promise<void> {
  // The end of the last answer to a health query, whoever asked.
  let answerEnd = 0;
  const emit = IncomingMessage.prototype.emit;
  IncomingMessage.prototype.emit = function (this: IncomingMessage, event: string, ...args) {
    // a client response carries its request (not in Node's types)
    const path = (this as { req?: { path?: string } }).req?.path ?? '';
    if (event === 'end' && path.startsWith(`/v1/health/service/${SERVICE}`)) {
      answerEnd = performance.now();
    }
    return emit.call(this, event, ...args);
  } as typeof emit;

  const agent = await startConsul();
  const port = agent.httpPort;
  const registry = consulDiscovery(agent.url, { onProblem: () => undefined });
  const consul = new Consul({ host: '127.0.0.1', port });
  const figures = new Map<Client, { total: number[]; after: number[] }>([
    ['rxdisco', { total: [], after: [] }],
    ['consul watch', { total: [], after: [] }],
  ]);
  let want: string | undefined;
  let t0 = 0;
  let seen: () => void = () => undefined;
  const observe = (who: Client, ids: readonly string[]): void => {
    if (want === undefined || !ids.includes(want)) return;
    const now = performance.now();
    const f = figures.get(who)!;
    f.total.push(now - t0);
    f.after.push(now - answerEnd);
    want = undefined;
    seen();
  };
  /** Subscribes `who`, waits for its first emission; returns how to stop it. */
  const start = async (who: Client): Promise<() => void> => {
    let first: () => void = () => undefined;
    const started = new Promise<void>((r) => {
      first = r;
    });
    if (who === 'rxdisco') {
      const sub = registry.instances$(SERVICE).subscribe((set) => {
        first();
        observe(
          who,
          set.instances.map((i) => i.id),
        );
      });
      await started;
      return () => sub.unsubscribe();
    }
    const watch = consul.watch({
      method: consul.health.service,
      options: { service: SERVICE, passing: 'true' },
    });
    watch.on('change', (data: Array<{ Service: { ID: string } }>) => {
      first();
      observe(
        who,
        data.map((e) => e.Service.ID),
      );
    });
    watch.on('error', () => undefined);
    await started;
    return () => watch.end();
  };

  try {
    for (let block = 0; block < BLOCKS; block++) {
      for (const who of ['rxdisco', 'consul watch'] as const) {
        const stop = await start(who);
        for (let n = 0; n < PER_BLOCK; n++) {
          const id = `${who === 'rxdisco' ? 'r' : 'w'}${block}-${n}`;
          // idle first, as a real process is between changes (and past the token bucket)
          await sleep(200 + Math.random() * 200);
          const appeared = new Promise<void>((r) => {
            seen = r;
          });
          want = id;
          t0 = performance.now();
          await consulRequest(port, 'PUT', '/v1/agent/service/register', {
            ID: id,
            Name: SERVICE,
            Address: '127.0.0.1',
            Port: 12_000 + n,
          });
          await Promise.race([appeared, sleep(10_000)]);
          want = undefined;
          await consulRequest(port, 'PUT', `/v1/agent/service/deregister/${id}`);
        }
        stop();
      }
    }
  } finally {
    IncomingMessage.prototype.emit = emit;
    await registry.close();
    consul.destroy();
    await agent.destroy();
  }

  console.log(
    `consul answer handling: ${BLOCKS} alternating blocks of ${PER_BLOCK} registrations per client, each client alone`,
  );
  for (const [who, f] of figures) {
    console.log(
      `  ${who.padEnd(14)} register -> seen p50 ${median(f.total).toFixed(2)} ms;  last byte of the answer -> seen p50 ${us(median(f.after))}  (n=${f.total.length})`,
    );
  }
  const rx = figures.get('rxdisco')!;
  const peer = figures.get('consul watch')!;
  console.log(
    `  rxdisco - consul watch, last byte -> seen: ${us(median(rx.after) - median(peer.after))} (info: validation, instances, set diff and RxJS against a bare JSON.parse)`,
  );
}
