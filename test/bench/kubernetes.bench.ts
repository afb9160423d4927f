/**
 * Propagation latency of the Kubernetes backend: an endpoint's `ready`
 * flipped in its EndpointSlice -> the emission on `instances$` that shows
 * the new status, against a bare `@kubernetes/client-node` `makeInformer`
 * on the same slices of the same real kube-apiserver, in the same run (the
 * peer). The target: rxdisco may add at most 0.3 ms at p50.
 *
 * Prints p50/p99 of each, the paired added latency and PASS/MISS. Asserts nothing.
 *
 * {@link runScale}: 500 Services x 10 endpoints in one namespace, every one
 * watched through `instances$` (views of the namespace-wide catalog): the
 * API watches of endpointslices open on the API server (its
 * `apiserver_longrunning_requests` gauge), the time until every first set
 * against one bare list of every slice (the floor: the same bytes read and
 * parsed once), heap per instance and per watched service without
 * endpoints. Targets: one watch, every first set within 3 s, at most 400 B
 * per instance and 2 KB per watched service.
 */
import { performance } from 'node:perf_hooks';
import {
  DiscoveryV1Api,
  KubeConfig,
  makeInformer,
  type V1EndpointSlice,
} from '@kubernetes/client-node';
import { filter, firstValueFrom } from 'rxjs';
import { kubernetesDiscovery } from '../../src/backends/kubernetes/index.js';
import { MemoryRegistry, memoryDiscovery } from '../../src/backends/memory/index.js';
import { toRecord } from '../../src/core/codecs.js';
import type { Discovery } from '../../src/core/discovery.js';
import { createInstance } from '../../src/core/instance.js';
import { rawKube } from '../integration/kubernetes/harness.js';
import { type KubernetesCluster, startKubernetes } from '../servers/kubernetes.js';
import { settledHeap, verdict } from './heap.js';

const CHANGES = 300;
const WARMUP = 30;

const percentile = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
const sortNum = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);
const ms = (x: number): string => `${x.toFixed(3)} ms`;

export async function run(): Promise<void> {
  const k8s = await startKubernetes();
  const ns = 'bench';
  await k8s.createNamespace(ns);
  const raw = rawKube(k8s, ns);
  await raw.service('flip');
  const slice = (ready: boolean) =>
    raw.slice('flip', 'flip-1', [{ address: '10.7.0.1', name: 'flip-0', ready }]);
  await slice(true);
  process.env.KUBECONFIG = k8s.kubeconfig;
  const kc = new KubeConfig();
  kc.loadFromFile(k8s.kubeconfig);
  const api = kc.makeApiClient(DiscoveryV1Api);
  const informer = makeInformer<V1EndpointSlice>(
    kc,
    `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
    () =>
      api.listNamespacedEndpointSlice({
        namespace: ns,
        labelSelector: 'kubernetes.io/service-name=flip',
      }),
    'kubernetes.io/service-name=flip',
  );
  let informerReady: boolean | undefined;
  let informerAt = 0;
  informer.on('update', (s) => {
    informerReady = s.endpoints?.[0]?.conditions?.ready ?? true;
    informerAt = performance.now();
  });
  await informer.start();
  const registry = kubernetesDiscovery(`k8s://${k8s.hostPort}?namespace=${ns}`, {
    onProblem: () => undefined,
  });
  let rxUp: boolean | undefined;
  let rxAt = 0;
  const set$ = registry.instances$('flip');
  const sub = set$.subscribe((s) => {
    rxUp = s.instances[0]?.status === 'UP';
    rxAt = performance.now();
  });
  try {
    await firstValueFrom(set$.pipe(filter((s) => s.size === 1)));
    const lat = { inf: [] as number[], rx: [] as number[], added: [] as number[] };
    let ready = true;
    for (let n = 0; n < WARMUP + CHANGES; n++) {
      ready = !ready;
      const t0 = performance.now();
      await k8s.api('PUT', `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices/flip-1`, {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: 'flip-1', labels: { 'kubernetes.io/service-name': 'flip' } },
        addressType: 'IPv4',
        ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
        endpoints: [
          {
            addresses: ['10.7.0.1'],
            conditions: { ready },
            targetRef: { kind: 'Pod', name: 'flip-0', namespace: ns },
          },
        ],
      });
      while (informerReady !== ready || rxUp !== ready) await new Promise((r) => setImmediate(r));
      if (n < WARMUP) continue;
      lat.inf.push(informerAt - t0);
      lat.rx.push(rxAt - t0);
      lat.added.push(rxAt - informerAt);
    }
    const inf = sortNum(lat.inf);
    const rx = sortNum(lat.rx);
    const added = sortNum(lat.added);
    const line = (name: string, xs: number[]) =>
      `  ${name.padEnd(40)} p50 ${ms(percentile(xs, 50))}  p99 ${ms(percentile(xs, 99))}`;
    console.log(
      `kubernetes propagation: endpoint ready flipped -> emission, ${CHANGES} flips (after ${WARMUP} warm-up)`,
    );
    console.log(line('bare @kubernetes/client-node makeInformer', inf));
    console.log(line('rxdisco instances$', rx));
    console.log(line('added (paired rx - informer)', added));
    const a50 = percentile(added, 50);
    console.log(
      `  added latency p50 ${ms(a50)} (target <= 0.3 ms: ${a50 <= 0.3 ? 'PASS' : 'MISS'}, ${(a50 / 0.3).toFixed(2)}x of target)`,
    );
    console.log(
      `  ratio rxdisco / informer: p50 ${(percentile(rx, 50) / percentile(inf, 50)).toFixed(3)}, p99 ${(percentile(rx, 99) / percentile(inf, 99)).toFixed(3)}`,
    );
  } finally {
    sub.unsubscribe();
    await informer.stop();
    await registry.close();
    await k8s.destroy();
  }
}

const SERVICES = 500;
const ENDPOINTS = 10;
const EMPTY = 5000;
/** POSTs in flight at once while the objects are created. */
const CONCURRENCY = 16;

/** Runs `work` over `items`, at most `limit` at a time. */
const bounded = async <T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> => {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
};

/** Open watches of endpointslices on the API server, from its metrics. */
const endpointSliceWatches = async (k8s: KubernetesCluster): Promise<number> => {
  const r = await k8s.request('GET', '/metrics');
  const text = typeof r.body === 'string' ? r.body : '';
  let n = 0;
  for (const line of text.split('\n')) {
    if (
      line.startsWith('apiserver_longrunning_requests{') &&
      line.includes('resource="endpointslices"') &&
      line.includes('verb="WATCH"')
    ) {
      n += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return n;
};

/** Subscribes every name; resolves with the ms until each has a set satisfying `ready`. */
const watchAll = async (
  d: Discovery,
  names: readonly string[],
  ready: (size: number) => boolean,
): Promise<{ subs: Array<{ unsubscribe(): void }>; firstMs: number }> => {
  let pending = names.length;
  let done!: () => void;
  const all = new Promise<void>((resolve) => {
    done = resolve;
  });
  const t0 = performance.now();
  const subs = names.map((n) => {
    let seen = false;
    // A function, not an observer object: RxJS wraps an object in ~0.5 KB more per subscription.
    return d.instances$(n).subscribe((s) => {
      if (!seen && ready(s.size)) {
        seen = true;
        if (--pending === 0) done();
      }
    });
  });
  if (pending > 0) await all;
  return { subs, firstMs: performance.now() - t0 };
};

/** Heap and first-set time of every name watched on a discovery `open()` makes, then of {@link EMPTY} empty watches. */
const measure = async (
  open: () => Discovery,
  names: readonly string[],
  whileWatched: () => Promise<void>,
): Promise<{ firstMs: number; heap: number; perInstance: number; emptyPerWatch: number }> => {
  const before = settledHeap();
  const d = open();
  const watched = await watchAll(d, names, (size) => size === ENDPOINTS);
  const heap = settledHeap() - before;
  await whileWatched();
  // Many empty watches, so that the heap's noise weighs little on the per-watch cost.
  const none = Array.from({ length: EMPTY }, (_, k) => `none-${k}`);
  const beforeEmpty = settledHeap();
  const empty = await watchAll(d, none, () => true);
  const emptyPerWatch = (settledHeap() - beforeEmpty) / EMPTY;
  for (const s of [...watched.subs, ...empty.subs]) s.unsubscribe();
  await d.close();
  return {
    firstMs: watched.firstMs,
    heap,
    perInstance: (heap - emptyPerWatch * names.length) / (names.length * ENDPOINTS),
    emptyPerWatch,
  };
};

export async function runScale(): Promise<void> {
  const k8s = await startKubernetes();
  const ns = 'scale';
  const raw = rawKube(k8s, ns);
  const names = Array.from({ length: SERVICES }, (_, k) => `svc-${String(k).padStart(3, '0')}`);
  try {
    await k8s.createNamespace(ns);
    const created = performance.now();
    await bounded(names, CONCURRENCY, async (svc) => {
      const k = names.indexOf(svc);
      await raw.service(svc);
      await raw.slice(
        svc,
        `${svc}-1`,
        Array.from({ length: ENDPOINTS }, (_, j) => ({
          address: `10.${j}.${k >> 8}.${k & 255}`,
          name: `${svc}-pod-${j}`,
          zone: `zone-${k % 3}`,
          nodeName: 'node-a',
        })),
      );
    });
    const createMs = performance.now() - created;
    // The floor: one list of every slice of the namespace, read and parsed.
    const listed = performance.now();
    await k8s.api('GET', `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`);
    const listMs = performance.now() - listed;

    process.env.KUBECONFIG = k8s.kubeconfig;
    // Load @kubernetes/client-node and TLS once, outside the measure.
    const warm = kubernetesDiscovery(`k8s://${k8s.hostPort}?namespace=${ns}`, {
      graceMs: 0,
      onProblem: () => undefined,
    });
    await firstValueFrom(warm.instances$(names[0]!));
    await warm.close();
    const watchesBefore = await endpointSliceWatches(k8s);
    let watches = 0;
    const k = await measure(
      () =>
        kubernetesDiscovery(`k8s://${k8s.hostPort}?namespace=${ns}`, {
          graceMs: 0,
          onProblem: () => undefined,
          catalogViewsPast: 0,
        }),
      names,
      async () => {
        watches = (await endpointSliceWatches(k8s)) - watchesBefore;
      },
    );
    // The peer: the same instances (same metadata) in memory://, watched the same way.
    const store = new MemoryRegistry('scale');
    names.forEach((svc, n) => {
      for (let j = 0; j < ENDPOINTS; j++) {
        const id = `${svc}-pod-${j}`;
        store.put(
          svc,
          id,
          toRecord(
            createInstance(
              {
                id,
                service: svc,
                host: `10.${j}.${n >> 8}.${n & 255}`,
                port: 8080,
                zone: `zone-${n % 3}`,
                metadata: { addressType: 'IPv4', nodeName: 'node-a', pod: id },
              },
              'scale',
            ),
          ),
        );
      }
    });
    const m = await measure(
      () => memoryDiscovery(store, { graceMs: 0, onProblem: () => undefined, catalogViewsPast: 0 }),
      names,
      async () => undefined,
    );
    console.log(
      `kubernetes scale: ${SERVICES} Services x ${ENDPOINTS} endpoints in one namespace, every one watched (created in ${(createMs / 1000).toFixed(1)} s, ${CONCURRENCY} POSTs at a time); memory:// with the same instances beside it`,
    );
    console.log(
      `  API watches of endpointslices  ${watches} opened by rxdisco (${watchesBefore} open before it; target 1: ${verdict(watches === 1)})`,
    );
    console.log(
      `  every first set                ${k.firstMs.toFixed(0)} ms (target <= 3000 ms: ${verdict(k.firstMs <= 3000)}, ${(k.firstMs / 3000).toFixed(2)}x; one bare list of every slice ${listMs.toFixed(0)} ms, ratio ${(k.firstMs / listMs).toFixed(2)}; memory:// ${m.firstMs.toFixed(0)} ms)`,
    );
    console.log(
      `  heap in all                    ${(k.heap / 1024 / 1024).toFixed(1)} MB (${(k.heap / SERVICES / 1024).toFixed(2)} KB per watched service, ${ENDPOINTS} endpoints included; memory:// ${(m.heap / 1024 / 1024).toFixed(1)} MB, ratio ${(k.heap / m.heap).toFixed(2)})`,
    );
    console.log(
      `  per instance                   ${k.perInstance.toFixed(0)} B (heap less the per-watch cost below; target <= 400 B: ${verdict(k.perInstance <= 400)}, ${(k.perInstance / 400).toFixed(2)}x; memory:// ${m.perInstance.toFixed(0)} B, ratio ${(k.perInstance / m.perInstance).toFixed(2)})`,
    );
    console.log(
      `  per watched service, no endpoint ${(k.emptyPerWatch / 1024).toFixed(2)} KB (over ${EMPTY} such watches; target <= 2 KB: ${verdict(k.emptyPerWatch <= 2048)}, ${(k.emptyPerWatch / 2048).toFixed(2)}x; memory:// ${(m.emptyPerWatch / 1024).toFixed(2)} KB)`,
    );
  } finally {
    await k8s.destroy();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  (process.argv[2] === 'scale' ? runScale() : run()).catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
