/**
 * Test helpers of the Kubernetes tests: a discovery with short timings, and
 * raw writes of Services and EndpointSlices through the API server (what
 * another writer, such as the EndpointSlice controller, does).
 */

import {
  type KubernetesOptions,
  kubernetesDiscovery,
} from '../../../src/backends/kubernetes/index.js';
import type { Discovery, DiscoveryOptions, RxdiscoError } from '../../../src/index.js';
import { exponentialBackoff } from '../../../src/index.js';
import type { KubernetesCluster } from '../../servers/kubernetes.js';

/** A discovery of `url` with short grace and backoff. */
export const testDiscovery = (
  url: string,
  problems: RxdiscoError[] = [],
  extra: DiscoveryOptions & KubernetesOptions = {},
): Discovery =>
  kubernetesDiscovery(url, {
    graceMs: 20,
    backoff: exponentialBackoff({ initialMs: 50, maxMs: 500 }),
    onProblem: (p) => problems.push(p),
    requestTimeoutMs: 3000,
    ...extra,
  });

/** One endpoint of a raw slice. */
export interface RawEndpoint {
  readonly address: string;
  /** targetRef name (the instance id rxdisco gives it). */
  readonly name?: string;
  readonly ready?: boolean;
  readonly serving?: boolean;
  readonly terminating?: boolean;
  readonly zone?: string;
  readonly nodeName?: string;
}

/** Raw writes to one namespace of `k8s`. */
export const rawKube = (k8s: KubernetesCluster, ns: string) => {
  const slices = `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`;
  const upsert = async (collection: string, name: string, body: unknown): Promise<void> => {
    const created = await k8s.request('POST', collection, body);
    if (created.status === 409) {
      await k8s.api('PUT', `${collection}/${name}`, body);
    } else if (created.status < 200 || created.status > 299) {
      throw new Error(`POST ${collection} -> ${created.status}: ${JSON.stringify(created.body)}`);
    }
  };
  const raw = {
    /** A Service without a selector (its slices are written by hand). */
    service: (
      service: string,
      ports: ReadonlyArray<{ name: string; port: number }> = [{ name: 'http', port: 80 }],
    ) =>
      upsert(`/api/v1/namespaces/${ns}/services`, service, {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: service },
        spec: { ports: ports.map((p) => ({ ...p, targetPort: p.port })) },
      }),
    /** Creates or replaces the slice `name` of `service`. */
    slice: (
      service: string,
      name: string,
      endpoints: readonly RawEndpoint[],
      options: {
        readonly addressType?: 'IPv4' | 'IPv6';
        readonly ports?: ReadonlyArray<{ name?: string; port?: number }>;
      } = {},
    ) =>
      upsert(slices, name, {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name, labels: { 'kubernetes.io/service-name': service } },
        addressType: options.addressType ?? 'IPv4',
        ports: options.ports ?? [{ name: 'http', port: 8080, protocol: 'TCP' }],
        endpoints: endpoints.map((e) => ({
          addresses: [e.address],
          conditions: {
            ...(e.ready === undefined ? {} : { ready: e.ready }),
            ...(e.serving === undefined ? {} : { serving: e.serving }),
            ...(e.terminating === undefined ? {} : { terminating: e.terminating }),
          },
          ...(e.name === undefined
            ? {}
            : { targetRef: { kind: 'Pod', name: e.name, namespace: ns } }),
          ...(e.zone === undefined ? {} : { zone: e.zone }),
          ...(e.nodeName === undefined ? {} : { nodeName: e.nodeName }),
        })),
      }),
    deleteSlice: (name: string) => k8s.api('DELETE', `${slices}/${name}`),
    /** The names of the slices of `service`. */
    sliceNames: async (service: string): Promise<string[]> => {
      const body = (await k8s.api(
        'GET',
        `${slices}?labelSelector=${encodeURIComponent(`kubernetes.io/service-name=${service}`)}`,
      )) as { items: Array<{ metadata: { name: string } }> };
      return body.items.map((i) => i.metadata.name);
    },
    deleteService: (service: string) =>
      k8s.api('DELETE', `/api/v1/namespaces/${ns}/services/${service}`),
  };
  return raw;
};
