/**
 * `discovery(url)`: one entry point for every registry. Parses the URL now
 * (a bad URL throws a `ConfigError` at once) and loads the backend
 * lazily on first subscribe, so importing `rxdisco` loads no gRPC or HTTP
 * client.
 *
 * @module
 */
import {
  type Backend,
  createDiscovery,
  type Discovery,
  type DiscoveryOptions,
} from './core/discovery.js';
import { parseRegistryUrl, type RegistryConfig } from './core/url.js';

type Loader<K extends RegistryConfig['kind']> = (
  config: Extract<RegistryConfig, { kind: K }>,
) => Promise<Backend>;

/** Loads the backend of each scheme on first use. Backends join here as they land. */
const loaders: { readonly [K in RegistryConfig['kind']]: Loader<K> } = {
  memory: async (config) => {
    const { memoryBackend, memoryRegistry } = await import('./backends/memory/index.js');
    return memoryBackend(memoryRegistry(config.name));
  },
  static: async (config) => {
    const { staticBackend } = await import('./backends/static/index.js');
    return staticBackend(config.endpoints, config.url, config.secure);
  },
  etcd: async (config) => {
    const { etcdBackend } = await import('./backends/etcd/index.js');
    return etcdBackend(config);
  },
  consul: async (config) => {
    const { consulBackend } = await import('./backends/consul/index.js');
    return consulBackend(config);
  },
  eureka: async (config) => {
    const { eurekaBackend } = await import('./backends/eureka/index.js');
    return eurekaBackend(config);
  },
};

/**
 * A {@link Discovery} for a registry URL: `memory://`, `static://h:p,h:p`,
 * `etcd://h:p/prefix/`, `consul://h:p`, `eureka://h:p/eureka`.
 *
 * @throws {ConfigError} at once when the URL is malformed, names an unknown
 *   scheme, a port out of range or an unknown option.
 * @example
 * ```ts
 * import { discovery, roundRobin, live } from 'rxdisco';
 * const hello = live(discovery('memory://').instances$('hello').pipe(roundRobin()));
 * hello.pick(); // Instance | undefined
 * ```
 */
export const discovery = (url: string, options: DiscoveryOptions = {}): Discovery => {
  const config = parseRegistryUrl(url);
  const load = loaders[config.kind] as Loader<RegistryConfig['kind']>;
  return createDiscovery(config.url, () => load(config as never), options);
};
