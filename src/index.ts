/**
 * rxdisco: reactive service discovery. The live instances of any service as
 * RxJS Observables, operators that turn them into balancers, and a
 * self-healing registration lifecycle.
 *
 * This entry point loads no registry client: `discovery(url)` imports the
 * backend of a URL's scheme on first use. Backends with heavy clients have
 * their own subpath (`rxdisco/etcd`, ...).
 *
 * @packageDocumentation
 */

export {
  CompactedError,
  type MemoryChange,
  type MemoryEntry,
  MemoryRegistry,
  memoryDiscovery,
  memoryRegistry,
} from './backends/memory/index.js';
export { type StaticEntries, staticDiscovery } from './backends/static/index.js';
export { shutdownSignal } from './cli/shutdown-signal.js';
export {
  type Backoff,
  type ExponentialBackoffOptions,
  exponentialBackoff,
} from './core/backoff.js';
export {
  type Backend,
  createDiscovery,
  type Discovery,
  type DiscoveryOptions,
  type WatchParams,
} from './core/discovery.js';
export {
  AuthenticationError,
  ConfigError,
  DecodeError,
  type ErrorContext,
  isAuthenticationError,
  isConfigError,
  isDecodeError,
  isNoInstanceError,
  isRegistrationLostError,
  isRegistryUnavailableError,
  isRxdiscoError,
  NoInstanceError,
  RegistrationLostError,
  RegistryUnavailableError,
  RxdiscoError,
} from './core/errors.js';
export {
  baseUrl,
  createInstance,
  INSTANCE_STATUSES,
  type Instance,
  type InstanceSpec,
  type InstanceStatus,
  sameInstance,
} from './core/instance.js';
export {
  emptySet,
  type FreshInstanceSet,
  type InstanceSet,
  type InstanceUpdate,
  instanceSet,
  type SetDelta,
  type StaleInstanceSet,
} from './core/instance-set.js';
export type { RegisterOptions, Registrar, RegistrationEvent } from './core/registration.js';
export {
  type Endpoint,
  type EtcdFormat,
  parseRegistryUrl,
  type RegistryConfig,
  type RegistryScheme,
} from './core/url.js';
export type { ServiceList, ServiceListEvent, SourceEvent, WatchSource } from './core/watch.js';
export { discovery } from './discovery.js';
export {
  type Balancer,
  balancerOperator,
  diff,
  healthy,
  type LeastRequestOptions,
  type LiveBalancer,
  leastRequest,
  live,
  type Outcome,
  type PickAsyncOptions,
  preferZone,
  type RandomOptions,
  random,
  roundRobin,
  type SetDiff,
  weightedRoundRobin,
  withTags,
} from './operators/index.js';
