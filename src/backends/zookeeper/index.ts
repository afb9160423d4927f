/**
 * `rxdisco/zookeeper`: the ZooKeeper backend (`zk://` URLs) on
 * `node-zookeeper-client` (an optional peer dependency, loaded on first
 * use). One client and session per backend; the watches of every service
 * share it. Reads Curator / Spring Cloud Zookeeper and go-kit `sd/zk`
 * layouts, detected per node; writes the one `?format=` names.
 *
 * @module
 */
import {
  type Backend,
  createDiscovery,
  type Discovery,
  type DiscoveryOptions,
} from '../../core/discovery.js';
import { configOf } from '../../core/url.js';
import { withWatchParams } from '../../core/watch-params.js';
import { zookeeperRegistrar } from './registrar.js';
import { resolveZookeeperOptions, sessionHolder, type ZookeeperOptions } from './session.js';
import { zookeeperServices, zookeeperSource } from './source.js';
import { type ZookeeperConfig, zookeeperUrl } from './url.js';
import { loadZk, type ZkModule } from './zk-client.js';

/**
 * The ZooKeeper {@link Backend} for a parsed `zk://` URL and the loaded
 * `node-zookeeper-client` module. Nothing is contacted until a watch or
 * registration starts.
 *
 * @throws {ConfigError} for an option out of range.
 */
export const zookeeperBackend = (
  config: ZookeeperConfig,
  options: ZookeeperOptions,
  zk: ZkModule,
): Backend => {
  const resolved = resolveZookeeperOptions(options, config.url);
  const sessions = sessionHolder(config, resolved, zk);
  const registry = config.url;
  return {
    instances: (service) => zookeeperSource(sessions, config.base, service, registry),
    services: () => zookeeperServices(sessions, config.base, registry),
    registrar: zookeeperRegistrar({ sessions, base: config.base, format: config.format, registry }),
    close: async () => sessions.close(),
  };
};

/**
 * Opens the backend: imports node-zookeeper-client (a missing package fails
 * the load with a `ConfigError` naming the `npm install`).
 */
export const openZookeeperBackend = async (
  config: ZookeeperConfig,
  options: ZookeeperOptions = {},
): Promise<Backend> => zookeeperBackend(config, options, await loadZk());

/**
 * A {@link Discovery} over ZooKeeper. Options are checked now.
 *
 * @param url - `zk://host:port[,host:port...]/base?format=curator|gokit`, or a parsed config.
 * @throws {ConfigError} for a bad URL or an option out of range.
 * @example
 * ```ts
 * import { zookeeperDiscovery } from 'rxdisco/zookeeper';
 * const registry = zookeeperDiscovery('zk://127.0.0.1:2181/services');
 * registry.instances$('hello').subscribe((set) => console.log(set.instances));
 * ```
 */
export const zookeeperDiscovery = (
  url: string | ZookeeperConfig,
  options: DiscoveryOptions & ZookeeperOptions = {},
): Discovery => {
  const config = configOf(zookeeperUrl, url);
  resolveZookeeperOptions(options, config.url);
  const d = createDiscovery(config.url, () => openZookeeperBackend(config, options), options);
  return withWatchParams(d, zookeeperUrl);
};

export { CuratorInstance, decodeNode, encodeNode, type NodeKey, SpringPayload } from './codecs.js';
export type { ZookeeperLease } from './registrar.js';
export type { ResolvedZookeeperOptions, ZookeeperOptions } from './session.js';
export type { ZookeeperConfig, ZookeeperFormat } from './url.js';
