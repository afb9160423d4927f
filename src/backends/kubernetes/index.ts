/**
 * `rxdisco/kubernetes`: the Kubernetes backend (`k8s://` URLs). A Service's
 * endpoints are read from its `discovery.k8s.io/v1` EndpointSlices with
 * rxdisco's own list+watch loop over `node:https` (resourceVersion resume,
 * bookmarks, re-list on 410, a silent watch treated as dead); credentials
 * come from the service account or the kubeconfig, loaded with
 * `@kubernetes/client-node` (an optional peer dependency, imported on first
 * use). `register()` adds the instance as an endpoint of an EndpointSlice
 * managed by rxdisco in a Service without a selector; `catalog()` is one
 * list+watch of every EndpointSlice of the namespace.
 *
 * @module
 */
import {
  type Backend,
  createDiscovery,
  type Discovery,
  type DiscoveryOptions,
} from '../../core/discovery.js';
import type { Registrar } from '../../core/registration.js';
import { configOf } from '../../core/url.js';
import { withWatchParams } from '../../core/watch-params.js';
import { kubernetesCatalog } from './catalog.js';
import { kubernetesClient } from './client.js';
import { type KubernetesConnection, loadConnection } from './credentials.js';
import { type KubernetesOptions, resolveKubernetesOptions } from './options.js';
import { kubernetesRegistrar } from './registrar.js';
import { endpointSliceSource, servicesSource } from './source.js';
import { type KubernetesConfig, kubernetesUrl } from './url.js';

/**
 * The Kubernetes {@link Backend} for a parsed `k8s://` URL and a loaded
 * connection. Nothing is contacted until a watch starts.
 *
 * @throws {ConfigError} for an option out of range.
 */
export const kubernetesBackend = (
  config: KubernetesConfig,
  connection: KubernetesConnection,
  options: KubernetesOptions = {},
): Backend => {
  const timing = resolveKubernetesOptions(options, config.url);
  const client = kubernetesClient(connection);
  return {
    instances: (service, params) =>
      endpointSliceSource(client, service, params, connection.namespace, config.url, timing),
    services: () => servicesSource(client, connection.namespace, config.url, timing),
    catalog: () => kubernetesCatalog(client, connection.namespace, config.url, timing),
    // The catalog holds the Services of the namespace by their own names: `hello.other` is not in it.
    catalogLists: (service) => !service.includes('.'),
    registrar: kubernetesRegistrar({
      client,
      namespace: connection.namespace,
      registry: config.url,
      createService: options.createService ?? false,
      requestTimeoutMs: timing.requestTimeoutMs,
      now: () => Date.now(),
    }) as Registrar<unknown>,
    close: async () => client.close(),
  };
};

/**
 * Opens the backend: imports `@kubernetes/client-node` and loads the
 * credentials (a missing package fails the load with a `ConfigError`
 * naming the `npm install`).
 */
export const openKubernetesBackend = async (
  config: KubernetesConfig,
  options: KubernetesOptions = {},
): Promise<Backend> =>
  kubernetesBackend(config, await loadConnection(config, options.serviceAccountDir), options);

/**
 * A {@link Discovery} over a Kubernetes API server. Options are checked now.
 *
 * @param url - `k8s://[host:port]?namespace=&context=`, or a parsed config.
 * @throws {ConfigError} for a bad URL or an option out of range.
 * @example
 * ```ts
 * import { kubernetesDiscovery } from 'rxdisco/kubernetes';
 * const registry = kubernetesDiscovery('k8s://?namespace=shop');
 * registry.instances$('hello', { port: 'http' }).subscribe((set) => console.log(set.instances));
 * ```
 */
export const kubernetesDiscovery = (
  url: string | KubernetesConfig,
  options: DiscoveryOptions & KubernetesOptions = {},
): Discovery => {
  const config = configOf(kubernetesUrl, url);
  resolveKubernetesOptions(options, config.url);
  const d = createDiscovery(config.url, () => openKubernetesBackend(config, options), options);
  return withWatchParams(d, kubernetesUrl);
};

export { EndpointSlice, endpointStatus, mergeSlices, SliceEndpoint, SlicePort } from './codecs.js';
export type { KubernetesConnection } from './credentials.js';
export {
  ENDPOINT_ANNOTATION_PREFIX,
  endpointAnnotation,
  MANAGED_BY,
  ManagedRecord,
  managedSliceName,
  RXDISCO_MANAGER,
} from './managed.js';
export type { KubernetesOptions } from './options.js';
export type { KubernetesLease } from './registrar.js';
export type { KubernetesConfig } from './url.js';
