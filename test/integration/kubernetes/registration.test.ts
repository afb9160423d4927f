/**
 * register() on k8s:// against a real kube-apiserver: the instance as an
 * endpoint of rxdisco's EndpointSlice (what `kubectl get endpointslices -o
 * yaml` shows), its renewal annotation, a dead registrant's endpoint shown
 * DOWN after its TTL, concurrent registrants sharing one slice, the
 * refusals (a selector Service, a missing Service, a loopback address).
 */
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubernetesClient } from '../../../src/backends/kubernetes/client.js';
import { loadConnection } from '../../../src/backends/kubernetes/credentials.js';
import {
  endpointAnnotation,
  MANAGED_BY,
  managedSliceName,
} from '../../../src/backends/kubernetes/index.js';
import { kubernetesRegistrar } from '../../../src/backends/kubernetes/registrar.js';
import { kubernetesUrl } from '../../../src/backends/kubernetes/url.js';
import { configOf } from '../../../src/core/url.js';
import { createInstance, isConfigError, type RegistrationEvent } from '../../../src/index.js';
import { waitFor } from '../../conformance/suite.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type KubernetesCluster, startKubernetes } from '../../servers/kubernetes.js';
import { rawKube, testDiscovery } from './harness.js';

expectNoLeakedHandles();

const PATIENCE = 15_000;
let k8s: KubernetesCluster;
let serial = 0;

beforeAll(async () => {
  k8s = await startKubernetes();
  process.env.KUBECONFIG = k8s.kubeconfig;
}, 120_000);

afterAll(async () => {
  await k8s?.destroy();
});

const namespace = async (): Promise<string> => {
  const ns = `reg-${process.pid}-${++serial}`;
  await k8s.createNamespace(ns);
  return ns;
};

interface Slice {
  metadata: {
    name: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
  };
  addressType: string;
  ports: Array<{ name: string; port: number }>;
  endpoints?: Array<{ addresses: string[]; conditions: Record<string, boolean> }>;
}

const getSlice = async (ns: string, name: string): Promise<Slice | undefined> => {
  const r = await k8s.request(
    'GET',
    `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices/${name}`,
  );
  return r.status === 404 ? undefined : (r.body as Slice);
};

const record = (slice: Slice | undefined, host: string): Record<string, unknown> | undefined => {
  const text = slice?.metadata.annotations?.[endpointAnnotation(host)];
  return text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>);
};

const url = (ns: string): string => `k8s://${k8s.hostPort}?namespace=${ns}`;

describe('register() on k8s://', () => {
  it('adds the instance as an endpoint of an rxdisco EndpointSlice, seen by a reader and by raw reads, renewed, removed on unsubscribe', async () => {
    const ns = await namespace();
    await rawKube(k8s, ns).service('hello');
    const d = testDiscovery(url(ns));
    const reader = testDiscovery(url(ns));
    try {
      const events: RegistrationEvent[] = [];
      const sub = d
        .register(
          {
            service: 'hello',
            host: '10.1.2.3',
            port: 8080,
            id: 'hello-1',
            zone: 'z1',
            tags: ['blue'],
            metadata: { version: '1.2.3' },
          },
          { ttlMs: 2000, renewEveryMs: 300 },
        )
        .subscribe((e) => events.push(e));
      const seen = await waitFor(
        reader.instances$('hello'),
        (s) => s.size === 1,
        PATIENCE,
        'the registration',
      );
      expect(seen.instances[0]).toMatchObject({
        id: 'hello-1',
        host: '10.1.2.3',
        port: 8080,
        status: 'UP',
        zone: 'z1',
        tags: ['blue'],
        metadata: { version: '1.2.3', addressType: 'IPv4' },
      });

      // What kubectl shows: a slice of the Service, managed by rxdisco, the instance an endpoint.
      const name = managedSliceName('hello', 'IPv4', 8080);
      const slice = await getSlice(ns, name);
      expect(slice?.metadata.labels).toMatchObject({
        'kubernetes.io/service-name': 'hello',
        [MANAGED_BY]: 'rxdisco',
      });
      expect(slice?.addressType).toBe('IPv4');
      expect(slice?.ports).toEqual([{ name: 'http', port: 8080, protocol: 'TCP' }]);
      expect(slice?.endpoints).toEqual([
        {
          addresses: ['10.1.2.3'],
          conditions: { ready: true, serving: true, terminating: false },
          zone: 'z1',
        },
      ]);
      const first = record(slice, '10.1.2.3');
      expect(first).toMatchObject({ id: 'hello-1', ttlMs: 2000 });

      // Renewal refreshes the annotation's time.
      await eventually(
        () => events.filter((e) => e.type === 'renewed').length >= 2,
        PATIENCE,
        'two renewals',
      );
      const renewed = record(await getSlice(ns, name), '10.1.2.3');
      expect(renewed?.renewedAt as number).toBeGreaterThan(first?.renewedAt as number);

      sub.unsubscribe();
      await d.settled();
      await waitFor(reader.instances$('hello'), (s) => s.size === 0, PATIENCE, 'it to go');
      // The last endpoint gone, the slice goes too.
      expect(await getSlice(ns, name)).toBeUndefined();
    } finally {
      await d.close();
      await reader.close();
    }
  });

  it('shows a dead registrant (no renewal) DOWN once its TTL has run out', async () => {
    const ns = await namespace();
    await rawKube(k8s, ns).service('hello');
    // The registrar alone registers once and never renews: what a killed process leaves.
    const config = configOf(kubernetesUrl, url(ns));
    const client = kubernetesClient(await loadConnection(config));
    const registrar = kubernetesRegistrar({
      client,
      namespace: ns,
      registry: config.url,
      createService: false,
      requestTimeoutMs: 5000,
      now: () => Date.now(),
    });
    const reader = testDiscovery(url(ns));
    try {
      const instance = createInstance(
        { service: 'hello', host: '10.1.2.4', port: 8080, id: 'dead' },
        config.url,
      );
      await registrar.register(instance, 1500, 500);
      const statuses = firstValueFrom(reader.instances$('hello').pipe(take(2), toArray()));
      const [up, down] = await statuses;
      expect(up?.instances.map((i) => `${i.id}=${i.status}`)).toEqual(['dead=UP']);
      expect(down?.instances.map((i) => `${i.id}=${i.status}`)).toEqual(['dead=DOWN']);
      // Other clients see only the conditions: the endpoint is still ready in the slice.
      const slice = await getSlice(ns, managedSliceName('hello', 'IPv4', 8080));
      expect(slice?.endpoints?.[0]?.conditions.ready).toBe(true);
      // The catalog shows it DOWN too.
      const c = await waitFor(
        reader.catalog$(),
        (cat) => cat.get('hello')?.instances[0]?.status === 'DOWN',
        PATIENCE,
        'DOWN in the catalog',
      );
      expect(c.get('hello')?.size).toBe(1);
    } finally {
      client.close();
      await reader.close();
    }
  });

  it('keeps every endpoint when registrants write the same slice at once (conflicts retried)', async () => {
    const ns = await namespace();
    await rawKube(k8s, ns).service('shared');
    const a = testDiscovery(url(ns));
    const b = testDiscovery(url(ns));
    const reader = testDiscovery(url(ns));
    try {
      const host = (n: number): string => `10.2.0.${n}`;
      const subs = Array.from({ length: 16 }, (_, n) =>
        (n % 2 === 0 ? a : b)
          .register(
            { service: 'shared', host: host(n + 1), port: 9000, id: `i${n}` },
            { ttlMs: 10_000 },
          )
          .subscribe(),
      );
      const all = await waitFor(
        reader.instances$('shared'),
        (s) => s.size === 16,
        PATIENCE * 2,
        'all 16 registrations',
      );
      expect(all.instances.every((i) => i.status === 'UP')).toBe(true);
      const slice = await getSlice(ns, managedSliceName('shared', 'IPv4', 9000));
      expect(slice?.endpoints).toHaveLength(16);
      // a's eight leave at once; b's eight stay.
      subs.forEach((s, n) => {
        if (n % 2 === 0) s.unsubscribe();
      });
      await a.settled();
      const left = await waitFor(
        reader.instances$('shared'),
        (s) => s.size === 8,
        PATIENCE,
        "b's eight",
      );
      expect(left.instances.map((i) => i.id).sort()).toEqual(
        ['i1', 'i3', 'i5', 'i7', 'i9', 'i11', 'i13', 'i15'].sort(),
      );
      for (const s of subs) s.unsubscribe();
      await b.settled();
      await waitFor(reader.instances$('shared'), (s) => s.size === 0, PATIENCE, 'all gone');
    } finally {
      await a.close();
      await b.close();
      await reader.close();
    }
  });

  it('registers again when someone removes its endpoint from the shared slice (the renewal sees it gone)', async () => {
    const ns = await namespace();
    await rawKube(k8s, ns).service('hello');
    const d = testDiscovery(url(ns));
    const reader = testDiscovery(url(ns));
    try {
      const events: RegistrationEvent[] = [];
      const sub = d
        .register(
          { service: 'hello', host: '10.6.0.1', port: 8080, id: 'kept' },
          { ttlMs: 3000, renewEveryMs: 200 },
        )
        .subscribe((e) => events.push(e));
      await waitFor(reader.instances$('hello'), (s) => s.size === 1, PATIENCE, 'registered');
      // An operator edits the slice and drops the endpoint (the slice stays).
      const name = managedSliceName('hello', 'IPv4', 8080);
      const slice = await getSlice(ns, name);
      await k8s.api('PUT', `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices/${name}`, {
        ...slice,
        endpoints: [],
      });
      await eventually(
        () => events.some((e) => e.type === 'reregistered'),
        PATIENCE,
        'reregistered',
      );
      const lost = events.find((e) => e.type === 'lost');
      expect(lost !== undefined && 'error' in lost && lost.error.message).toMatch(
        /endpoint 10\.6\.0\.1 is gone/,
      );
      await waitFor(reader.instances$('hello'), (s) => s.size === 1, PATIENCE, 'back');
      expect((await getSlice(ns, name))?.endpoints).toHaveLength(1);
      sub.unsubscribe();
      await d.settled();
    } finally {
      await d.close();
      await reader.close();
    }
  });

  it('refuses a Service with a selector: its Pods are its endpoints', async () => {
    const ns = await namespace();
    await k8s.api('POST', `/api/v1/namespaces/${ns}/services`, {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'pods' },
      spec: { selector: { app: 'pods' }, ports: [{ name: 'http', port: 80 }] },
    });
    const d = testDiscovery(url(ns), [], { createService: true });
    try {
      const error = await lastValueFrom(
        d.register({ service: 'pods', host: '10.3.0.1', port: 80 }),
      ).catch((e: unknown) => e);
      expect(isConfigError(error)).toBe(true);
      expect((error as Error).message).toMatch(/selector/);
      expect((error as Error).message).toMatch(/Pods it selects are its endpoints/);
      expect(await rawKube(k8s, ns).sliceNames('pods')).toEqual([]);
    } finally {
      await d.close();
    }
  });

  it('refuses a missing Service unless createService, which creates one without a selector', async () => {
    const ns = await namespace();
    const plain = testDiscovery(url(ns));
    const creating = testDiscovery(url(ns), [], { createService: true });
    try {
      const error = await lastValueFrom(
        plain.register({ service: 'fresh', host: '10.4.0.1', port: 8443, secure: true }),
      ).catch((e: unknown) => e);
      expect(isConfigError(error)).toBe(true);
      expect((error as Error).message).toMatch(/createService: true/);
      const sub = creating
        .register({ service: 'fresh', host: '10.4.0.1', port: 8443, secure: true })
        .subscribe();
      const set = await waitFor(
        creating.instances$('fresh'),
        (s) => s.size === 1,
        PATIENCE,
        'the registration',
      );
      expect(set.instances[0]).toMatchObject({ host: '10.4.0.1', port: 8443, secure: true });
      const svc = (await k8s.api('GET', `/api/v1/namespaces/${ns}/services/fresh`)) as {
        spec: { selector?: unknown; ports: Array<{ name: string; port: number }> };
      };
      expect(svc.spec.selector).toBeUndefined();
      expect(svc.spec.ports[0]).toMatchObject({ name: 'https', port: 8443 });
      sub.unsubscribe();
      await creating.settled();
    } finally {
      await plain.close();
      await creating.close();
    }
  });

  it('turns the API server refusing a loopback address (422) into a permanent ConfigError naming host', async () => {
    const ns = await namespace();
    await rawKube(k8s, ns).service('hello');
    const d = testDiscovery(url(ns));
    try {
      const events: RegistrationEvent[] = [];
      const error = await new Promise<unknown>((resolve) => {
        d.register({ service: 'hello', host: '127.0.0.1', port: 8080 }).subscribe({
          next: (e) => events.push(e),
          error: resolve,
          complete: () => resolve(undefined),
        });
      });
      expect(isConfigError(error)).toBe(true);
      expect((error as { field?: string }).field).toBe('host');
      expect((error as Error).message).toMatch(/422/);
      expect((error as Error).message).toMatch(/loopback/);
      expect(events.filter((e) => e.type === 'retrying')).toEqual([]);
    } finally {
      await d.close();
    }
  });
});
