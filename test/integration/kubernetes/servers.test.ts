/**
 * The test control plane itself: the pinned kube-apiserver answers with its
 * version, RBAC refuses the limited token, and the real EndpointSlice
 * controller turns a Pod the test makes ready into a slice endpoint, then
 * marks it not ready.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  KUBERNETES_VERSION,
  type KubernetesCluster,
  NODE,
  startKubernetes,
  TOKENS,
  ZONE,
} from '../../servers/kubernetes.js';

let k8s: KubernetesCluster;

beforeAll(async () => {
  k8s = await startKubernetes({ controllerManager: true });
}, 120_000);

afterAll(async () => {
  await k8s?.destroy();
});

interface Slice {
  readonly endpoints?: ReadonlyArray<{
    readonly addresses: readonly string[];
    readonly conditions?: { readonly ready?: boolean; readonly serving?: boolean };
    readonly targetRef?: { readonly name?: string };
    readonly zone?: string;
  }>;
}

const slices = async (ns: string, service: string): Promise<readonly Slice[]> => {
  const body = (await k8s.api(
    'GET',
    `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${service}`)}`,
  )) as { items: Slice[] };
  return body.items;
};

const eventually = async (check: () => Promise<boolean>, what: string): Promise<void> => {
  const deadline = Date.now() + 15_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

const setReady = (ns: string, pod: string, ready: boolean): Promise<unknown> =>
  k8s.api(
    'PATCH',
    `/api/v1/namespaces/${ns}/pods/${pod}/status`,
    {
      status: {
        phase: 'Running',
        podIP: '10.1.0.7',
        podIPs: [{ ip: '10.1.0.7' }],
        conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
      },
    },
    'application/strategic-merge-patch+json',
  );

describe('the test control plane', () => {
  it(`serves kube-apiserver ${KUBERNETES_VERSION} over TLS with the admin token`, async () => {
    const version = (await k8s.api('GET', '/version')) as { gitVersion: string };
    expect(version.gitVersion).toBe(KUBERNETES_VERSION);
  });

  it('refuses the limited token what RBAC does not grant it (403)', async () => {
    const r = await k8s.request(
      'GET',
      '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices',
      undefined,
      { token: TOKENS.limited },
    );
    expect(r.status).toBe(403);
  });

  it('runs the real EndpointSlice controller: a Pod made ready, then unready, is seen in its slice', async () => {
    const ns = 'servers-test';
    await k8s.createNamespace(ns);
    await k8s.api('POST', `/api/v1/namespaces/${ns}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'hello' },
      spec: { selector: { app: 'hello' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
    await k8s.api('POST', `/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'hello-0', labels: { app: 'hello' } },
      spec: {
        nodeName: NODE,
        containers: [{ name: 'c', image: 'none', ports: [{ containerPort: 8080 }] }],
      },
    });
    await setReady(ns, 'hello-0', true);
    const endpoint = async () => (await slices(ns, 'hello')).flatMap((s) => s.endpoints ?? [])[0];
    await eventually(
      async () => (await endpoint())?.conditions?.ready === true,
      'a ready endpoint',
    );
    expect(await endpoint()).toMatchObject({
      addresses: ['10.1.0.7'],
      targetRef: { name: 'hello-0' },
      zone: ZONE,
    });
    await setReady(ns, 'hello-0', false);
    await eventually(
      async () => (await endpoint())?.conditions?.ready === false,
      'the endpoint not ready',
    );
  }, 60_000);
});
