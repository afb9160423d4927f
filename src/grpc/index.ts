/**
 * `rxdisco/grpc`: grpc-js channels whose targets (`rxdisco:///<service>`)
 * resolve through a discovery and balance with an rxdisco balancer, for
 * `@grpc/grpc-js` 1.13.x and 1.14.x (an optional peer dependency: this
 * entry point loads it; the `rxdisco` entry point does not).
 *
 * @module
 */
export { type GrpcModule, LB_NAME } from './adapter.js';
export { outcomeOf } from './balancer.js';
export {
  type RxdiscoResolver,
  type RxdiscoResolverOptions,
  registerRxdiscoResolver,
} from './resolver.js';
