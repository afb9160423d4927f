/**
 * 2,000 services watched from one process on one Consul agent, rxdisco
 * (per-service watches past the first 45 are views of the catalog: two
 * blocking queries and reads of the services that change, at most 64
 * connections) against today's per-service blocking queries (one per
 * service, `catalogViewsPast: Infinity`) in the same run, on the same
 * agent (its connection limit raised so that the per-service run can hold
 * 2,000). Counted by a TCP proxy in front of the agent: connections,
 * requests and bytes. Prints figures with PASS/MISS; asserts nothing.
 *
 * - time from subscribing to every fresh set (target 10 s);
 * - connections held (target: at most 64);
 * - a change to one service (an instance with a passing check registered,
 *   then deregistered; one change every 150 ms) seen by its watch: p50 ≤
 *   100 ms, p99 ≤ 1 s, from the write sent; and the same for instances
 *   without checks (each costs a full pass);
 * - requests and bytes per change (beyond the idle traffic of the same time);
 * - the idle request rate, against about one request per service per `wait`.
 *
 * `SCALE_SERVICES=500` sizes the run.
 */
import { performance } from 'node:perf_hooks';
import type { Subscription } from 'rxjs';
import { consulDiscovery } from '../../src/backends/consul/index.js';
import type { Discovery } from '../../src/core/discovery.js';
import type { InstanceSet } from '../../src/core/instance-set.js';
import { CountingProxy, type ProxyCounts } from '../integration/consul/counting-proxy.js';
import { deregisterRaw, registerRaw } from '../integration/consul/harness.js';
import { registerServices } from '../integration/consul/scale-watch.js';
import { type ConsulAgent, startConsul } from '../servers/consul.js';

const SERVICES = Number(process.env.SCALE_SERVICES ?? 2000);
const CHANGES = 60;
const CHECKLESS_CHANGES = 6;
const WAIT_MS = 10_000;
const IDLE_WINDOW_MS = 30_000;
const SPACING_MS = 150;

const percentile = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};
const ms = (x: number): string => `${x.toFixed(1)} ms`;
const verdict = (ok: boolean): string => (ok ? 'PASS' : 'MISS');
const delta = (a: ProxyCounts, b: ProxyCounts) => ({
  requests: b.requests - a.requests,
  bytes: b.bytesIn - a.bytesIn,
});
const until = async (ok: () => boolean, timeoutMs: number, what: string): Promise<void> => {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
};

interface Run {
  readonly firstSetsMs: number;
  readonly maxOpen: number;
  readonly openIdle: number;
  readonly changeMs: number[];
  readonly checklessMs: number[];
  /** Beyond the idle traffic; `ownReads`: reads of the changed service itself. */
  readonly perChange: { requests: number; bytes: number; ownReads: number };
  readonly idleRps: number;
  readonly tooMany: number;
}

/** Watches every service through a fresh proxy and discovery, and measures. */
const measure = async (
  agent: ConsulAgent,
  names: readonly string[],
  options: { catalogViewsPast?: number; maxConnections?: number },
): Promise<Run> => {
  const proxy = await CountingProxy.start(agent.httpPort);
  const d: Discovery = consulDiscovery(`consul://${proxy.endpoint}`, {
    onProblem: () => undefined,
    waitMs: WAIT_MS,
    ...options,
  });
  const latest = new Map<string, InstanceSet>();
  let onSet: ((name: string, set: InstanceSet) => void) | undefined;
  const subs: Subscription[] = [];
  try {
    const t0 = performance.now();
    for (const name of names) {
      subs.push(
        d.instances$(name).subscribe((s) => {
          latest.set(name, s);
          onSet?.(name, s);
        }),
      );
    }
    const fresh = (): boolean =>
      names.every((n) => {
        const s = latest.get(n);
        return s !== undefined && !s.stale && s.size === 1;
      });
    await until(fresh, 300_000, 'every fresh set');
    const firstSetsMs = performance.now() - t0;

    /** Time from the write to the watch of `name` showing `done(set)`. */
    const timed = async (
      name: string,
      write: () => Promise<void>,
      done: (s: InstanceSet) => boolean,
    ): Promise<number> => {
      let seenAt: number | undefined;
      onSet = (n, s) => {
        if (n === name && seenAt === undefined && done(s)) seenAt = performance.now();
      };
      // One change at a time, apart: the latency of a change, not of a churn.
      await new Promise((r) => setTimeout(r, SPACING_MS));
      const start = performance.now();
      await write();
      await until(() => seenAt !== undefined, 30_000, `the change of ${name}`);
      onSet = undefined;
      return seenAt! - start;
    };
    const changeMs: number[] = [];
    const changed = new Set<string>();
    const pathsBefore = new Map(proxy.paths);
    const before = proxy.counts();
    const changesStart = performance.now();
    for (let k = 0; k < CHANGES; k++) {
      const name = names[(Math.floor(k / 2) * 7919) % names.length]!;
      const id = `${name}-x`;
      const add = k % 2 === 0;
      changed.add(name);
      changeMs.push(
        await timed(
          name,
          () =>
            add
              ? registerRaw(agent, {
                  id,
                  service: name,
                  host: '127.0.0.1',
                  port: 21_000,
                  check: { TTL: '10m', Status: 'passing' },
                })
              : deregisterRaw(agent, id),
          (s) => (s.get(id) !== undefined) === add,
        ),
      );
    }
    const perChange = delta(before, proxy.counts());
    let ownReads = 0;
    for (const name of changed) {
      const path = `/v1/health/service/${name}`;
      ownReads += (proxy.paths.get(path) ?? 0) - (pathsBefore.get(path) ?? 0);
    }
    const changesS = (performance.now() - changesStart) / 1000;
    const checklessMs: number[] = [];
    for (let k = 0; k < CHECKLESS_CHANGES; k++) {
      const name = names[(Math.floor(k / 2) * 104_729 + 3) % names.length]!;
      const id = `${name}-y`;
      const add = k % 2 === 0;
      checklessMs.push(
        await timed(
          name,
          () =>
            add
              ? registerRaw(agent, { id, service: name, host: '127.0.0.1', port: 21_001 })
              : deregisterRaw(agent, id),
          (s) => (s.get(id) !== undefined) === add,
        ),
      );
    }
    // idle: nothing changes for a while (the full passes the changes called
    // for are over: one may be put off up to waitMs)
    await new Promise((r) => setTimeout(r, WAIT_MS + 3000));
    const idleStart = proxy.counts();
    await new Promise((r) => setTimeout(r, IDLE_WINDOW_MS));
    const idleEnd = proxy.counts();
    const idle = delta(idleStart, idleEnd);
    const idleS = IDLE_WINDOW_MS / 1000;
    // What the changes cost beyond the idle traffic of the same time.
    const extra = (x: number, idleX: number): number =>
      Math.max(0, x - (idleX / idleS) * changesS) / CHANGES;
    return {
      firstSetsMs,
      maxOpen: idleEnd.maxOpen,
      openIdle: idleEnd.open,
      changeMs,
      checklessMs,
      perChange: {
        requests: extra(perChange.requests, idle.requests),
        bytes: extra(perChange.bytes, idle.bytes),
        ownReads: ownReads / CHANGES,
      },
      idleRps: idle.requests / idleS,
      tooMany: idleEnd.tooMany,
    };
  } finally {
    for (const s of subs) s.unsubscribe();
    await d.close();
    await proxy.close();
  }
};

export async function run(): Promise<void> {
  // Raised so that today's per-service run can hold one connection per service.
  const agent = await startConsul({
    hcl: [`limits { http_max_conns_per_client = ${SERVICES * 3} }`],
  });
  try {
    const names = await registerServices(agent, 'bench', SERVICES);
    const rx = await measure(agent, names, {});
    const today = await measure(agent, names, {
      catalogViewsPast: Number.POSITIVE_INFINITY,
      maxConnections: 10_000,
    });
    const line = (label: string, r: Run): void => {
      console.log(
        `  ${label}: every fresh set ${ms(r.firstSetsMs)}, connections at most ${r.maxOpen} (${r.openIdle} open idle), 429s ${r.tooMany}`,
      );
      console.log(
        `    change (instance with a check): p50 ${ms(percentile(r.changeMs, 50))}  p99 ${ms(percentile(r.changeMs, 99))}; without checks: p50 ${ms(percentile(r.checklessMs, 50))}  max ${ms(Math.max(...r.checklessMs))}`,
      );
      console.log(
        `    per change, beyond the idle traffic: ${r.perChange.requests.toFixed(1)} requests, ${(r.perChange.bytes / 1024).toFixed(1)} KB (${r.perChange.ownReads.toFixed(2)} reads of the changed service itself); idle ${r.idleRps.toFixed(2)} req/s`,
      );
    };
    console.log(
      `consul scale: ${SERVICES} services watched from one process (wait ${WAIT_MS / 1000} s; ${CHANGES} changes with checks, ${CHECKLESS_CHANGES} without)`,
    );
    line('rxdisco (catalog views)', rx);
    line('per-service blocking (today)', today);
    const perWait = SERVICES / (WAIT_MS / 1000);
    console.log(
      `  time to every fresh set ${ms(rx.firstSetsMs)}  target: <= 10 s  ${verdict(rx.firstSetsMs <= 10_000)}`,
    );
    console.log(
      `  connections held ${rx.maxOpen} vs ${today.maxOpen} per-service (${(today.maxOpen / rx.maxOpen).toFixed(1)}x fewer)  target: <= 64, no 429  ${verdict(rx.maxOpen <= 64 && rx.tooMany === 0)}`,
    );
    const p50 = percentile(rx.changeMs, 50);
    const p99 = percentile(rx.changeMs, 99);
    console.log(
      `  a change seen p50 ${ms(p50)} (${(p50 / percentile(today.changeMs, 50)).toFixed(2)}x per-service)  target: <= 100 ms  ${verdict(p50 <= 100)}`,
    );
    console.log(
      `  a change seen p99 ${ms(p99)} (${(p99 / percentile(today.changeMs, 99)).toFixed(2)}x per-service)  target: <= 1 s  ${verdict(p99 <= 1000)}`,
    );
    console.log(
      `  idle ${rx.idleRps.toFixed(2)} req/s vs per-service ${today.idleRps.toFixed(2)} req/s (one per service per wait: ${perWait.toFixed(1)}); ratio ${(rx.idleRps / today.idleRps).toFixed(3)}  target: <= 1.1x per-service  ${verdict(rx.idleRps <= today.idleRps * 1.1)}`,
    );
    // Per-service, a change costs the changed service's own answer (its
    // blocking query returns): one read of it, whose size is measured here.
    const one = await agent.api('GET', `/v1/health/service/${names[0]}?passing=true`);
    const todayBytes = today.perChange.ownReads * Buffer.byteLength(one.text);
    console.log(
      `  per change: rxdisco ${rx.perChange.requests.toFixed(1)} requests, ${(rx.perChange.bytes / 1024).toFixed(1)} KB (gzip) vs per-service ${today.perChange.ownReads.toFixed(2)} requests, ${(todayBytes / 1024).toFixed(1)} KB (${(rx.perChange.bytes / todayBytes).toFixed(1)}x the bytes)`,
    );
  } finally {
    await agent.destroy();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run();
