import { describe, expect, it } from 'vitest';
import {
  endpointStatus,
  mergeSlices,
  pickPort,
  sliceInstances,
} from '../../../../src/backends/kubernetes/codecs.js';
import { endpointAnnotation, MANAGED_BY } from '../../../../src/backends/kubernetes/managed.js';
import { isConfigError } from '../../../../src/core/errors.js';

const REGISTRY = 'k8s://127.0.0.1:6443';

const slice = (
  name: string,
  endpoints: unknown[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> => ({
  metadata: { name, labels: { 'kubernetes.io/service-name': 'hello' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints,
  ...extra,
});

const instances = (s: unknown, port?: string) => {
  const r = sliceInstances(s, 'hello', port, REGISTRY);
  if (!r.ok) throw r.error;
  return r.instances;
};

describe('EndpointSlice status mapping', () => {
  it.each([
    [undefined, 'UP'],
    [{}, 'UP'],
    [{ ready: true, serving: true, terminating: false }, 'UP'],
    [{ ready: false, serving: true, terminating: true }, 'OUT_OF_SERVICE'],
    [{ ready: false, serving: false, terminating: true }, 'DOWN'],
    [{ ready: false, serving: false, terminating: false }, 'STARTING'],
    [{ ready: false }, 'STARTING'],
  ] as const)('conditions %j give %s', (conditions, status) => {
    expect(endpointStatus(conditions)).toBe(status);
  });
});

describe('EndpointSlice to instances', () => {
  it('gives one instance per endpoint with zone, node, Pod and zone hints; the Pod name as id', () => {
    const [i] = instances(
      slice('hello-abc', [
        {
          addresses: ['10.1.0.7'],
          conditions: { ready: true },
          nodeName: 'node-a',
          zone: 'zone-a',
          targetRef: { kind: 'Pod', name: 'hello-0', uid: 'u-1' },
          hints: { forZones: [{ name: 'zone-a' }, { name: 'zone-b' }] },
        },
      ]),
    );
    expect(i).toMatchObject({
      id: 'hello-0',
      service: 'hello',
      host: '10.1.0.7',
      port: 8080,
      status: 'UP',
      zone: 'zone-a',
      secure: false,
      metadata: {
        addressType: 'IPv4',
        nodeName: 'node-a',
        pod: 'hello-0',
        forZones: 'zone-a,zone-b',
      },
      registry: REGISTRY,
    });
  });

  it('ids: address:port without a targetRef, a distinct id for the IPv6 slice of a dual-stack Pod', () => {
    expect(instances(slice('a', [{ addresses: ['10.0.0.1'] }]))[0]!.id).toBe('10.0.0.1:8080');
    const v6 = instances(
      slice('b', [{ addresses: ['fd00::1'], targetRef: { kind: 'Pod', name: 'hello-0' } }], {
        addressType: 'IPv6',
      }),
    );
    expect(v6[0]).toMatchObject({ id: 'hello-0/IPv6', host: 'fd00::1' });
  });

  it('picks the only port, a named one, and refuses to guess between several', () => {
    const two = slice('a', [{ addresses: ['10.0.0.1'] }], {
      ports: [
        { name: 'http', port: 8080 },
        { name: 'https', port: 8443 },
      ],
    });
    expect(instances(two, 'https')[0]).toMatchObject({ port: 8443, secure: true });
    const e = (() => {
      try {
        instances(two);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(isConfigError(e)).toBe(true);
    expect((e as Error).message).toContain('it has http, https');
    expect(() => pickPort([{ port: 80, name: 'web' }], 'grpc', {})).toThrow(/'grpc' is not a port/);
  });

  it('skips and reports a malformed slice with the io-ts path', () => {
    const r = sliceInstances(
      slice('bad-1', [{ addresses: ['10.0.0.1'] }], { ports: [{ name: 'http' }] }),
      'hello',
      undefined,
      REGISTRY,
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.key).toContain('bad-1');
    expect(r.error.problems.join()).toMatch(/ports/);
  });

  it('merges slices: an endpoint in two slices once, its best status kept', () => {
    const a = instances(
      slice('a', [
        { addresses: ['10.0.0.1'], conditions: { ready: false }, targetRef: { name: 'p1' } },
      ]),
    );
    const b = instances(
      slice('b', [
        { addresses: ['10.0.0.1'], conditions: { ready: true }, targetRef: { name: 'p1' } },
        { addresses: ['10.0.0.2'], targetRef: { name: 'p2' } },
      ]),
    );
    const merged = mergeSlices(
      new Map([
        ['a', { instances: a }],
        ['b', { instances: b }],
      ]),
    );
    expect(merged.map((i) => `${i.id}:${i.status}`).sort()).toEqual(['p1:UP', 'p2:UP']);
  });
});

describe('EndpointSlices rxdisco manages', () => {
  const managed = (annotations: Record<string, string>) =>
    slice(
      'hello-rxdisco-ipv4-8080',
      [{ addresses: ['10.0.0.1'] }, { addresses: ['10.0.0.2'] }, { addresses: ['10.0.0.3'] }],
      {
        metadata: {
          name: 'hello-rxdisco-ipv4-8080',
          labels: { 'kubernetes.io/service-name': 'hello', [MANAGED_BY]: 'rxdisco' },
          annotations,
        },
      },
    );

  it('takes id, tags, weight and metadata from each endpoint annotation, and its expiry', () => {
    const r = sliceInstances(
      managed({
        [endpointAnnotation('10.0.0.1')]: JSON.stringify({
          id: 'a',
          renewedAt: 1000,
          ttlMs: 500,
          tags: ['blue'],
          weight: 3,
          metadata: { version: '2' },
        }),
      }),
      'hello',
      undefined,
      REGISTRY,
    );
    if (!r.ok) throw r.error;
    expect(r.instances.map((i) => i.id)).toEqual(['a', '10.0.0.2:8080', '10.0.0.3:8080']);
    expect(r.instances[0]).toMatchObject({ tags: ['blue'], weight: 3 });
    expect(r.instances[0]?.metadata).toMatchObject({ version: '2', addressType: 'IPv4' });
    expect(r.expiries).toEqual(new Map([['a', 1500]]));
  });

  it('skips and reports an endpoint whose annotation does not decode, keeping the others', () => {
    const r = sliceInstances(
      managed({
        [endpointAnnotation('10.0.0.2')]: '{"id":"b","renewedAt":"soon","ttlMs":500}',
        [endpointAnnotation('10.0.0.3')]: 'not json',
      }),
      'hello',
      undefined,
      REGISTRY,
    );
    if (!r.ok) throw r.error;
    expect(r.instances.map((i) => i.id)).toEqual(['10.0.0.1:8080']);
    expect(r.skipped?.map((e) => e.key)).toEqual([
      'endpointslice hello-rxdisco-ipv4-8080 annotation of 10.0.0.2',
      'endpointslice hello-rxdisco-ipv4-8080 annotation of 10.0.0.3',
    ]);
  });

  it('shows a registration DOWN from its expiry on, and only it', () => {
    const r = sliceInstances(
      managed({
        [endpointAnnotation('10.0.0.1')]: JSON.stringify({ id: 'a', renewedAt: 1000, ttlMs: 500 }),
      }),
      'hello',
      undefined,
      REGISTRY,
    );
    if (!r.ok) throw r.error;
    const slices = new Map([['s', { instances: r.instances, expiries: r.expiries }]]);
    const at = (now: number) =>
      mergeSlices(slices, now)
        .map((i) => `${i.id}:${i.status}`)
        .join(',');
    expect(at(1499)).toBe('a:UP,10.0.0.2:8080:UP,10.0.0.3:8080:UP');
    expect(at(1500)).toBe('a:DOWN,10.0.0.2:8080:UP,10.0.0.3:8080:UP');
  });
});
