/**
 * Bytes and CPU per registry refresh of the Eureka backend, delta against
 * full fetch, with 1,000 registered instances (20 applications of 50) and
 * one change per poll interval. Two parts: the real backend polling our
 * Spring Cloud Netflix server (bytes on the wire per refresh, CPU of the
 * whole process per refresh), and the decode + apply work alone on the
 * same payloads (CPU per refresh, no HTTP). Target: a delta is at least 10x
 * fewer bytes than a full fetch. Prints figures with PASS/MISS; asserts nothing.
 */
import { performance } from 'node:perf_hooks';
import { filter, firstValueFrom, of } from 'rxjs';
import { decodeApplications } from '../../src/backends/eureka/codecs.js';
import { eurekaDiscovery, type RefreshReport } from '../../src/backends/eureka/index.js';
import { applyDelta, copyHashcode, fullCopy } from '../../src/backends/eureka/registry-copy.js';
import { eurekaSource } from '../../src/backends/eureka/source.js';
import { postInstance, rawInstanceInfo } from '../integration/eureka/harness.js';
import { rawRequest, startEureka } from '../servers/eureka.js';
import { fillRegistry } from './eureka-fleet.js';

const APPS = 20;
const PER_APP = 50;
const INTERVAL = 250;
const REFRESHES = 40;

const kb = (n: number): string => `${(n / 1024).toFixed(1)} KiB`;
const mean = (xs: readonly number[]): number =>
  xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

export async function run(): Promise<void> {
  // Eureka keeps every change of the last 3 minutes in each delta; with the
  // default 30 s interval a delta repeats ~6 intervals of changes. Scaled
  // down to this bench's interval: keep 6 intervals of changes.
  const server = await startEureka({
    properties: {
      'eureka.server.retention-time-in-m-s-in-delta-queue': INTERVAL * 6,
      'eureka.server.delta-retention-timer-interval-in-ms': INTERVAL,
      // without changes, a cached delta payload would otherwise live 180 s
      'eureka.server.response-cache-auto-expiration-in-seconds': 1,
    },
  });
  const registry = eurekaDiscovery(server.url, {
    intervalMs: INTERVAL,
    onProblem: () => undefined,
  });
  try {
    const services = Array.from({ length: APPS }, (_, a) => `bench-${a}`);
    await fillRegistry(server.base, services, PER_APP);

    // 1. the real backend: one change per interval, bytes and process CPU per refresh
    const reports: (RefreshReport & { cpu: number })[] = [];
    let lastCpu = process.cpuUsage();
    const record = (r: RefreshReport): void => {
      const now = process.cpuUsage();
      reports.push({ ...r, cpu: (now.user - lastCpu.user + now.system - lastCpu.system) / 1000 });
      lastCpu = now;
    };
    const tuned = eurekaDiscovery(server.url, {
      intervalMs: INTERVAL,
      onRefresh: record,
      onProblem: () => undefined,
    });
    const subs = services.map((s) => tuned.instances$(s).subscribe());
    await firstValueFrom(tuned.instances$(services[0]!).pipe(filter((s) => s.size === PER_APP)));
    let port = 30_000;
    for (let n = 0; n < REFRESHES; n++) {
      const service = services[n % APPS]!;
      const id = `${service}-${n % PER_APP}`;
      const p = ++port;
      await postInstance(
        server.base,
        service.toUpperCase(),
        rawInstanceInfo({ service, id, host: '127.0.0.1', port: p }),
      );
      await firstValueFrom(tuned.instances$(service).pipe(filter((s) => s.get(id)?.port === p)));
    }
    for (const s of subs) s.unsubscribe();
    await tuned.close();
    const fulls = reports.filter((r) => r.kind === 'full');
    const deltas = reports.filter((r) => r.kind === 'delta');
    const fullBytes = mean(fulls.map((r) => r.bytes));
    const deltaBytes = mean(deltas.map((r) => r.bytes));
    const ratio = fullBytes / deltaBytes;
    console.log(
      `instances ${APPS * PER_APP}, interval ${INTERVAL} ms, ${deltas.length} deltas, ${fulls.length} full fetches, ${deltas.filter((r) => r.mismatch).length} hashcode mismatches`,
    );
    console.log(`bytes per full fetch   ${kb(fullBytes)}`);
    console.log(
      `bytes per delta        ${kb(deltaBytes)} (max ${kb(Math.max(...deltas.map((r) => r.bytes)))}; each delta repeats the changes of the last 6 intervals, as Eureka's 3 min retention does at 30 s)`,
    );
    console.log(
      `delta vs full, bytes   ${ratio.toFixed(1)}x fewer  ${ratio >= 10 ? 'PASS' : 'MISS'} (target >= 10x)`,
    );
    console.log(
      `process CPU per refresh (HTTP + decode + apply): full ${mean(fulls.map((r) => r.cpu)).toFixed(2)} ms, delta ${mean(deltas.map((r) => r.cpu)).toFixed(2)} ms`,
    );

    // 2. decode + apply alone, on payloads taken now
    const fullText = (await rawRequest('GET', `${server.base}/apps`)).text;
    await postInstance(
      server.base,
      'BENCH-0',
      rawInstanceInfo({ service: 'bench-0', id: 'bench-0-0', host: '127.0.0.1', port: 40_000 }),
    );
    const deltaText = (await rawRequest('GET', `${server.base}/apps/delta`)).text;
    const ctx = { registry: server.url };
    const timeIt = (rounds: number, fn: () => void): number => {
      for (let i = 0; i < 5; i++) fn();
      const start = performance.now();
      for (let i = 0; i < rounds; i++) fn();
      return (performance.now() - start) / rounds;
    };
    const decodeOrThrow = (text: string) => {
      const d = decodeApplications(JSON.parse(text), '/apps', ctx);
      if (!d.ok) throw d.error;
      return d.value;
    };
    const base = fullCopy(decodeOrThrow(fullText), ctx);
    const views = async (copy: ReturnType<typeof fullCopy>) => {
      for (const s of services)
        await firstValueFrom(eurekaSource(of(copy), s, server.url)(undefined));
    };
    const fullMs = timeIt(20, () => {
      const c = fullCopy(decodeOrThrow(fullText), ctx);
      copyHashcode(c);
    });
    const deltaMs = timeIt(200, () => {
      const c = applyDelta(base, decodeOrThrow(deltaText), ctx);
      copyHashcode(c);
    });
    const t0 = performance.now();
    await views(base);
    const viewMs = performance.now() - t0;
    console.log(
      `decode + apply + hashcode: full ${fullMs.toFixed(2)} ms, delta ${deltaMs.toFixed(3)} ms (${(fullMs / deltaMs).toFixed(0)}x); decoding all ${APPS} service views once ${viewMs.toFixed(1)} ms`,
    );
  } finally {
    await registry.close();
    await server.stop();
  }
}
