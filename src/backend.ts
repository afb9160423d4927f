/**
 * `rxdisco/backend`: the SPI for writing a backend. A backend supplies a
 * watch source per service, a service-name source and a registrar (a
 * {@link Backend}); {@link createDiscovery} turns it into a `Discovery` with
 * sharing, retries with backoff, staleness, de-duplication and the
 * registration lifecycle, the same for every registry. An application needs
 * none of this: it imports `rxdisco`.
 *
 * The contract, and the memory backend as a worked example, are in
 * docs/architecture.md.
 *
 * @example
 * ```ts
 * import { type Backend, createDiscovery } from 'rxdisco/backend';
 *
 * const registry = createDiscovery('my://registry', async () => myBackend());
 * registry.instances$('hello').subscribe((set) => console.log(set.instances));
 * ```
 *
 * @packageDocumentation
 */

export type { EtcdFormat } from './backends/etcd/url.js';
export {
  type Catalog,
  type CatalogEvent,
  type CatalogRemoval,
  type CatalogSource,
  emptyCatalog,
  watchCatalog,
} from './core/catalog.js';
export {
  type Decoded,
  decode,
  decodeInstance,
  decodeJson,
  decodeKeyedInstance,
  ENTRY_LIMITS,
  type EntryLimits,
  InstanceRecord,
  type RecordKey,
  toRecord,
} from './core/codecs.js';
export {
  type Backend,
  createDiscovery,
  type Discovery,
  type DiscoveryOptions,
  type WatchParams,
} from './core/discovery.js';
export type { Registrar } from './core/registration.js';
export type { Endpoint } from './core/url.js';
export type { ServiceList, ServiceListEvent, SourceEvent, WatchSource } from './core/watch.js';
export { type WatchParamsSpec, withWatchParams } from './core/watch-params.js';
export { parseRegistryUrl, type RegistryConfig, type RegistryScheme } from './registry-url.js';
