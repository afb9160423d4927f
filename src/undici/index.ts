/**
 * `rxdisco/undici`: an undici `Dispatcher` that sends requests for
 * `http://<service>/...` to live instances of the service, for undici's
 * `request()` and `fetch()` and Node's global `fetch`. Loads undici; the
 * `rxdisco` entry point does not.
 *
 * @module
 */
export { DiscoveryDispatcher, discoveryDispatcher } from './dispatcher.js';
export {
  type DiscoveryDispatcherOptions,
  type DispatcherRetryOptions,
  defaultServiceOf,
} from './options.js';
