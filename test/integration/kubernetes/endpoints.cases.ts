/**
 * The cases of `endpoints.test.ts` (API server on Debian's etcd 3.4,
 * watch-list off) and `endpoints-etcd36.test.ts` (on etcd 3.6, the API
 * server's default gates): the Kubernetes backend against a real kube-apiserver and the real
 * EndpointSlice controller: Pods made ready, unready and deleted; a Service
 * scaled from 0 to 50 endpoints and back; a watch resumed from a compacted
 * resourceVersion (410: re-list, no change lost); RBAC refusals; dual stack.
 * The API server runs without its watch cache so that a watch from a
 * compacted resourceVersion answers 410 at once.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { firstValueFrom } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InstanceSet, isAuthenticationError, type RxdiscoError } from '../../../src/index.js';
import { waitFor } from '../../conformance/suite.js';
import { type KubernetesCluster, NODE, startKubernetes, TOKENS } from '../../servers/kubernetes.js';
import { FaultProxy } from '../etcd/fault-proxy.js';
import { rawKube, testDiscovery } from './harness.js';

const PATIENCE = 15_000;

/** Registers every case against an API server on etcd `etcd`. */
export const endpointCases = (etcd: '3.4' | '3.6'): void => {
  let k8s: KubernetesCluster;
  let serial = 0;

  beforeAll(async () => {
    k8s = await startKubernetes({ controllerManager: true, watchCache: false, etcd });
    process.env.KUBECONFIG = k8s.kubeconfig;
  }, 120_000);

  afterAll(async () => {
    await k8s?.destroy();
  });

  /** A fresh namespace (deleted ones stay Terminating without the namespace controller). */
  const namespace = async (): Promise<string> => {
    const ns = `ep-${process.pid}-${++serial}`;
    await k8s.createNamespace(ns);
    return ns;
  };

  const states = (s: InstanceSet): string =>
    s.instances.map((i) => `${i.id}=${i.status}`).join(',');

  const selectorService = (ns: string, name: string) =>
    k8s.api('POST', `/api/v1/namespaces/${ns}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name },
      spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });

  const pod = async (ns: string, app: string, name: string, ip: string): Promise<void> => {
    await k8s.api('POST', `/api/v1/namespaces/${ns}/pods`, {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, labels: { app } },
      spec: {
        nodeName: NODE,
        containers: [{ name: 'c', image: 'none', ports: [{ containerPort: 8080 }] }],
      },
    });
    await podReady(ns, name, ip, true);
  };

  const podReady = (ns: string, name: string, ip: string, ready: boolean) =>
    k8s.api(
      'PATCH',
      `/api/v1/namespaces/${ns}/pods/${name}/status`,
      {
        status: {
          phase: 'Running',
          podIP: ip,
          podIPs: [{ ip }],
          conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
        },
      },
      'application/strategic-merge-patch+json',
    );

  const deletePod = (ns: string, name: string, graceSeconds?: number) =>
    k8s.api(
      'DELETE',
      `/api/v1/namespaces/${ns}/pods/${name}${graceSeconds === undefined ? '' : `?gracePeriodSeconds=${graceSeconds}`}`,
    );

  describe('k8s:// through the real EndpointSlice controller', () => {
    it('maps a Pod made ready, unready, deleted (terminating) and gone to UP, STARTING, OUT_OF_SERVICE and nothing', async () => {
      const ns = await namespace();
      await selectorService(ns, 'hello');
      const d = testDiscovery(`k8s://${k8s.hostPort}?namespace=${ns}`);
      try {
        const set$ = d.instances$('hello');
        const sub = set$.subscribe();
        await waitFor(set$, (s) => s.size === 0 && !s.stale, PATIENCE, 'the empty set');
        await pod(ns, 'hello', 'hello-0', '10.2.0.1');
        const up = await waitFor(set$, (s) => states(s) === 'hello-0=UP', PATIENCE, 'hello-0 UP');
        expect(up.instances[0]).toMatchObject({
          host: '10.2.0.1',
          port: 8080,
          zone: 'zone-a',
          metadata: { pod: 'hello-0', nodeName: NODE, addressType: 'IPv4' },
        });
        await podReady(ns, 'hello-0', '10.2.0.1', false);
        await waitFor(set$, (s) => states(s) === 'hello-0=STARTING', PATIENCE, 'hello-0 not ready');
        await podReady(ns, 'hello-0', '10.2.0.1', true);
        await waitFor(set$, (s) => states(s) === 'hello-0=UP', PATIENCE, 'hello-0 ready again');
        // No kubelet: a graceful delete leaves the Pod terminating (still serving) until forced.
        await deletePod(ns, 'hello-0');
        await waitFor(
          set$,
          (s) => states(s) === 'hello-0=OUT_OF_SERVICE',
          PATIENCE,
          'hello-0 terminating and serving (draining)',
        );
        await deletePod(ns, 'hello-0', 0);
        await waitFor(set$, (s) => s.size === 0, PATIENCE, 'hello-0 gone');
        sub.unsubscribe();
      } finally {
        await d.close();
      }
    }, 60_000);

    it('follows a Service scaled from 0 to 50 endpoints and back to 0, exact at each end', async () => {
      const ns = await namespace();
      await selectorService(ns, 'scaled');
      const d = testDiscovery(`k8s://${k8s.hostPort}?namespace=${ns}`);
      try {
        const set$ = d.instances$('scaled');
        const sub = set$.subscribe();
        await waitFor(set$, (s) => s.size === 0 && !s.stale, PATIENCE, 'the empty set');
        const names = Array.from({ length: 50 }, (_, i) => `scaled-${i}`);
        await Promise.all(names.map((n, i) => pod(ns, 'scaled', n, `10.3.0.${i + 1}`)));
        const full = await waitFor(
          set$,
          (s) => s.size === 50 && s.instances.every((i) => i.status === 'UP'),
          PATIENCE * 2,
          '50 UP endpoints',
        );
        expect(full.instances.map((i) => i.id).sort()).toEqual([...names].sort());
        expect(new Set(full.instances.map((i) => i.host)).size).toBe(50);
        await Promise.all(names.map((n) => deletePod(ns, n, 0)));
        await waitFor(set$, (s) => s.size === 0, PATIENCE * 2, 'no endpoint left');
        sub.unsubscribe();
      } finally {
        await d.close();
      }
    }, 90_000);
  });

  describe('k8s:// watch resumption', () => {
    it('re-lists when its resourceVersion was compacted while it was cut off (410), losing no change', async () => {
      const ns = await namespace();
      const raw = rawKube(k8s, ns);
      await raw.service('gone');
      await raw.slice('gone', 'gone-a', [{ address: '10.4.0.1', name: 'a' }]);
      await raw.slice('gone', 'gone-b', [{ address: '10.4.0.2', name: 'b' }]);
      const proxy = await FaultProxy.start(k8s.hostPort);
      const etcd = new Etcd3({ hosts: k8s.etcd.endpoints.map((e) => `http://${e}`) });
      const problems: RxdiscoError[] = [];
      const d = testDiscovery(`k8s://${proxy.endpoint}?namespace=${ns}`, problems);
      try {
        const set$ = d.instances$('gone');
        const sub = set$.subscribe();
        await waitFor(set$, (s) => s.instances.map((i) => i.id).join() === 'a,b', PATIENCE, 'a,b');
        proxy.block();
        try {
          await waitFor(set$, (s) => s.stale, PATIENCE, 'the set to go stale');
          await raw.deleteSlice('gone-a');
          await raw.slice('gone', 'gone-c', [{ address: '10.4.0.3', name: 'c' }]);
          await raw.slice('gone', 'gone-d', [{ address: '10.4.0.4', name: 'd' }]);
          await raw.deleteSlice('gone-d');
          const { header } = await etcd.get('anything').exec();
          await etcd.kv.compact({ revision: header.revision, physical: true });
        } finally {
          proxy.unblock();
        }
        const after = await waitFor(
          set$,
          (s) => !s.stale && s.instances.map((i) => i.id).join() === 'b,c',
          PATIENCE * 2,
          'b,c after the compaction',
        );
        expect(after.instances.map((i) => i.host)).toEqual(['10.4.0.2', '10.4.0.3']);
        // and it keeps watching after the re-list
        await raw.slice('gone', 'gone-e', [{ address: '10.4.0.5', name: 'e' }]);
        await waitFor(
          set$,
          (s) => s.instances.map((i) => i.id).join() === 'b,c,e',
          PATIENCE,
          'e after the re-list',
        );
        sub.unsubscribe();
      } finally {
        await d.close();
        etcd.close();
        await proxy.close();
      }
    }, 60_000);
  });

  describe('k8s:// slices', () => {
    it('gives a dual-stack Pod one instance per address family, and merges the slices of one Service', async () => {
      const ns = await namespace();
      const raw = rawKube(k8s, ns);
      await raw.service('dual');
      await raw.slice('dual', 'dual-v4', [{ address: '10.5.0.1', name: 'dual-0' }]);
      await raw.slice('dual', 'dual-v6', [{ address: 'fd00::1', name: 'dual-0' }], {
        addressType: 'IPv6',
      });
      // the same endpoint in a second slice (as while the controller moves it): once
      await raw.slice('dual', 'dual-v4-copy', [{ address: '10.5.0.1', name: 'dual-0' }]);
      const d = testDiscovery(`k8s://${k8s.hostPort}?namespace=${ns}`);
      try {
        const set = await waitFor(
          d.instances$('dual'),
          (s) => s.size >= 2,
          PATIENCE,
          'two families',
        );
        expect(set.instances.map((i) => [i.id, i.host, i.metadata.addressType])).toEqual([
          ['dual-0', '10.5.0.1', 'IPv4'],
          ['dual-0/IPv6', 'fd00::1', 'IPv6'],
        ]);
      } finally {
        await d.close();
      }
    });

    it("reads another namespace's Service as <service>.<namespace>", async () => {
      const ns = await namespace();
      const raw = rawKube(k8s, ns);
      await raw.service('far');
      await raw.slice('far', 'far-1', [{ address: '10.6.0.1', name: 'far-0' }]);
      const d = testDiscovery(`k8s://${k8s.hostPort}?namespace=default`);
      try {
        const set = await waitFor(
          d.instances$(`far.${ns}`),
          (s) => s.size === 1,
          PATIENCE,
          'far-0',
        );
        expect(set.instances[0]).toMatchObject({ id: 'far-0', service: `far.${ns}` });
      } finally {
        await d.close();
      }
    });
  });

  describe(`k8s:// on etcd ${etcd}`, () => {
    it(`runs the API server with watch-list ${etcd === '3.6' ? 'on (its default)' : 'off'}`, async () => {
      const r = await k8s.request('GET', '/metrics');
      const line = String(r.body)
        .split('\n')
        .find((l) => l.startsWith('kubernetes_feature_enabled{name="WatchList"'));
      expect(line?.endsWith(etcd === '3.6' ? ' 1' : ' 0'), line).toBe(true);
    });
  });

  describe('k8s:// RBAC', () => {
    it('errors with an AuthenticationError naming list/watch endpointslices.discovery.k8s.io and the namespace (403)', async () => {
      const ns = await namespace();
      // the limited user may only get services in the namespace
      await k8s.api('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'get-services' },
        rules: [{ apiGroups: [''], resources: ['services'], verbs: ['get'] }],
      });
      await k8s.api('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'limited-get-services' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'get-services' },
        subjects: [{ kind: 'User', name: 'limited', apiGroup: 'rbac.authorization.k8s.io' }],
      });
      const kubeconfig = join(k8s.dir, `two-users-${ns}.kubeconfig`);
      writeFileSync(
        kubeconfig,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters:',
          '- name: test',
          '  cluster:',
          `    server: ${k8s.server}`,
          `    certificate-authority: ${k8s.caFile}`,
          'users:',
          '- name: admin',
          '  user:',
          `    token: ${TOKENS.admin}`,
          '- name: limited',
          '  user:',
          `    token: ${TOKENS.limited}`,
          'contexts:',
          '- name: admin',
          '  context: { cluster: test, user: admin }',
          '- name: limited',
          `  context: { cluster: test, user: limited, namespace: ${ns} }`,
          'current-context: admin',
          '',
        ].join('\n'),
      );
      const previous = process.env.KUBECONFIG;
      process.env.KUBECONFIG = kubeconfig;
      // no host in the URL: the server, the token and the namespace all come from the context
      const d = testDiscovery('k8s://?context=limited');
      try {
        const error = await firstValueFrom(d.instances$('hello')).catch((e: unknown) => e);
        expect(isAuthenticationError(error)).toBe(true);
        expect((error as RxdiscoError).retryable).toBe(false);
        expect((error as Error).message).toContain(
          `list/watch endpointslices.discovery.k8s.io in namespace ${ns}`,
        );
        expect((error as Error).message).toContain('403');
        // services$() needs list/watch services: get alone is not enough
        const listError = await firstValueFrom(d.services$()).catch((e: unknown) => e);
        expect(isAuthenticationError(listError)).toBe(true);
        expect((listError as Error).message).toContain(`list/watch services in namespace ${ns}`);
      } finally {
        await d.close();
        process.env.KUBECONFIG = previous;
      }
    });

    it('errors with an AuthenticationError on an unknown token (401)', async () => {
      const kubeconfig = join(k8s.dir, 'bad-token.kubeconfig');
      writeFileSync(
        kubeconfig,
        [
          'apiVersion: v1',
          'kind: Config',
          `clusters: [{ name: test, cluster: { server: '${k8s.server}', certificate-authority: '${k8s.caFile}' } }]`,
          'users: [{ name: nobody, user: { token: not-a-token } }]',
          'contexts: [{ name: nobody, context: { cluster: test, user: nobody } }]',
          'current-context: nobody',
          '',
        ].join('\n'),
      );
      const previous = process.env.KUBECONFIG;
      process.env.KUBECONFIG = kubeconfig;
      const d = testDiscovery('k8s://?namespace=default');
      try {
        const error = await firstValueFrom(d.instances$('hello')).catch((e: unknown) => e);
        expect(isAuthenticationError(error)).toBe(true);
        expect((error as Error).message).toContain('401');
      } finally {
        await d.close();
        process.env.KUBECONFIG = previous;
      }
    });
  });
};
