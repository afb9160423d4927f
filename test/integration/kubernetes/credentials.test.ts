/**
 * Credentials against the real API server: the in-cluster service account
 * (token file, CA and namespace in the service account directory,
 * `KUBERNETES_SERVICE_HOST/PORT`), with real ServiceAccount tokens from the
 * TokenRequest API and the token file rotated; and a kubeconfig whose user
 * is an exec plugin printing an ExecCredential.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../conformance/suite.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import {
  type KubernetesCluster,
  kubeconfigYaml,
  startKubernetes,
} from '../../servers/kubernetes.js';
import { rawKube, testDiscovery } from './harness.js';

expectNoLeakedHandles();

const PATIENCE = 15_000;
const NS = 'creds';
let k8s: KubernetesCluster;
let dir: string;
const saved = {
  host: process.env.KUBERNETES_SERVICE_HOST,
  port: process.env.KUBERNETES_SERVICE_PORT,
  kubeconfig: process.env.KUBECONFIG,
};

/** A ServiceAccount allowed to read Services and EndpointSlices of {@link NS}; its token. */
const account = async (name: string): Promise<string> => {
  await k8s.api('POST', `/api/v1/namespaces/${NS}/serviceaccounts`, {
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name },
  });
  await k8s.api('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'rxdisco-reader' },
    subjects: [{ kind: 'ServiceAccount', name, namespace: NS }],
  });
  const r = (await k8s.api('POST', `/api/v1/namespaces/${NS}/serviceaccounts/${name}/token`, {
    apiVersion: 'authentication.k8s.io/v1',
    kind: 'TokenRequest',
    spec: { expirationSeconds: 3600 },
  })) as { status: { token: string } };
  return r.status.token;
};

/** The status of a list of EndpointSlices with `token`. */
const listWith = async (token: string): Promise<number> =>
  (
    await k8s.request(
      'GET',
      `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`,
      undefined,
      {
        token,
      },
    )
  ).status;

beforeAll(async () => {
  k8s = await startKubernetes();
  await k8s.createNamespace(NS);
  await k8s.api('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: 'rxdisco-reader' },
    rules: [
      {
        apiGroups: ['discovery.k8s.io'],
        resources: ['endpointslices'],
        verbs: ['get', 'list', 'watch'],
      },
      { apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'watch'] },
    ],
  });
  const raw = rawKube(k8s, NS);
  for (const [svc, ip] of [
    ['hello', '10.9.0.1'],
    ['other', '10.9.0.2'],
  ] as const) {
    await raw.service(svc);
    await raw.slice(svc, `${svc}-1`, [{ address: ip, name: `${svc}-0` }]);
  }
}, 120_000);

afterAll(async () => {
  await k8s?.destroy();
});

afterEach(() => {
  for (const [k, v] of [
    ['KUBERNETES_SERVICE_HOST', saved.host],
    ['KUBERNETES_SERVICE_PORT', saved.port],
    ['KUBECONFIG', saved.kubeconfig],
  ] as const) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('k8s:// credentials', () => {
  it('uses the in-cluster service account (token, CA, namespace, KUBERNETES_SERVICE_HOST/PORT) and a rotated token at the next request', async () => {
    const first = await account('sa-first');
    const second = await account('sa-second');
    dir = mkdtempSync(join(tmpdir(), 'rxdisco-sa-'));
    writeFileSync(join(dir, 'token'), first);
    copyFileSync(k8s.caFile, join(dir, 'ca.crt'));
    writeFileSync(join(dir, 'namespace'), NS);
    process.env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
    process.env.KUBERNETES_SERVICE_PORT = String(k8s.port);
    delete process.env.KUBECONFIG;
    // No host, no namespace in the URL: both come from the service account.
    const d = testDiscovery('k8s://', [], { serviceAccountDir: dir });
    try {
      const hello = await waitFor(d.instances$('hello'), (s) => s.size === 1, PATIENCE, 'hello');
      expect(hello.instances[0]?.host).toBe('10.9.0.1');

      // The kubelet rotates the token; the old one then loses its rights.
      writeFileSync(join(dir, 'token'), second);
      await k8s.api(
        'DELETE',
        `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/rolebindings/sa-first`,
      );
      // RBAC applies the deletion within moments: poll with real requests until it does.
      let status = 0;
      for (let i = 0; i < 500 && status !== 403; i++) status = await listWith(first);
      expect(status).toBe(403);
      // A new list (another Service) goes with the rotated token.
      const other = await waitFor(d.instances$('other'), (s) => s.size === 1, PATIENCE, 'other');
      expect(other.instances[0]?.host).toBe('10.9.0.2');
    } finally {
      await d.close();
    }
  });

  it('runs the exec plugin of the kubeconfig and sends the token of its ExecCredential', async () => {
    const token = await account('sa-exec');
    dir = mkdtempSync(join(tmpdir(), 'rxdisco-exec-'));
    const runs = join(dir, 'runs');
    const plugin = join(dir, 'plugin.sh');
    writeFileSync(
      plugin,
      [
        '#!/bin/sh',
        `echo run >> '${runs}'`,
        `printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$RXDISCO_TOKEN"`,
        '',
      ].join('\n'),
    );
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      kubeconfigYaml(
        k8s.server,
        k8s.caFile,
        {
          userLines: [
            '    exec:',
            '      apiVersion: client.authentication.k8s.io/v1',
            '      command: /bin/sh',
            `      args: ['${plugin}']`,
            '      interactiveMode: Never',
            '      env:',
            '      - name: RXDISCO_TOKEN',
            `        value: ${token}`,
          ],
        },
        NS,
      ),
    );
    process.env.KUBECONFIG = kubeconfig;
    delete process.env.KUBERNETES_SERVICE_HOST;
    const d = testDiscovery('k8s://');
    try {
      const hello = await waitFor(d.instances$('hello'), (s) => s.size === 1, PATIENCE, 'hello');
      expect(hello.instances[0]?.host).toBe('10.9.0.1');
      expect(readFileSync(runs, 'utf8').split('\n').filter(Boolean).length).toBeGreaterThan(0);
    } finally {
      await d.close();
    }
  });
});
