/**
 * rxdisco: reactive service discovery. The live instances of any service as
 * RxJS Observables, operators that turn them into balancers, and a
 * self-healing registration lifecycle.
 *
 * This entry point is what an application uses, and loads no registry
 * client: `discovery(url)` imports the backend of a URL's scheme on first
 * use. Backends with heavy clients have their own subpath (`rxdisco/etcd`,
 * ...); the SPI for writing a backend is `rxdisco/backend`.
 *
 * @packageDocumentation
 */

export {
  CompactedError,
  isCompactedError,
  type MemoryChange,
  type MemoryEntry,
  MemoryRegistry,
  memoryDiscovery,
  memoryRegistry,
} from './backends/memory/index.js';
export { type StaticEntries, staticDiscovery } from './backends/static/index.js';
export {
  type Backoff,
  type BackoffPolicy,
  type ExponentialBackoffOptions,
  exponentialBackoff,
} from './core/backoff.js';
export type { Catalog } from './core/catalog.js';
export type { Discovery, DiscoveryOptions, WatchParams } from './core/discovery.js';
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
export type { RegisterOptions, RegistrationEvent } from './core/registration.js';
export { shutdownSignal } from './core/shutdown-signal.js';
export type { ServiceList } from './core/watch.js';
export { discovery } from './discovery.js';
export {
  type AttemptContext,
  type AttemptFn,
  type AttemptKind,
  AttemptTimeoutError,
  type Balancer,
  type BalancerExplanation,
  type ByLocalityOptions,
  balancerOperator,
  byLocality,
  CallError,
  type CallGiveUp,
  type CallOptions,
  type CallTarget,
  type CancelledOutcome,
  type Candidate,
  type CompletedOutcome,
  type ConsistentHashOptions,
  call,
  call$,
  consistentHash,
  createOutlierDetector,
  defaultRetryBudget,
  diff,
  type EwmaOptions,
  ewma,
  type FailedAttempt,
  type FallbackOptions,
  type FallbackSwitch,
  fallback,
  type HedgeOptions,
  type HoldRemovalsOptions,
  healthy,
  holdRemovals,
  isAttemptTimeoutError,
  isCallError,
  isUnsuccessfulValue,
  type LastKnownGoodOptions,
  type LeastRequestOptions,
  type LiveBalancer,
  LOAD_REPORT_HEADER,
  type LoadReport,
  type LoadReported,
  type LoadReportedOptions,
  lastKnownGood,
  leastRequest,
  live,
  loadReported,
  loadWeight,
  mergeRegistries,
  type Outcome,
  type OutlierDetector,
  type OutlierDetectorOptions,
  type OutlierEvent,
  type PanicGuardOptions,
  type PanicRefusal,
  type PickAsyncOptions,
  type PickExplanation,
  panicGuard,
  parseLoadReport,
  preferZone,
  type RandomOptions,
  REGISTERED_AT_METADATA,
  type RetryBudget,
  type RetryBudgetOptions,
  type RetryOptions,
  type RoundRobinOptions,
  random,
  rendezvousScore,
  retryBudget,
  roundRobin,
  type SetDiff,
  type SetNote,
  type SlowStartOptions,
  type SubsetOptions,
  slowStart,
  slowStartFactor,
  subset,
  tierLoads,
  UnsuccessfulValue,
  type WeightedRoundRobinOptions,
  type WeightPolicy,
  type WeightRun,
  type WeightsOption,
  weightedRoundRobin,
  withTags,
} from './operators/index.js';
