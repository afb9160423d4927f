/**
 * Propagation latency of the Kubernetes backend: an endpoint's `ready`
 * flipped in its EndpointSlice -> the emission on `instances$` that shows
 * the new status, against a bare `@kubernetes/client-node` `makeInformer`
 * on the same slices of the same real kube-apiserver, in the same run (the
 * peer). The target: rxdisco may add at most 0.3 ms at p50.
 *
 * Prints p50/p99 of each, the paired added latency and PASS/MISS. Asserts nothing.
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
import { rawKube } from '../integration/kubernetes/harness.js';
import { startKubernetes } from '../servers/kubernetes.js';

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

if (import.meta.url === `file://${process.argv[1]}`) {
  run().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}
