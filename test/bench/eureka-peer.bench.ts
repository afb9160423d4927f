/**
 * rxdisco's Eureka backend against the `eureka-js-client` npm package
 * (4.5.0) on the same real Eureka server (our Spring Cloud Netflix server),
 * the same 1 s fetch interval and the same registry: 1,000 instances
 * (20 applications of 50) and one new instance of application PROBE every
 * 1.6 s. Each client runs in a child process of its own
 * (`peers/eureka-*-child.ts`), so that its CPU time is its own; all run at
 * once and see the same changes.
 *
 * - rxdisco: `eurekaDiscovery(url, { intervalMs: 1000 })`, every application
 *   watched (`instances$`); deltas with the hashcode check.
 * - eureka-js-client with `shouldUseDelta: true`: deltas (no hashcode
 *   check). The like-for-like comparison; the targets are against it.
 * - eureka-js-client as configured by default (`shouldUseDelta: false`): a
 *   full `GET /apps` every interval. For information.
 * - a floor child: a bare keep-alive GET of `/apps/delta` and `JSON.parse`
 *   each interval, nothing else: what any delta client pays before doing
 *   its own work.
 * - an idle child (no client): the CPU of a waiting Node process with the
 *   same loader, shown so that each client's CPU above it can be read too.
 *
 * Figures: propagation (from the end of a registration's POST to the
 * moment the client holds the instance: rxdisco's `instances$` emission;
 * eureka-js-client's cache right after its refresh completed), median and
 * p90; CPU time per refresh of each process. A propagation time is mostly
 * the wait for the client's next poll, so it depends on where the
 * registration falls in the client's poll cycle: registrations are spaced
 * interval * 1.618 (the golden ratio), which spreads them evenly over the
 * poll phase of any client whose period is close to the interval (rxdisco
 * times its next poll from the end of the previous one, so its period is
 * the interval plus one request; eureka-js-client uses `setInterval`). Each
 * client's measured period is printed. Targets: rxdisco's propagation
 * median no slower than eureka-js-client's (within 10 % noise), its CPU per
 * refresh at most 0.5x.
 *
 * What differs per refresh, besides the HTTP client (ky over node:http
 * against `request`, which also asks for gzip): rxdisco validates each
 * instance with io-ts, builds a new copy of the registry, checks the
 * hashcode and updates its views; eureka-js-client pushes the parsed JSON
 * into its cache (for a delta: no validation, no hashcode check).
 * Prints figures with PASS/MISS; asserts nothing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { postInstance, rawInstanceInfo } from '../integration/eureka/harness.js';
import { startEureka } from '../servers/eureka.js';
import { fillRegistry } from './eureka-fleet.js';
import type { ChildConfig, ChildResult } from './peers/eureka-child-io.js';
import { now } from './peers/eureka-child-io.js';

const APPS = 20;
const PER_APP = 50;
const INTERVAL = 1000;
const PROBES = 20;
const PROBE = 'probe';
const GOLDEN = (1 + Math.sqrt(5)) / 2;
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');

interface Client {
  readonly name: string;
  readonly script: string;
  readonly delta?: boolean;
  /** No client: the cost of an idle child process. */
  readonly baseline?: boolean;
  /** Bare GET + JSON.parse of each delta: the floor of any client (not a registry view). */
  readonly floor?: boolean;
}

const CLIENTS: readonly Client[] = [
  { name: 'rxdisco', script: 'eureka-rxdisco-child.ts' },
  { name: 'eureka-js-client (delta)', script: 'eureka-js-client-child.ts', delta: true },
  { name: 'eureka-js-client (default: full)', script: 'eureka-js-client-child.ts', delta: false },
  { name: 'bare GET + JSON.parse (floor)', script: 'eureka-floor-child.ts', floor: true },
  { name: 'idle child (baseline)', script: 'eureka-idle-child.ts', baseline: true },
];

interface Child {
  readonly client: Client;
  readonly proc: ChildProcess;
  readonly seen: Map<string, number>;
  readonly stderr: string[];
  /** Resolves with the next message of that type. */
  next(type: string, timeoutMs: number): Promise<Record<string, unknown>>;
  send(command: string): void;
  stop(): Promise<void>;
}

const startChild = (client: Client, config: ChildConfig): Child => {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', join(HERE, 'peers', client.script), JSON.stringify(config)],
    { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const seen = new Map<string, number>();
  const stderr: string[] = [];
  const messages: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(line) as Record<string, unknown>;
    } catch {
      stderr.push(line);
      return;
    }
    if (m.type === 'seen') seen.set(m.id as string, m.at as number);
    else messages.push(m);
    for (const w of waiters.splice(0)) w();
  });
  proc.stderr!.on('data', (c: Buffer) => stderr.push(c.toString('utf8')));
  let exited = proc.exitCode !== null;
  const exit = new Promise<void>((r) =>
    proc.once('exit', () => {
      exited = true;
      r();
      for (const w of waiters.splice(0)) w();
    }),
  );
  const next = async (type: string, timeoutMs: number): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = messages.findIndex((m) => m.type === type);
      if (i >= 0) return messages.splice(i, 1)[0]!;
      if (exited || Date.now() > deadline)
        throw new Error(
          `${client.name}: no '${type}' message (${exited ? 'exited' : 'timed out'})\n${stderr.join('').slice(-3000)}`,
        );
      await new Promise<void>((r) => {
        waiters.push(r);
        setTimeout(r, 100);
      });
    }
  };
  return {
    client,
    proc,
    seen,
    stderr,
    next,
    send: (command) => {
      if (!exited) proc.stdin!.write(`${command}\n`);
    },
    stop: async () => {
      if (exited) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exit;
      clearTimeout(timer);
    },
  };
};

const quantile = (xs: readonly number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
};
const ms = (n: number): string => `${n.toFixed(0)} ms`;
const sleep = (t: number): Promise<void> => new Promise((r) => setTimeout(r, t));

export async function run(): Promise<void> {
  const started = Date.now();
  // the same server tuning as eureka-refresh.bench.ts, scaled to a 1 s
  // interval: a delta repeats the changes of the last 6 intervals
  const server = await startEureka({
    properties: {
      'eureka.server.retention-time-in-m-s-in-delta-queue': INTERVAL * 6,
      'eureka.server.delta-retention-timer-interval-in-ms': INTERVAL,
      'eureka.server.response-cache-auto-expiration-in-seconds': 1,
    },
  });
  const children: Child[] = [];
  try {
    const services = Array.from({ length: APPS }, (_, a) => `bench-${a}`);
    await fillRegistry(server.base, services, PER_APP);

    const config = {
      url: server.url,
      base: server.base,
      interval: INTERVAL,
      apps: [...services, PROBE],
      probe: PROBE,
    };
    for (const client of CLIENTS)
      children.push(
        startChild(
          client,
          client.delta === undefined ? config : { ...config, delta: client.delta },
        ),
      );
    await Promise.all(children.map((c) => c.next('ready', 30_000)));
    // one interval for every client to be in its steady polling
    await sleep(INTERVAL);
    for (const c of children) c.send('mark');
    await Promise.all(children.map((c) => c.next('marked', 5000)));

    // registrations spread over the poll phase (see the top of this file)
    const registered = new Map<string, number>();
    const spacing = INTERVAL * GOLDEN;
    const t0 = now();
    for (let n = 0; n < PROBES; n++) {
      const wait = t0 + n * spacing - now();
      if (wait > 0) await sleep(wait);
      const id = `${PROBE}-${n}`;
      // distinct host:port: eureka-js-client deduplicates instances by host and port
      await postInstance(
        server.base,
        PROBE.toUpperCase(),
        rawInstanceInfo({ service: PROBE, id, host: '127.0.0.1', port: 20_000 + n }),
      );
      registered.set(id, now());
    }
    const all = (): boolean =>
      children.every(
        (c) => c.client.baseline === true || c.client.floor === true || c.seen.size >= PROBES,
      );
    const deadline = now() + 4 * INTERVAL;
    while (!all() && now() < deadline) await sleep(20);

    for (const c of children) c.send('stop');
    const results = (await Promise.all(
      children.map((c) => c.next('result', 10_000)),
    )) as unknown as ChildResult[];

    console.log(
      `instances ${APPS * PER_APP} + ${PROBES} probes, interval ${INTERVAL} ms for every client, one registration every ${spacing.toFixed(0)} ms, ${CLIENTS.length} children at once, ${process.platform} ${process.arch}, Node ${process.version}`,
    );
    const idleIndex = children.findIndex((c) => c.client.baseline === true);
    const idle = results[idleIndex]!;
    /** CPU ms of the idle child per ms of wall time. */
    const idleRate = (idle.userMs + idle.systemMs) / idle.wallMs;
    const floorName = CLIENTS.find((c) => c.floor === true)!.name;
    const figures = children.flatMap((c, k) => {
      if (k === idleIndex) return [];
      const delays = [...registered].flatMap(([id, at]) => {
        const seenAt = c.seen.get(id);
        return seenAt === undefined ? [] : [seenAt - at];
      });
      const r = results[k]!;
      const refreshes = r.fulls + r.deltas;
      const cpu = (r.userMs + r.systemMs) / Math.max(1, refreshes);
      const net = (r.userMs + r.systemMs - idleRate * r.wallMs) / Math.max(1, refreshes);
      return [
        {
          name: c.client.name,
          missed: PROBES - delays.length,
          median: quantile(delays, 0.5),
          p90: quantile(delays, 0.9),
          mean: delays.reduce((a, b) => a + b, 0) / Math.max(1, delays.length),
          cpu,
          net,
          r,
          refreshes,
        },
      ];
    });
    console.log('propagation (registration -> held by the client):');
    for (const f of figures.filter((f) => f.name !== floorName))
      console.log(
        `  ${f.name.padEnd(34)} median ${ms(f.median).padStart(7)}  p90 ${ms(f.p90).padStart(7)}  mean ${ms(f.mean).padStart(7)}  (poll period ${f.r.periodMs.toFixed(1)} ms)${f.missed > 0 ? `  (${f.missed} of ${PROBES} never seen)` : ''}`,
      );
    console.log('CPU per refresh (whole child process: HTTP + parse + apply + views):');
    for (const f of figures)
      console.log(
        `  ${f.name.padEnd(34)} ${f.cpu.toFixed(2).padStart(6)} ms, ${f.net.toFixed(2).padStart(6)} ms above the idle child  (${(f.r.userMs + f.r.systemMs).toFixed(0)} ms, user ${f.r.userMs.toFixed(0)} + system ${f.r.systemMs.toFixed(0)}, over ${f.refreshes} refreshes: ${f.r.fulls} full, ${f.r.deltas} delta, in ${(f.r.wallMs / 1000).toFixed(1)} s)`,
      );
    console.log(
      `  ${'idle child (baseline)'.padEnd(34)} ${((idle.userMs + idle.systemMs) / (idle.wallMs / INTERVAL)).toFixed(2).padStart(6)} ms per interval with no client (Node + tsx loader)`,
    );
    const [rx, peer, full, floor] = figures as [
      (typeof figures)[0],
      (typeof figures)[0],
      (typeof figures)[0],
      (typeof figures)[0],
    ];
    const propRatio = rx.median / peer.median;
    console.log(
      `propagation median rxdisco / eureka-js-client (delta) ${propRatio.toFixed(2)}  ${rx.median <= peer.median * 1.1 && rx.missed === 0 ? 'PASS' : 'MISS'} (target <= 1.0, 10 % noise allowed); vs default config ${(rx.median / full.median).toFixed(2)}`,
    );
    const cpuRatio = rx.cpu / peer.cpu;
    console.log(
      `CPU per refresh rxdisco / eureka-js-client (delta)    ${cpuRatio.toFixed(2)}x  ${cpuRatio <= 0.5 ? 'PASS' : 'MISS'} (target <= 0.5x; above the idle child ${(rx.net / peer.net).toFixed(2)}x); vs default config ${(rx.cpu / full.cpu).toFixed(2)}x (above idle ${(rx.net / full.net).toFixed(2)}x)`,
    );
    console.log(
      `CPU per refresh above the floor (bare GET + JSON.parse): rxdisco ${(rx.cpu - floor.cpu).toFixed(2)} ms, eureka-js-client (delta) ${(peer.cpu - floor.cpu).toFixed(2)} ms; the target 0.5x would need ${(0.5 * peer.cpu).toFixed(2)} ms in all, ${(floor.cpu / peer.cpu).toFixed(2)}x being the floor alone (info)`,
    );
    console.log(`(bench wall time ${((Date.now() - started) / 1000).toFixed(0)} s)`);
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await server.stop();
  }
}
