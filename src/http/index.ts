/**
 * `rxdisco/ky`: ky instances whose requests go to the live instances of a
 * service, with retries on other instances and outcomes fed back to the
 * balancer. Loads ky; the `rxdisco` entry point does not.
 *
 * @module
 */
export { type KyForOptions, type KyRetryOptions, kyFor, type ServiceKy } from './ky.js';
