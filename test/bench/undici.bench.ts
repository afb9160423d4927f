/**
 * The discovery dispatcher's added latency per request: `undici.request()`
 * to one instance of a service through `discoveryDispatcher()` (memory
 * registry, one instance, round robin, the call machinery, a pool per
 * instance) against `undici.request()` through a plain undici `Pool` to the
 * same fixed address (the peer: what the dispatcher adds to). One local
 * HTTP server answering 1 KB; sequential requests (one in flight), in
 * alternating blocks so that drift hits both alike. Target: p50 at most
 * +50 µs over plain undici.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Dispatcher, Pool, request } from 'undici';
import { memoryDiscovery } from '../../src/backends/memory/index.js';
import { memoryRegistry } from '../../src/backends/memory/store.js';
import { toRecord } from '../../src/core/codecs.js';
import { createInstance } from '../../src/core/instance.js';
import { discoveryDispatcher } from '../../src/undici/index.js';
import { verdict } from './heap.js';

const BLOCKS = 20;
const PER_BLOCK = 1000;
const WARMUP = 2000;
const TARGET_US = 50;
const BODY = Buffer.alloc(1024, 'x');

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

/** Sends `n` sequential GETs to `url` through `dispatcher`; their latencies in µs. */
export const measure = async (
  url: string,
  dispatcher: Dispatcher,
  n: number,
  out: number[],
): Promise<void> => {
  for (let k = 0; k < n; k++) {
    const t0 = performance.now();
    const res = await request(url, { dispatcher });
    await res.body.arrayBuffer();
    out.push((performance.now() - t0) * 1000);
  }
};

export const run = async (): Promise<void> => {
  const server = createServer((_req, res) => {
    res.setHeader('content-length', BODY.length);
    res.end(BODY);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const store = memoryRegistry('bench-undici');
  store.put(
    'bench',
    'a',
    toRecord(
      createInstance(
        { service: 'bench', id: 'a', host: '127.0.0.1', port },
        'memory://bench-undici',
      ),
    ),
  );
  const d = memoryDiscovery(store);
  const viaDiscovery = discoveryDispatcher(d, { retry: { budget: false } });
  const plain = new Pool(`http://127.0.0.1:${port}`);
  const plainUrl = `http://127.0.0.1:${port}/`;
  const serviceUrl = 'http://bench/';
  try {
    await measure(plainUrl, plain, WARMUP, []);
    await measure(serviceUrl, viaDiscovery, WARMUP, []);
    const a: number[] = [];
    const b: number[] = [];
    for (let block = 0; block < BLOCKS; block++) {
      await measure(plainUrl, plain, PER_BLOCK, a);
      await measure(serviceUrl, viaDiscovery, PER_BLOCK, b);
    }
    a.sort((x, y) => x - y);
    b.sort((x, y) => x - y);
    const p50a = percentile(a, 0.5);
    const p50b = percentile(b, 0.5);
    const added = p50b - p50a;
    console.log(
      `plain undici Pool:     p50 ${p50a.toFixed(1)} µs  p99 ${percentile(a, 0.99).toFixed(1)} µs  (${a.length} requests, 1 KB)`,
    );
    console.log(
      `discoveryDispatcher:   p50 ${p50b.toFixed(1)} µs  p99 ${percentile(b, 0.99).toFixed(1)} µs`,
    );
    console.log(
      `added latency p50: ${added.toFixed(1)} µs (ratio ${(p50b / p50a).toFixed(3)}x; target <= +${TARGET_US} µs) ${verdict(added <= TARGET_US)}`,
    );
  } finally {
    await viaDiscovery.close();
    await plain.close();
    await d.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
};
