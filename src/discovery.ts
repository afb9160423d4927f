/**
 * `discovery(url)`: one entry point for every registry. Parses the URL now
 * with the grammar of its scheme (a bad URL throws a `ConfigError` at once),
 * checks the params of `instances$()` when it is called, and loads the
 * backend lazily on first subscribe, so importing `rxdisco` loads no gRPC or
 * HTTP client. A backend whose third-party client is not installed fails
 * its load with a `ConfigError` naming the package to install.
 *
 * @module
 */
import { asDnsDiscovery } from './backends/dns/dns-discovery.js';
import { attachEurekaHandle, eurekaHandle } from './backends/eureka/handle.js';
import {
  type Backend,
  createDiscovery,
  type Discovery,
  type DiscoveryOptions,
} from './core/discovery.js';
import { withWatchParams } from './core/watch-params.js';
import { GRAMMARS, parseRegistryUrl, type RegistryConfig } from './registry-url.js';

/** How `discovery()` opens each kind of registry: a lazily loaded backend. */
type Openers = {
  readonly [K in RegistryConfig['kind']]: (
    config: Extract<RegistryConfig, { kind: K }>,
    options: DiscoveryOptions,
  ) => Discovery;
};

const lazily = (
  config: RegistryConfig,
  options: DiscoveryOptions,
  load: () => Promise<Backend>,
): Discovery => {
  const d = createDiscovery(config.url, load, options);
  return withWatchParams(d, GRAMMARS[config.kind]);
};

/** Opens each scheme with its backend loaded on first use. Backends join here as they land. */
const openers: Openers = {
  memory: (config, options) =>
    lazily(config, options, async () => {
      const { memoryBackend, memoryRegistry } = await import('./backends/memory/index.js');
      return memoryBackend(memoryRegistry(config.name));
    }),
  static: (config, options) =>
    lazily(config, options, async () => {
      const { staticBackend } = await import('./backends/static/index.js');
      return staticBackend(config.endpoints, config.url, config.secure);
    }),
  etcd: (config, options) =>
    lazily(config, options, async () => {
      const { etcdBackend } = await import('./backends/etcd/index.js');
      return etcdBackend(config);
    }),
  consul: (config, options) =>
    lazily(config, options, async () => {
      const { consulBackend } = await import('./backends/consul/index.js');
      return consulBackend(config);
    }),
  eureka: (config, options) => {
    // The handle ties setEurekaStatus(discovery, ...) to this discovery only.
    const handle = eurekaHandle(config, {});
    const d = lazily(config, options, async () => {
      const { eurekaBackend } = await import('./backends/eureka/index.js');
      return eurekaBackend(config, {}, handle);
    });
    return attachEurekaHandle(d, handle);
  },
  k8s: (config, options) =>
    lazily(config, options, async () => {
      const { openKubernetesBackend } = await import('./backends/kubernetes/index.js');
      return openKubernetesBackend(config);
    }),
  zookeeper: (config, options) =>
    lazily(config, options, async () => {
      const { openZookeeperBackend } = await import('./backends/zookeeper/index.js');
      return openZookeeperBackend(config);
    }),
  'dns+srv': (config, options) =>
    asDnsDiscovery(
      config,
      createDiscovery(
        config.url,
        async () => {
          const { loadDnsBackend } = await import('./backends/dns/index.js');
          return loadDnsBackend(config);
        },
        options,
      ),
    ),
  dns: (config, options) =>
    asDnsDiscovery(
      config,
      createDiscovery(
        config.url,
        async () => {
          const { loadDnsBackend } = await import('./backends/dns/index.js');
          return loadDnsBackend(config);
        },
        options,
      ),
    ),
};

/**
 * A {@link Discovery} for a registry URL: `memory://`, `static://h:p,h:p`,
 * `etcd://h:p/prefix/`, `consul://h:p`, `eureka://h:p/eureka`, `k8s://[h:p]?namespace=` (read-only), `dns+srv://resolver:port/`,
 * `dns://resolver:port/?port=8080` (both read-only).
 *
 * @throws {ConfigError} at once when the URL is malformed, names an unknown
 *   scheme, a port out of range or an unknown option; `instances$()` throws
 *   one at once for a param the registry does not take.
 * @example
 * ```ts
 * import { discovery, roundRobin, live } from 'rxdisco';
 * const hello = live(discovery('memory://').instances$('hello').pipe(roundRobin()));
 * hello.pick(); // Instance | undefined
 * ```
 */
export const discovery = (url: string, options: DiscoveryOptions = {}): Discovery => {
  const config = parseRegistryUrl(url);
  const open = openers[config.kind] as (c: RegistryConfig, o: DiscoveryOptions) => Discovery;
  return open(config, options);
};
