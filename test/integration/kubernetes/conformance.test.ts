import { afterAll, beforeAll } from 'vitest';
import { conformance } from '../../conformance/suite.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import { type KubernetesCluster, startKubernetes } from '../../servers/kubernetes.js';
import { rawKube, testDiscovery } from './harness.js';

expectNoLeakedHandles();

const NS = 'conformance';
let k8s: KubernetesCluster;
let raw: ReturnType<typeof rawKube>;

beforeAll(async () => {
  k8s = await startKubernetes();
  process.env.KUBECONFIG = k8s.kubeconfig;
  await k8s.createNamespace(NS);
  raw = rawKube(k8s, NS);
}, 120_000);

afterAll(async () => {
  await k8s?.destroy();
});

// Each raw instance is one hand-written slice `<service>-<id>` of a Service without a selector.
conformance(
  'k8s://',
  () => ({
    discovery: () => testDiscovery(`k8s://${k8s.hostPort}?namespace=${NS}`),
    writeRaw: async (r) => {
      await raw.service(r.service);
      await raw.slice(r.service, `${r.service}-${r.id}`, [{ address: '10.0.0.1', name: r.id }], {
        ports: [{ name: 'http', port: r.port }],
      });
    },
    deleteRaw: async (service, id) => {
      await raw.deleteSlice(`${service}-${id}`);
      if ((await raw.sliceNames(service)).length === 0) await raw.deleteService(service);
    },
    // Valid to Kubernetes ("all ports"), but no host:port to offer.
    writeMalformed: async (service, id) => {
      await raw.service(service);
      await raw.slice(service, `${service}-${id}`, [{ address: '10.0.0.9', name: id }], {
        ports: [{ name: 'http' }],
      });
    },
    dropRegistrations: async () => {
      throw new Error('k8s:// is read-only here: no registration to drop');
    },
    outage: async () => {
      await k8s.stopApiserver();
    },
    recover: async () => {
      await k8s.startApiserver();
    },
    ttlMs: 2000,
    patience: 15_000,
  }),
  { readOnly: true },
);
