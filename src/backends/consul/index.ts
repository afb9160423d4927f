/**
 * `rxdisco/consul`: the Consul backend (`consul://` and `consuls://` URLs)
 * over `node:http` (the backends' own transport, `../transport.ts`; no ky,
 * no fetch). Watches are blocking queries on `/v1/health/service/<name>` and
 * `/v1/catalog/services`; the catalog (`catalog$()`, and the per-service
 * watches past `consulViewsPast`) is two blocking queries plus reads of the
 * services that changed (`catalog.ts`); registrations are agent services
 * with a TTL check that rxdisco passes. One HTTP connection pool per
 * backend, created on first use and released by `close()`, with at most
 * `maxConnections` requests in flight (`slots.ts`).
 *
 * @module
 */
import { asyncScheduler, type SchedulerLike } from 'rxjs';
import type { CatalogSource } from '../../core/catalog.js';
import {
  type Backend,
  createDiscovery,
  type Discovery,
  type DiscoveryOptions,
} from '../../core/discovery.js';
import { configOf } from '../../core/url.js';
import { withWatchParams } from '../../core/watch-params.js';
import { consulCatalog } from './catalog.js';
import { type ConnectionCap, consulClient } from './client.js';
import { type ConsulOptions, resolveConsulOptions } from './options.js';
import { consulRegistrar } from './registrar.js';
import { consulServices, consulSource } from './source.js';
import { type ConsulConfig, consulUrl } from './url.js';

/** Options of {@link consulBackend}. */
export interface ConsulBackendOptions extends ConsulOptions {
  /**
   * Scheduler of the blocking-query pacing timers.
   * @default asyncScheduler
   */
  readonly scheduler?: SchedulerLike;
}

/**
 * The Consul {@link Backend} for a parsed `consul://` / `consuls://` URL.
 * Nothing is contacted until a watch or registration starts.
 *
 * @throws {ConfigError} for an option out of range.
 */
export const consulBackend = (
  config: ConsulConfig,
  options: ConsulBackendOptions = {},
): Backend => {
  const resolved = resolveConsulOptions(options, config.url, config.token, config.maxConnections);
  const client = consulClient(config, resolved.token, resolved.answers, resolved.connections);
  const deps = {
    client,
    config,
    options: resolved,
    scheduler: options.scheduler ?? asyncScheduler,
  };
  return {
    instances: (service, params) => consulSource(deps, service, params),
    services: () => consulServices(deps),
    catalog: () => consulCatalog(deps) as CatalogSource<unknown>,
    registrar: consulRegistrar({ client, options: resolved, registry: config.url }),
    close: async () => client.close(),
  };
};

/**
 * How many per-service watches a Consul discovery keeps on blocking
 * queries of their own before new ones are views of `catalog$()`: what the
 * blocking slots hold besides the catalog's two queries and `services$()`
 * (45 with the default 64 connections). Past it a per-service blocking
 * query would wait for a slot (up to `waitMs`) and miss changes meanwhile.
 */
export const consulViewsPast = (cap: ConnectionCap): number => Math.max(0, cap.maxBlocking - 3);

/**
 * A {@link Discovery} over Consul. Options are checked now, and the params
 * of `instances$()` when it is called.
 *
 * @param url - `consul://host:port[,host:port...]?dc=dc1&token=...`,
 *   `consuls://host:8501?ca=/ca.pem&cert=/c.pem&key=/k.pem`, or a parsed config.
 * @throws {ConfigError} for a bad URL or an option out of range.
 * @example
 * ```ts
 * import { consulDiscovery } from 'rxdisco/consul';
 * const registry = consulDiscovery('consul://127.0.0.1:8500', { token: process.env.CONSUL_HTTP_TOKEN });
 * registry.instances$('hello').subscribe((set) => console.log(set.instances));
 * registry.instances$('hello', { passing: false, tag: 'v2' }); // every instance tagged v2, any health
 * ```
 */
export const consulDiscovery = (
  url: string | ConsulConfig,
  options: DiscoveryOptions & ConsulOptions = {},
): Discovery => {
  const config = configOf(consulUrl, url);
  // Check the options now, not on first subscribe.
  const resolved = resolveConsulOptions(options, config.url, config.token, config.maxConnections);
  const d = createDiscovery(config.url, async () => consulBackend(config, options), {
    ...options,
    catalogViewsPast: options.catalogViewsPast ?? consulViewsPast(resolved.connections),
  });
  return withWatchParams(d, consulUrl);
};

export {
  type AnswerLimits,
  AnswerTooLargeError,
  isAnswerTooLargeError,
} from '../transport.js';
export type { ConsulCatalogCursor } from './catalog.js';
export type { ConsulConsistency } from './client.js';
export { decodeHealth } from './codecs.js';
export { decodeGoMicroTags, encodeGoMicroTags, type GoMicroTags } from './gomicro.js';
export type { ConsulCheck, ConsulOptions } from './options.js';
export type { ConsulLease } from './registrar.js';
export type { ConsulConfig } from './url.js';
