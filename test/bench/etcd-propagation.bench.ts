/**
 * Propagation latency of the etcd backend: put -> emission on `instances$`,
 * against a raw `etcd3` prefix watch on the same etcd in the same run (the
 * peer: what any etcd3 user gets). Prints rxdisco's added latency at p50 and
 * p99 (targets: < 0.3 ms and < 1 ms) and the ratios. Asserts nothing.
 */
import { performance } from 'node:perf_hooks';
import { filter, firstValueFrom } from 'rxjs';
import { etcdDiscovery } from '../../src/backends/etcd/index.js';
import { toRecord } from '../../src/core/codecs.js';
import { createInstance } from '../../src/core/instance.js';
import { rawClient } from '../integration/etcd/harness.js';
import { startEtcd } from '../servers/etcd.js';

const CHANGES = 1000;
const WARMUP = 100;
const KEYS = 50;

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
const sortNum = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);
const ms = (x: number): string => `${x.toFixed(3)} ms`;

export async function run(): Promise<void> {
  const etcd = await startEtcd();
  const prefix = '/bench/';
  const service = 'prop';
  const writer = rawClient(etcd.endpoints);
  const peer = rawClient(etcd.endpoints);
  const registry = etcdDiscovery(`etcd://${etcd.endpoints[0]}${prefix}`, {
    onProblem: () => undefined,
  });
  try {
    // the peer: a raw etcd3 prefix watch
    let rawSeen = new Map<string, number>();
    const watcher = await peer.watch().prefix(`${prefix}${service}/`).create();
    watcher.on('put', (kv) => rawSeen.set(kv.value.toString(), performance.now()));

    // rxdisco: instances$ emissions, matched by the port each change sets
    let rxSeen = new Map<number, number>();
    const set$ = registry.instances$(service);
    const sub = set$.subscribe((set) => {
      const now = performance.now();
      for (const i of set.delta?.added ?? []) rxSeen.set(i.port, now);
      for (const u of set.delta?.updated ?? []) rxSeen.set(u.current.port, now);
    });
    await firstValueFrom(set$);

    const rawLat: number[] = [];
    const rxLat: number[] = [];
    const added: number[] = [];
    for (let n = 0; n < WARMUP + CHANGES; n++) {
      const id = `k${n % KEYS}`;
      const port = 10_000 + n;
      const value = JSON.stringify(
        toRecord(createInstance({ service, id, host: '127.0.0.1', port }, 'bench')),
      );
      rawSeen = new Map();
      rxSeen = new Map();
      const bothSeen = firstValueFrom(set$.pipe(filter((s) => s.get(id)?.port === port)));
      const t0 = performance.now();
      await writer.put(`${prefix}${service}/${id}`).value(value);
      await bothSeen;
      while (!rawSeen.has(value)) await new Promise((r) => setImmediate(r));
      const tRaw = rawSeen.get(value)!;
      const tRx = rxSeen.get(port)!;
      if (n < WARMUP) continue;
      rawLat.push(tRaw - t0);
      rxLat.push(tRx - t0);
      added.push(tRx - tRaw);
    }
    sub.unsubscribe();
    await watcher.cancel();

    const raw = sortNum(rawLat);
    const rx = sortNum(rxLat);
    const diff = sortNum(added);
    const line = (name: string, xs: number[]) =>
      `  ${name.padEnd(28)} p50 ${ms(percentile(xs, 50))}  p99 ${ms(percentile(xs, 99))}`;
    console.log(`etcd propagation: put -> emission, ${CHANGES} changes (after ${WARMUP} warm-up)`);
    console.log(line('raw etcd3 prefix watch', raw));
    console.log(line('rxdisco instances$', rx));
    console.log(line('added (paired rx - raw)', diff));
    const p50 = percentile(rx, 50) - percentile(raw, 50);
    const p99 = percentile(rx, 99) - percentile(raw, 99);
    const verdict = (value: number, target: number) => (value < target ? 'PASS' : 'MISS');
    const a50 = percentile(diff, 50);
    const a99 = percentile(diff, 99);
    console.log(
      `  added latency p50 ${ms(a50)} (target < 0.3 ms: ${verdict(a50, 0.3)}, ${(a50 / 0.3).toFixed(2)}x of target)`,
    );
    console.log(
      `  added latency p99 ${ms(a99)} (target < 1 ms: ${verdict(a99, 1)}, ${(a99 / 1).toFixed(2)}x of target)`,
    );
    console.log(`  difference of percentiles: p50 ${ms(p50)}, p99 ${ms(p99)}`);
    console.log(
      `  ratio rxdisco / raw: p50 ${(percentile(rx, 50) / percentile(raw, 50)).toFixed(3)}, p99 ${(percentile(rx, 99) / percentile(raw, 99)).toFixed(3)}`,
    );
  } finally {
    await registry.close();
    writer.close();
    peer.close();
    await etcd.destroy();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  run().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
