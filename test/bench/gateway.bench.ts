/**
 * The gateway under load, against peers, in one run. autocannon (HTTP/1.1
 * keep-alive, {@link CONNECTIONS} connections) sends `GET /bench/hello/<size>`
 * to three proxies in turn, in front of three local upstream HTTP servers
 * answering 1 KB or 100 KB:
 * - `rxdisco gateway` (a memory registry with the three upstreams as the
 *   instances of `bench`, round robin) against a bare undici proxy to one
 *   fixed upstream (a `Pool` and a few lines: the floor of a Node proxy):
 *   throughput at least 0.85x, p99 at most 1.25x;
 * - against http-proxy (node-http-proxy) routing the same way (`/<service>/...`
 *   to the three upstreams, round robin, keep-alive agent): throughput at
 *   least 1.0x;
 * - the gateway's heap after a full GC, before and after one million
 *   requests: flat within 10 %;
 * - the dispatcher's added latency per request against plain undici (the
 *   undici bench, run from here): p50 at most +50 µs; and, one request at
 *   a time, what each proxy adds at p50 (no target: where the gateway's
 *   cost over the floor shows without load).
 * Each proxy runs in a process of its own (the upstreams in another,
 * autocannon in this one); the proxies are measured one at a time, in
 * rounds of alternating order with the gateway in the middle; a ratio is
 * taken within each round (between adjacent runs, which share the
 * machine's load) and the median of the rounds' ratios is printed, with
 * their range.
 * Latencies are taken per response (autocannon's own histogram has 1 ms
 * resolution). Each proxy's own CPU time per request is printed too: on a
 * busy machine it is what bounds a proxy's throughput, and it varies far
 * less from run to run than the throughput itself.
 */
import { type ChildProcess, fork } from 'node:child_process';
import {
  createServer,
  Agent as HttpAgent,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type RequestListener,
  type Server,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import httpProxy from 'http-proxy';
import { type Dispatcher, Pool } from 'undici';
import { median, settledHeap, verdict } from './heap.js';
import { run as dispatcherLatency, measure } from './undici.bench.js';

const CONNECTIONS = 64;
const WARMUP_S = 1;
const MEASURE_S = 3;
const ROUNDS = 5;
const HEAP_WARMUP = 100_000;
const SEQUENTIAL_BLOCKS = 10;
const PER_BLOCK = 500;
const HEAP_REQUESTS = 1_000_000;
const SIZES = { '1k': 1024, '100k': 100 * 1024 } as const;
type Size = keyof typeof SIZES;
type Role = 'upstreams' | 'undici' | 'http-proxy' | 'gateway';
const PROXIES = ['undici', 'http-proxy', 'gateway'] as const satisfies readonly Role[];
type Proxy = (typeof PROXIES)[number];
const LABEL: Record<Proxy, string> = {
  undici: 'bare undici proxy (1 upstream)',
  'http-proxy': 'http-proxy (round robin, 3)',
  gateway: 'rxdisco gateway (round robin, 3)',
};

const ROLE = 'RXDISCO_GATEWAY_BENCH_ROLE';
const SELF = fileURLToPath(import.meta.url);

/** Messages between this process and its children. */
type FromChild = {
  readonly port?: number;
  readonly ports?: number[];
  /** Heap in use after a full GC, bytes. */
  readonly heap?: number;
  /** CPU time used so far (user + system), µs. */
  readonly cpu?: number;
};
type Query = 'heap' | 'cpu';
type ToChild = Query | 'exit';

/** `/<service>/<rest>` -> `/<rest>`. */
const stripService = (url: string): string => {
  const slash = url.indexOf('/', 1);
  return slash < 0 ? '/' : url.slice(slash);
};

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'host', 'transfer-encoding', 'upgrade']);

/** The request headers a bare proxy may hand to undici. */
const forwardable = (headers: IncomingHttpHeaders): Record<string, string | string[]> => {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers))
    if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
};

/** The three upstreams: `.../100k` answers 100 KB, anything else 1 KB. */
const upstreams = async (): Promise<Server[]> => {
  const bodies = { small: Buffer.alloc(SIZES['1k'], 'a'), big: Buffer.alloc(SIZES['100k'], 'b') };
  return Promise.all(
    [0, 1, 2].map(async () => {
      const server = createServer((req, res) => {
        const body = req.url?.endsWith('/100k') === true ? bodies.big : bodies.small;
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'content-length': body.length,
        });
        res.end(body);
      });
      server.keepAliveTimeout = 60_000;
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return server;
    }),
  );
};

/**
 * The floor: undici's `Pool.stream()` (its API for proxies: the response
 * body written straight into the response) to one fixed upstream.
 */
const undiciProxy = (origins: readonly string[]): RequestListener => {
  const pool = new Pool(origins[0]!);
  return (req, res) => {
    pool
      .stream(
        {
          path: stripService(req.url ?? '/'),
          method: req.method as Dispatcher.HttpMethod,
          headers: forwardable(req.headers),
        },
        ({ statusCode, headers }) => {
          res.writeHead(statusCode, headers as OutgoingHttpHeaders);
          return res;
        },
      )
      .catch(() => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
  };
};

/** http-proxy, routing `/<service>/...` to the three upstreams in turn. */
const nodeHttpProxy = (origins: readonly string[]): RequestListener => {
  // No socket limit: http-proxy 1.18.1 on Node 20 does not abort its
  // upstream request when the client goes away mid-response (it waits for
  // the 'aborted' event), so each run's abandoned requests would hold sockets
  // of a bounded agent until it stalls (measured: 42 req/s by the fourth run).
  const agent = new HttpAgent({ keepAlive: true });
  const proxy = httpProxy.createProxyServer({ agent });
  proxy.on('error', (_e, _req, res) => {
    if ('writeHead' in res && !res.headersSent) res.writeHead(502);
    res.end();
  });
  let next = 0;
  return (req, res) => {
    req.url = stripService(req.url ?? '/');
    proxy.web(req, res, { target: origins[next++ % origins.length]! });
  };
};

/** rxdisco's gateway over a memory registry holding the three upstreams as `bench`. */
/**
 * The compiled modules the gateway child runs, from `dist/` as published
 * (`npm run bench` builds it first): under tsx the gateway's own code
 * would pay for tsx's transform (`keepNames` wrappers, class fields by
 * `defineProperty`), which neither the floor's few lines nor http-proxy
 * (plain JS in node_modules) pay. Typed from the sources they are built from.
 */
const fromDist = async () => {
  const dist = new URL('../../dist/', import.meta.url).href;
  const load = <T>(path: string): Promise<T> => import(`${dist}${path}`) as Promise<T>;
  return {
    ...(await load<typeof import('../../src/gateway/index.js')>('gateway/index.js')),
    ...(await load<typeof import('../../src/backends/memory/index.js')>(
      'backends/memory/index.js',
    )),
    ...(await load<typeof import('../../src/backends/memory/store.js')>(
      'backends/memory/store.js',
    )),
    ...(await load<typeof import('../../src/core/codecs.js')>('core/codecs.js')),
    ...(await load<typeof import('../../src/core/instance.js')>('core/instance.js')),
  };
};

const rxdiscoGateway = async (ports: readonly number[]): Promise<RequestListener> => {
  const { createInstance, gateway, memoryDiscovery, memoryRegistry, toRecord } = await fromDist();
  const store = memoryRegistry('bench-gateway');
  for (const [i, port] of ports.entries()) {
    const instance = createInstance(
      { service: 'bench', id: `u${i}`, host: '127.0.0.1', port },
      'memory://bench-gateway',
    );
    store.put('bench', instance.id, toRecord(instance));
  }
  return gateway(memoryDiscovery(store), { balancer: 'round-robin' });
};

/** What a child process runs: the upstreams, or one proxy in front of them. */
const child = async (role: Role): Promise<void> => {
  const send = (m: FromChild): void => {
    process.send?.(m);
  };
  if (role === 'upstreams') {
    const servers = await upstreams();
    send({ ports: servers.map((s) => (s.address() as AddressInfo).port) });
  } else {
    const ports = (process.env.RXDISCO_UPSTREAMS ?? '').split(',').map(Number);
    const origins = ports.map((p) => `http://127.0.0.1:${p}`);
    const listener =
      role === 'undici'
        ? undiciProxy(origins)
        : role === 'http-proxy'
          ? nodeHttpProxy(origins)
          : await rxdiscoGateway(ports);
    const server = createServer({ keepAliveTimeout: 60_000 }, listener);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    send({ port: (server.address() as AddressInfo).port });
  }
  process.once('disconnect', () => process.exit(0));
  process.on('message', (m: ToChild) => {
    if (m === 'heap') send({ heap: settledHeap() });
    else if (m === 'cpu') {
      const { user, system } = process.cpuUsage();
      send({ cpu: user + system });
    } else process.exit(0);
  });
};

/** A child process playing `role`; resolves with its first message. */
const spawnRole = (
  role: Role,
  env: Record<string, string> = {},
): Promise<{ proc: ChildProcess; first: FromChild }> => {
  const proc = fork(SELF, [], {
    execArgv: ['--import', 'tsx', '--expose-gc'],
    env: { ...process.env, ...env, [ROLE]: role },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    proc.once('message', (first: FromChild) => resolve({ proc, first }));
    proc.once('exit', (code) => reject(new Error(`bench child ${role} exited with ${code}`)));
  });
};

/** Asks a child for its heap after a full GC, or the CPU time it used so far. */
const ask = (proc: ChildProcess, query: Query): Promise<number> =>
  new Promise((resolve) => {
    proc.once('message', (m: FromChild) => resolve(m[query] ?? Number.NaN));
    proc.send(query satisfies ToChild);
  });

interface Figures {
  readonly requests: number;
  readonly rps: number;
  readonly p50Us: number;
  readonly p99Us: number;
  readonly bad: number;
}

/** One measured run of a proxy, with the proxy process's CPU time per request (µs). */
interface Measured extends Figures {
  readonly cpuUs: number;
}

const percentile = (sorted: Float64Array, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

/** One autocannon run; per-response latencies when `keepLatencies`. */
const load = async (
  url: string,
  run: { readonly duration?: number; readonly amount?: number },
  keepLatencies: boolean,
): Promise<Figures> => {
  const latencies: number[] = [];
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      { url, connections: CONNECTIONS, pipelining: 1, ...run },
      (e: unknown, r: autocannon.Result) =>
        e === null || e === undefined ? resolve(r) : reject(e),
    );
    if (keepLatencies)
      instance.on('response', (_client, _status, _bytes, ms: number) => {
        latencies.push(ms * 1000);
      });
  });
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests: result.requests.total,
    rps: result.requests.total / result.duration,
    p50Us: sorted.length > 0 ? percentile(sorted, 0.5) : Number.NaN,
    p99Us: sorted.length > 0 ? percentile(sorted, 0.99) : Number.NaN,
    bad: result.non2xx + result.errors + result.timeouts,
  };
};

export const run = async (): Promise<void> => {
  const ups = await spawnRole('upstreams');
  const ports = ups.first.ports ?? [];
  const env = { RXDISCO_UPSTREAMS: ports.join(',') };
  const proxies = new Map<Proxy, { proc: ChildProcess; port: number }>();
  try {
    for (const p of PROXIES) {
      const { proc, first } = await spawnRole(p, env);
      proxies.set(p, { proc, port: first.port ?? 0 });
    }
    const url = (p: Proxy, size: Size): string =>
      `http://127.0.0.1:${proxies.get(p)!.port}/bench/hello/${size}`;
    for (const size of Object.keys(SIZES) as Size[]) {
      const rounds: Map<Proxy, Measured>[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        // the gateway in the middle: next to each peer in every round
        const order: readonly Proxy[] =
          round % 2 === 0
            ? ['undici', 'gateway', 'http-proxy']
            : ['http-proxy', 'gateway', 'undici'];
        const figures = new Map<Proxy, Measured>();
        for (const p of order) {
          const { proc } = proxies.get(p)!;
          await load(url(p, size), { duration: WARMUP_S }, false);
          const cpu = await ask(proc, 'cpu');
          const f = await load(url(p, size), { duration: MEASURE_S }, true);
          figures.set(p, { ...f, cpuUs: ((await ask(proc, 'cpu')) - cpu) / f.requests });
        }
        rounds.push(figures);
      }
      /** The median over the rounds of `pick`, with its smallest and largest. */
      const over = (pick: (r: Map<Proxy, Measured>) => number) => {
        const xs = rounds.map(pick).sort((x, y) => x - y);
        return { median: median(xs), min: xs[0]!, max: xs[xs.length - 1]! };
      };
      console.log(
        `${SIZES[size] / 1024} KB responses, ${CONNECTIONS} connections, ${ROUNDS} rounds of ${MEASURE_S} s each (medians):`,
      );
      for (const p of PROXIES) {
        const rps = over((r) => r.get(p)!.rps);
        const bad = rounds.reduce((a, r) => a + r.get(p)!.bad, 0);
        console.log(
          `  ${LABEL[p].padEnd(34)} ${rps.median.toFixed(0).padStart(6)} req/s (${rps.min.toFixed(0)}-${rps.max.toFixed(0)})  p50 ${(over((r) => r.get(p)!.p50Us).median / 1000).toFixed(2)} ms  p99 ${(over((r) => r.get(p)!.p99Us).median / 1000).toFixed(2)} ms  CPU ${over((r) => r.get(p)!.cpuUs).median.toFixed(0)} µs/request${bad > 0 ? `  (${bad} errors or non-2xx)` : ''}`,
        );
      }
      // ratios within each round (adjacent runs), then their median
      const ratio = (p: Proxy, of: (f: Measured) => number) =>
        over((r) => of(r.get('gateway')!) / of(r.get(p)!));
      const range = (x: { min: number; max: number }) => `${x.min.toFixed(2)}-${x.max.toFixed(2)}`;
      const t1 = ratio('undici', (f) => f.rps);
      const l1 = ratio('undici', (f) => f.p99Us);
      const t2 = ratio('http-proxy', (f) => f.rps);
      const c1 = ratio('undici', (f) => f.cpuUs);
      const c2 = ratio('http-proxy', (f) => f.cpuUs);
      console.log(
        `  gateway / bare undici proxy: throughput ${t1.median.toFixed(2)}x (${range(t1)}; target >= 0.85x) ${verdict(t1.median >= 0.85)}; p99 ${l1.median.toFixed(2)}x (${range(l1)}; target <= 1.25x) ${verdict(l1.median <= 1.25)}`,
      );
      console.log(
        `  gateway / http-proxy:        throughput ${t2.median.toFixed(2)}x (${range(t2)}; target >= 1.0x) ${verdict(t2.median >= 1)}`,
      );
      // the proxy process's own CPU per request: what bounds its throughput on a busy core, and far less noisy
      console.log(
        `  proxy CPU per request, gateway / bare undici proxy: ${c1.median.toFixed(2)}x (${range(c1)}); gateway / http-proxy: ${c2.median.toFixed(2)}x (${range(c2)})`,
      );
    }

    // one request at a time (1 KB): the latency each proxy adds, without load
    const sequential = new Map<Proxy, number[]>(PROXIES.map((p) => [p, []]));
    const clients = new Map(
      PROXIES.map((p) => [p, new Pool(`http://127.0.0.1:${proxies.get(p)!.port}`)]),
    );
    try {
      for (const p of PROXIES) await measure(url(p, '1k'), clients.get(p)!, 2 * PER_BLOCK, []);
      for (let block = 0; block < SEQUENTIAL_BLOCKS; block++)
        for (const p of PROXIES)
          await measure(url(p, '1k'), clients.get(p)!, PER_BLOCK, sequential.get(p)!);
    } finally {
      await Promise.all([...clients.values()].map((c) => c.close()));
    }
    const p50 = (p: Proxy): number => median(sequential.get(p)!);
    console.log(
      `one request at a time, 1 KB, p50: ${PROXIES.map((p) => `${LABEL[p]} ${p50(p).toFixed(1)} µs`).join(', ')}; the gateway adds ${(p50('gateway') - p50('undici')).toFixed(1)} µs over the bare undici proxy`,
    );

    const gw = proxies.get('gateway')!;
    await load(url('gateway', '1k'), { amount: HEAP_WARMUP }, false);
    const before = await ask(gw.proc, 'heap');
    const started = Date.now();
    const heavy = await load(url('gateway', '1k'), { amount: HEAP_REQUESTS }, false);
    const after = await ask(gw.proc, 'heap');
    const growth = after / before;
    console.log(
      `gateway heap after a full GC: ${(before / 2 ** 20).toFixed(1)} MB after ${HEAP_WARMUP} requests, ${(after / 2 ** 20).toFixed(1)} MB after ${HEAP_REQUESTS} more (${((Date.now() - started) / 1000).toFixed(0)} s${heavy.bad > 0 ? `, ${heavy.bad} errors or non-2xx` : ''}): ${growth.toFixed(3)}x (target <= 1.10x) ${verdict(growth <= 1.1)}`,
    );
  } finally {
    for (const { proc } of proxies.values()) proc.send('exit' satisfies ToChild);
    ups.proc.send('exit' satisfies ToChild);
  }
  console.log("the dispatcher's added latency per request (the undici bench):");
  await dispatcherLatency();
};

const role = process.env[ROLE] as Role | undefined;
if (role !== undefined) await child(role);
