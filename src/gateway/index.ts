/**
 * `rxdisco/gateway`: an API gateway over any registry, as a `node:http`
 * request listener (`rxdisco gateway` on the command line). Loads undici;
 * the `rxdisco` entry point does not.
 *
 * @module
 */
export { type Gateway, gateway } from './gateway.js';
export {
  BALANCER_NAMES,
  type BalancerFactory,
  type BalancerName,
  type GatewayOptions,
} from './options.js';
export type { InstanceStats, StatusSource } from './status-source.js';
