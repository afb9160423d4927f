/**
 * Operators over instance-set streams: filters and views, change events,
 * balancers and the live holder for synchronous picks, calls with retries
 * across instances, outlier ejection, guards and registry composition.
 *
 * @module
 */
export {
  type Balancer,
  balancerOperator,
  type CancelledOutcome,
  type CompletedOutcome,
  type Outcome,
} from './balancers/balancer.js';
export {
  type ConsistentHashOptions,
  consistentHash,
} from './balancers/consistent-hash.js';
export { type EwmaOptions, ewma } from './balancers/ewma.js';
export { type LeastRequestOptions, leastRequest } from './balancers/least-request.js';
export { type RandomOptions, random } from './balancers/random.js';
export { type RoundRobinOptions, roundRobin } from './balancers/round-robin.js';
export {
  type WeightedRoundRobinOptions,
  weightedRoundRobin,
} from './balancers/weighted-round-robin.js';
export type { WeightPolicy, WeightRun, WeightsOption } from './balancers/weights.js';
export { type ByLocalityOptions, byLocality, tierLoads } from './by-locality.js';
export {
  type AttemptContext,
  type AttemptFn,
  type AttemptKind,
  type CallOptions,
  type CallTarget,
  call,
  call$,
  type HedgeOptions,
  type RetryOptions,
} from './call.js';
export {
  AttemptTimeoutError,
  CallError,
  type CallGiveUp,
  type FailedAttempt,
  isAttemptTimeoutError,
  isCallError,
  isUnsuccessfulValue,
  UnsuccessfulValue,
} from './call-error.js';
export { diff, type SetDiff } from './diff.js';
export type { BalancerExplanation, Candidate, PickExplanation, SetNote } from './explain.js';
export { type FallbackOptions, type FallbackSwitch, fallback } from './fallback.js';
export { healthy } from './healthy.js';
export { type HoldRemovalsOptions, holdRemovals } from './hold-removals.js';
export { type LastKnownGoodOptions, lastKnownGood } from './last-known-good.js';
export { type LiveBalancer, live, type PickAsyncOptions } from './live.js';
export { LOAD_REPORT_HEADER, type LoadReport, loadWeight, parseLoadReport } from './load-report.js';
export { type LoadReported, type LoadReportedOptions, loadReported } from './load-reported.js';
export { mergeRegistries } from './merge-registries.js';
export {
  createOutlierDetector,
  type OutlierDetector,
  type OutlierDetectorOptions,
  type OutlierEvent,
} from './outlier-ejection.js';
export { type PanicGuardOptions, type PanicRefusal, panicGuard } from './panic-guard.js';
export { preferZone } from './prefer-zone.js';
export {
  defaultRetryBudget,
  type RetryBudget,
  type RetryBudgetOptions,
  retryBudget,
} from './retry-budget.js';
export {
  REGISTERED_AT_METADATA,
  type SlowStartOptions,
  slowStart,
  slowStartFactor,
} from './slow-start.js';
export { rendezvousScore, type SubsetOptions, subset } from './subset.js';
export { withTags } from './with-tags.js';
