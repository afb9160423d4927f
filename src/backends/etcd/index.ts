/**
 * `rxdisco/etcd`: the etcd v3 backend (`etcd://` and `etcds://` URLs) on
 * the `etcd3` client. One client per backend, created on first use and
 * closed by `close()`; the watches of every service share its one gRPC
 * watch stream.
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
import { clientHolder, type EtcdOptions, resolveEtcdOptions } from './client.js';
import type { OpenWatcher } from './prefix-watch.js';
import { etcdRegistrar } from './registrar.js';
import { etcdCatalog, etcdServices, etcdSource } from './source.js';
import { type EtcdConfig, etcdUrl } from './url.js';

/** Options of {@link etcdBackend}: the client tuning, and a watcher factory for tests. */
export interface EtcdBackendOptions extends EtcdOptions {
  /** @internal Opens the etcd3 watchers; tests wrap it to simulate faults. */
  readonly openWatcher?: OpenWatcher;
}

/**
 * The etcd {@link Backend} for a parsed `etcd://` / `etcds://` URL. Nothing
 * is contacted until a watch or registration starts.
 *
 * @throws {ConfigError} for an option out of range.
 */
export const etcdBackend = (config: EtcdConfig, options: EtcdBackendOptions = {}): Backend => {
  const resolved = resolveEtcdOptions(options, config.url);
  const clients = clientHolder(config, resolved);
  const registry = config.url;
  const deps = {
    clients,
    options: resolved,
    context: { registry },
    ...(options.openWatcher === undefined ? {} : { openWatcher: options.openWatcher }),
  };
  return {
    instances: (service) =>
      etcdSource({ ...deps, context: { registry, service } }, config.prefix, service, registry),
    services: () => etcdServices(deps, config.prefix),
    catalog: () => etcdCatalog(deps, config.prefix, registry),
    registrar: etcdRegistrar({
      clients,
      options: resolved,
      prefix: config.prefix,
      format: config.format ?? 'json',
      registry,
    }),
    close: async () => clients.close(),
  };
};

/**
 * A {@link Discovery} over etcd v3. Options are checked now.
 *
 * @param url - `etcd://host:port[,host:port...]/prefix/?format=json|gokit|gomicro|grpc`,
 *   `etcds://user:password@host:port/prefix/?ca=/ca.pem&cert=/c.pem&key=/k.pem`,
 *   or a parsed config.
 * @throws {ConfigError} for a bad URL or an option out of range.
 * @example
 * ```ts
 * import { etcdDiscovery } from 'rxdisco/etcd';
 * const registry = etcdDiscovery('etcd://127.0.0.1:2379/services/');
 * registry.instances$('hello').subscribe((set) => console.log(set.instances));
 * ```
 */
export const etcdDiscovery = (
  url: string | EtcdConfig,
  options: DiscoveryOptions & EtcdBackendOptions = {},
): Discovery => {
  const config = configOf(etcdUrl, url);
  resolveEtcdOptions(options, config.url);
  const d = createDiscovery(config.url, async () => etcdBackend(config, options), options);
  return withWatchParams(d, etcdUrl);
};

export type { EtcdOptions } from './client.js';
export { decodeEntry, encodeEntry } from './codecs.js';
export type { EtcdCursor } from './prefix-watch.js';
export type { EtcdLease } from './registrar.js';
export type { EtcdConfig, EtcdFormat } from './url.js';
