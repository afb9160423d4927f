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

// Each raw instance is one hand-written slice `<service>-<id>` of a Service without a selector;
// register() adds its endpoint to rxdisco's own slice of such a Service (created when missing).
conformance(
  'k8s://',
  () => ({
    discovery: () =>
      testDiscovery(`k8s://${k8s.hostPort}?namespace=${NS}`, [], { createService: true }),
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
    // What an operator deleting rxdisco's slices does: the next renewal finds them gone.
    dropRegistrations: async (service) => {
      for (const name of await raw.sliceNames(service)) await raw.deleteSlice(name);
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
  // The API server refuses loopback addresses in EndpointSlices; nothing connects to this one.
  { catalog: true, registerHost: '192.0.2.10' },
);
