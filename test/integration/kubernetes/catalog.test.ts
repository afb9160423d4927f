/**
 * The namespace-wide catalog of k8s:// against a real kube-apiserver,
 * beyond the conformance cases: watches past catalogViewsPast are views of
 * it, except a Service of another namespace (not in it); a Service with
 * several ports is reported and left out of it, and still watched alone
 * with its port named.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isConfigError, type RxdiscoError } from '../../../src/index.js';
import { waitFor } from '../../conformance/suite.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type KubernetesCluster, startKubernetes } from '../../servers/kubernetes.js';
import { rawKube, testDiscovery } from './harness.js';

expectNoLeakedHandles();

const PATIENCE = 15_000;
let k8s: KubernetesCluster;

beforeAll(async () => {
  k8s = await startKubernetes();
  process.env.KUBECONFIG = k8s.kubeconfig;
  await k8s.createNamespace('home');
  await k8s.createNamespace('away');
}, 120_000);

afterAll(async () => {
  await k8s?.destroy();
});

describe('k8s:// catalog', () => {
  it('serves watches as views of the namespace, but a Service of another namespace by its own watch', async () => {
    const home = rawKube(k8s, 'home');
    const away = rawKube(k8s, 'away');
    await home.service('a');
    await home.slice('a', 'a-1', [{ address: '10.5.0.1', name: 'a-0' }]);
    await away.service('b');
    await away.slice('b', 'b-1', [{ address: '10.5.1.1', name: 'b-0' }]);
    // Every watch a view of the catalog (none of its own).
    const d = testDiscovery(`k8s://${k8s.hostPort}?namespace=home`, [], { catalogViewsPast: 0 });
    try {
      const a = await waitFor(d.instances$('a'), (s) => s.size === 1, PATIENCE, 'a');
      expect(a.instances[0]?.host).toBe('10.5.0.1');
      const b = await waitFor(d.instances$('b.away'), (s) => s.size === 1, PATIENCE, 'b.away');
      expect(b.instances[0]?.host).toBe('10.5.1.1');
      const c = await waitFor(d.catalog$(), (cat) => cat.has('a'), PATIENCE, 'the catalog');
      expect(c.names()).toEqual(['a']);
    } finally {
      await d.close();
    }
  });

  it('reports a Service with several ports and leaves it out; watched alone with its port named', async () => {
    const home = rawKube(k8s, 'home');
    await home.service('multi', [
      { name: 'http', port: 80 },
      { name: 'grpc', port: 81 },
    ]);
    await home.slice('multi', 'multi-1', [{ address: '10.5.2.1', name: 'm-0' }], {
      ports: [
        { name: 'http', port: 8080 },
        { name: 'grpc', port: 9090 },
      ],
    });
    await home.service('single');
    await home.slice('single', 'single-1', [{ address: '10.5.3.1', name: 's-0' }]);
    const problems: RxdiscoError[] = [];
    const d = testDiscovery(`k8s://${k8s.hostPort}?namespace=home`, problems);
    try {
      const c = await waitFor(d.catalog$(), (cat) => cat.has('single'), PATIENCE, 'single');
      expect(c.has('multi')).toBe(false);
      await eventually(
        () => problems.some((p) => isConfigError(p) && /it has http, grpc/.test(p.message)),
        PATIENCE,
        'the multi-port Service reported',
      );
      const grpc = await waitFor(
        d.instances$('multi', { port: 'grpc' }),
        (s) => s.size === 1,
        PATIENCE,
        'multi on grpc',
      );
      expect(grpc.instances[0]?.port).toBe(9090);
    } finally {
      await d.close();
    }
  });
});
