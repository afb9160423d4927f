/**
 * 200 services watched from one process: requests per second the Consul
 * backend sends to the agent while nothing changes (counted by a proxy in
 * front of the agent), against polling each service every second, and the
 * heap held by the 200 watches. Asserts nothing.
 */
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { filter, firstValueFrom, type Subscription } from 'rxjs';
import { consulDiscovery } from '../../src/backends/consul/index.js';
import { consulRequest, startConsul } from '../servers/consul.js';
import { settledHeap } from './heap.js';

const SERVICES = 200;
const WINDOW_MS = 35_000;
// a short wait, so that the window sees every watch return about three times
const WAIT_S = 10;

export async function run(): Promise<void> {
  // Consul allows 200 HTTP connections per client address by default; each
  // watch holds one while it blocks.
  const agent = await startConsul({ hcl: ['limits { http_max_conns_per_client = 1000 }'] });
  let requests = 0;
  const proxy = createServer((req, res) => {
    requests++;
    const upstream = request(
      {
        host: '127.0.0.1',
        port: agent.httpPort,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const proxyPort = (proxy.address() as AddressInfo).port;
  const registry = consulDiscovery(`consul://127.0.0.1:${proxyPort}`, {
    onProblem: () => undefined,
    waitMs: WAIT_S * 1000,
  });
  const subs: Subscription[] = [];
  try {
    for (let k = 0; k < SERVICES; k++) {
      await consulRequest(agent.httpPort, 'PUT', '/v1/agent/service/register', {
        ID: `idle-${k}`,
        Name: `idle-${k}`,
        Address: '127.0.0.1',
        Port: 10_000 + k,
        Meta: { version: '1.0.0' },
        Tags: ['v1'],
      });
    }
    const before = settledHeap();
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: SERVICES }, (_, k) => {
        const set$ = registry.instances$(`idle-${k}`);
        subs.push(set$.subscribe());
        return firstValueFrom(set$.pipe(filter((s) => s.size === 1)));
      }),
    );
    const firstSets = Date.now() - t0;
    const initial = requests;
    const heap = settledHeap() - before;
    const start = requests;
    await new Promise((r) => setTimeout(r, WINDOW_MS));
    const idle = requests - start;
    const rps = idle / (WINDOW_MS / 1000);
    console.log(`consul idle load: ${SERVICES} services watched from one process`);
    console.log(`  first sets of all ${SERVICES} in ${firstSets} ms, ${initial} requests`);
    console.log(
      `  while nothing changes: ${idle} requests in ${WINDOW_MS / 1000} s = ${rps.toFixed(2)} req/s (blocking wait ${WAIT_S} s, Consul adds up to wait/16: expected ${((SERVICES / WAIT_S) * (32 / 33)).toFixed(1)} req/s; at the default wait of 60 s: ~${((SERVICES / 60) * (32 / 33)).toFixed(1)} req/s)`,
    );
    console.log(
      `  polling each service every second: ${SERVICES} req/s = ${(SERVICES / Math.max(rps, 0.01)).toFixed(0)}x more`,
    );
    console.log(
      `  heap held by ${SERVICES} watches: ${(heap / 1024 / 1024).toFixed(2)} MB (${(heap / SERVICES / 1024).toFixed(1)} KB per watch)`,
    );
  } finally {
    for (const s of subs) s.unsubscribe();
    await registry.close();
    proxy.closeAllConnections();
    await new Promise((r) => proxy.close(r));
    await agent.destroy();
  }
}
