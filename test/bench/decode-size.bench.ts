/**
 * What decoding a big registry answer costs, per backend, against a bare
 * `JSON.parse` of the same bytes in the same run (issue 17, item 4): for
 * 10,000 and 100,000 instances, the decode time (wall, slices included),
 * the longest event-loop block, the peak RSS growth against the answer's
 * size (in a child process that reads the answer from a file, settles,
 * then decodes it once: `maxRSS` after, less the RSS before), and the heap
 * retained per instance by what the backend keeps (Consul: the instances
 * and the answer's fingerprint; Eureka: the registry copy, which holds the
 * decoded instances; etcd: the instances).
 *
 * The longest block is measured by a `setImmediate` probe spinning during
 * the decode (see `blockOf`), beside the bare `JSON.parse` of the same
 * bytes (one block: what parsing the answer whole costs). Consul's entries
 * are parsed one by one, in slices; Eureka's envelope is parsed in one go
 * (each instance found by a scan and left as text, parsed in its slice):
 * that scan is Eureka's longest block; etcd values are decoded by the
 * source in one go (not sliced). Targets: block < 50 ms for 10,000
 * instances; peak RSS growth <= 3x the answer; retained <= 400 bytes per
 * instance. Prints PASS/MISS; asserts nothing.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { asyncScheduler } from 'rxjs';
import { decodeHealthSliced } from '../../src/backends/consul/codecs.js';
import { decodeEntry } from '../../src/backends/etcd/codecs.js';
import { decodeApplications } from '../../src/backends/eureka/codecs.js';
import { parsePayload } from '../../src/backends/eureka/payload.js';
import { fullCopySliced } from '../../src/backends/eureka/registry-copy.js';
import { Interner } from '../../src/core/intern.js';
import { gc, median, settledHeap, verdict } from './heap.js';

const SIZES = [10_000, 100_000] as const;
const RUNS = 3;

const consulAnswer = (n: number): string =>
  JSON.stringify(
    Array.from({ length: n }, (_, i) => ({
      Node: {
        ID: `node-${i % 500}`,
        Node: `node-${i % 500}`,
        Address: `10.1.${(i >> 8) & 255}.${i & 255}`,
        Datacenter: 'dc1',
        TaggedAddresses: { lan: '10.1.0.1', wan: '10.1.0.1' },
        Meta: { 'consul-network-segment': '' },
        CreateIndex: 11,
        ModifyIndex: 17,
      },
      Service: {
        ID: `web-${i}`,
        Service: 'web',
        Tags: ['v2', 'primary'],
        Address: `10.0.${(i >> 8) & 255}.${i & 255}`,
        Meta: { version: '2.1.0', zone: `eu-1${'abc'[i % 3]}` },
        Port: 8080,
        Weights: { Passing: 1, Warning: 1 },
        EnableTagOverride: false,
        CreateIndex: 18,
        ModifyIndex: 18,
      },
      Checks: [
        {
          Node: `node-${i % 500}`,
          CheckID: 'serfHealth',
          Name: 'Serf Health Status',
          Status: 'passing',
          Output: 'Agent alive and reachable',
          ServiceID: '',
          ServiceName: '',
        },
        {
          Node: `node-${i % 500}`,
          CheckID: `service:web-${i}`,
          Name: "Service 'web' check",
          Status: 'passing',
          Output: '',
          ServiceID: `web-${i}`,
          ServiceName: 'web',
        },
      ],
    })),
  );

const eurekaAnswer = (n: number): string => {
  const perApp = 100;
  return JSON.stringify({
    applications: {
      versions__delta: '1',
      apps__hashcode: `UP_${n}_`,
      application: Array.from({ length: n / perApp }, (_, a) => ({
        name: `APP-${a}`,
        instance: Array.from({ length: perApp }, (_, j) => {
          const i = a * perApp + j;
          const host = `10.0.${(i >> 8) & 255}.${i & 255}`;
          return {
            instanceId: `app-${a}-${j}`,
            hostName: host,
            app: `APP-${a}`,
            ipAddr: host,
            status: 'UP',
            overriddenStatus: 'UNKNOWN',
            port: { $: 8080, '@enabled': 'true' },
            securePort: { $: 443, '@enabled': 'false' },
            countryId: 1,
            dataCenterInfo: {
              '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo',
              name: 'MyOwn',
            },
            leaseInfo: {
              renewalIntervalInSecs: 30,
              durationInSecs: 90,
              registrationTimestamp: 1795516277415,
              lastRenewalTimestamp: 1795516277415,
              evictionTimestamp: 0,
              serviceUpTimestamp: 1795516277415,
            },
            metadata: { version: '1.0', zone: 'eu-1a' },
            homePageUrl: `http://${host}:8080/`,
            statusPageUrl: `http://${host}:8080/actuator/info`,
            healthCheckUrl: `http://${host}:8080/actuator/health`,
            vipAddress: `app-${a}`,
            secureVipAddress: `app-${a}`,
            isCoordinatingDiscoveryServer: 'false',
            lastUpdatedTimestamp: '1795516277415',
            lastDirtyTimestamp: '1795516277415',
            actionType: 'ADDED',
          };
        }),
      })),
    },
  });
};

const etcdValues = (n: number): string[] =>
  Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      id: `hello-${i}`,
      service: 'hello',
      host: `10.0.${(i >> 8) & 255}.${i & 255}`,
      port: 8080,
      secure: false,
      status: 'UP',
      weight: 1,
      zone: 'eu-1a',
      tags: ['v2'],
      metadata: { version: '1.0' },
    }),
  );

interface Case {
  readonly name: string;
  readonly bytes: number;
  /** The bare JSON.parse of the same bytes. */
  readonly parse: () => unknown;
  /** What the backend does with the answer; resolves to what it keeps. */
  readonly decode: () => Promise<unknown>;
}

type Kind = 'consul' | 'eureka' | 'etcd';
const KINDS: readonly Kind[] = (process.env.DECODE_KINDS?.split(',') as Kind[] | undefined) ?? [
  'consul',
  'eureka',
  'etcd',
];

/** The answer of `kind` as text (etcd: one value per line, each read on its own). */
const answer = (kind: Kind, n: number): string =>
  kind === 'consul'
    ? consulAnswer(n)
    : kind === 'eureka'
      ? eurekaAnswer(n)
      : etcdValues(n).join('\n');

const caseOf = (kind: Kind, text: string): Case => {
  if (kind === 'consul') {
    return {
      name: 'consul health',
      bytes: Buffer.byteLength(text),
      parse: () => JSON.parse(text),
      decode: async () => {
        const d = await decodeHealthSliced(text, 'web', 'consul://bench', asyncScheduler);
        return [d.instances, d.fingerprint];
      },
    };
  }
  if (kind === 'eureka') {
    return {
      name: 'eureka /apps',
      bytes: Buffer.byteLength(text),
      parse: () => JSON.parse(text),
      decode: async () => {
        // As the poller does: the envelope parsed (each instance found by a
        // scan, left as text: one block), then the copy built in slices.
        const context = { registry: 'eureka://bench' };
        const d = decodeApplications(parsePayload(text, 'GET /apps'), '/apps', context);
        if (!d.ok) throw d.error;
        return fullCopySliced(d.value, context, asyncScheduler);
      },
    };
  }
  const values = text.split('\n');
  return {
    name: 'etcd values',
    bytes: Buffer.byteLength(text) - values.length + 1,
    parse: () => values.map((v) => JSON.parse(v)),
    decode: async () => {
      // As the source does: one interner per session.
      const intern = new Interner();
      return values.map((v, i) =>
        decodeEntry(
          { key: `/services/hello/hello-${i}`, service: 'hello', id: `hello-${i}` },
          v,
          'etcd://bench',
          intern,
        ),
      );
    },
  };
};

/** In a child: reads the answer, settles, decodes once, prints the peak RSS growth. */
const child = async (kind: Kind, file: string): Promise<void> => {
  const c = caseOf(kind, readFileSync(file, 'utf8'));
  settledHeap();
  const rss = process.memoryUsage().rss;
  await c.decode();
  process.stdout.write(String(Math.max(0, process.resourceUsage().maxRSS * 1024 - rss)));
};

const peakOf = (kind: Kind, file: string): number =>
  Number(
    execFileSync(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), '--child', kind, file],
      { encoding: 'utf8' },
    ),
  );

const timeOf = (f: () => unknown): number => {
  gc();
  const t0 = performance.now();
  f();
  return performance.now() - t0;
};

/**
 * Runs `f` and measures the longest stretch the event loop could not run:
 * the largest gap between two turns of a `setImmediate` probe that spins
 * meanwhile, in wall time and in the process's CPU time over the same
 * gap. On a shared machine the wall gap also counts time the process was
 * not scheduled at all, and the CPU time counts V8's helper threads; the
 * block is taken as the smaller of the two. Resolves to the wall time of
 * `f`, and the longest gap in both measures.
 */
const blockOf = async (
  f: () => Promise<unknown>,
): Promise<{ wall: number; block: number; blockWall: number; blockCpu: number }> => {
  gc();
  let blockWall = 0;
  let blockCpu = 0;
  let block = 0;
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  let spinning = true;
  const probe = (): void => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    const wallGap = now - last;
    const cpuGap = (cpu.user + cpu.system) / 1000;
    blockWall = Math.max(blockWall, wallGap);
    blockCpu = Math.max(blockCpu, cpuGap);
    block = Math.max(block, Math.min(wallGap, cpuGap));
    last = now;
    lastCpu = process.cpuUsage();
    if (spinning) setImmediate(probe);
  };
  const t0 = performance.now();
  last = t0;
  lastCpu = process.cpuUsage();
  setImmediate(probe);
  await f();
  const wall = performance.now() - t0;
  probe(); // the stretch from the last turn to the end counts too
  spinning = false;
  return { wall, block, blockWall, blockCpu };
};

/** What a decode kept, held while its heap is measured. */
export let sink: unknown;

/**
 * The settled heap while `sink` holds what `decode` resolved to. A function
 * of its own: a value awaited in a long-lived async function may stay in
 * its frame after the variable is cleared.
 */
const heldBy = async (decode: () => Promise<unknown>): Promise<number> => {
  sink = await decode();
  await turn();
  return settledHeap();
};

/** One turn of the event loop: the timers of the last slice are cleared. */
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

export async function run(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'rxdisco-decode-'));
  try {
    for (const n of SIZES) {
      for (const kind of KINDS) {
        const file = join(dir, `${kind}-${n}`);
        writeFileSync(file, answer(kind, n));
        const c = caseOf(kind, readFileSync(file, 'utf8'));
        const parse = median(Array.from({ length: RUNS }, () => timeOf(c.parse)));
        // The first decode runs cold (code not optimised yet): shown, not the figure.
        const cold = await blockOf(c.decode);
        const runs: Awaited<ReturnType<typeof blockOf>>[] = [];
        for (let r = 0; r < RUNS; r++) runs.push(await blockOf(c.decode));
        const decode = median(runs.map((r) => r.wall));
        const block = median(runs.map((r) => r.block));
        const blockWall = median(runs.map((r) => r.blockWall));
        const blockCpu = median(runs.map((r) => r.blockCpu));
        // Retained = the heap with the result held less the heap once it is
        // released (see heldBy).
        // The largest of three: a reference the runtime keeps for a while
        // (the last timer of a decode) can hide what one measure frees, never add.
        let retained = Number.NEGATIVE_INFINITY;
        for (let r = 0; r < RUNS; r++) {
          const held = await heldBy(c.decode);
          sink = undefined;
          await turn();
          retained = Math.max(retained, (held - settledHeap()) / n);
        }
        const peak = peakOf(kind, file);
        const target = n === 10_000 ? `${verdict(block < 50)} (target < 50 ms)` : '(measured)';
        console.log(
          `${c.name.padEnd(14)} ${String(n).padStart(7)} instances, ${mb(c.bytes)}: decode ${decode.toFixed(0)} ms = ${(decode / parse).toFixed(2)}x JSON.parse (${parse.toFixed(0)} ms, one block); longest block ${block.toFixed(1)} ms = ${(block / parse).toFixed(2)}x JSON.parse ${target} (largest gap ${blockWall.toFixed(0)} ms wall, ${blockCpu.toFixed(0)} ms CPU; cold, first decode: ${cold.block.toFixed(0)} ms); peak RSS growth ${mb(peak)} = ${(peak / c.bytes).toFixed(2)}x the answer ${verdict(peak <= 3 * c.bytes)} (<= 3x); retained ${retained.toFixed(0)} B/instance ${verdict(retained <= 400)} (<= 400)`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const argv = process.argv;
if (argv[2] === '--child') await child(argv[3] as Kind, argv[4]!);
else if (import.meta.url === `file://${argv[1]}`) await run();
