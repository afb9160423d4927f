/**
 * Operators over instance-set streams: filters and views, change events,
 * balancers and the live holder for synchronous picks.
 *
 * @module
 */
export { type Balancer, balancerOperator, type Outcome } from './balancers/balancer.js';
export { type LeastRequestOptions, leastRequest } from './balancers/least-request.js';
export { type RandomOptions, random } from './balancers/random.js';
export { roundRobin } from './balancers/round-robin.js';
export { weightedRoundRobin } from './balancers/weighted-round-robin.js';
export { diff, type SetDiff } from './diff.js';
export { healthy } from './healthy.js';
export { type LiveBalancer, live, type PickAsyncOptions } from './live.js';
export { preferZone } from './prefer-zone.js';
export { withTags } from './with-tags.js';
