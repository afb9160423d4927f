/**
 * `rxdisco/gateway`: an API gateway over any registry, as a `node:http`
 * request listener (`rxdisco gateway` on the command line). Loads undici;
 * the `rxdisco` entry point does not.
 *
 * @module
 */

export { BALANCER_NAMES, type BalancerName } from './balancer-names.js';
export { type Gateway, gateway } from './gateway.js';
export type { BalancerFactory, GatewayOptions } from './options.js';
export { type StatusPage, type StatusPageOptions, statusPage } from './status.js';
export type { InstanceStats, StatusSource } from './status-source.js';
export type {
  StatsTuple,
  StatusInstance,
  StatusService,
  StatusStaleness,
  StatusState,
} from './status-state.js';
