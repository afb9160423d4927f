/**
 * Hooks of the discovery dispatcher for rxdisco's own gateway, keyed by
 * symbols that no entry point exports (not public API).
 *
 * @module
 */

/** `dispatcher[DISPATCH_SERVICE](service, opts, handler)`: dispatch to a named service, whatever the origin. */
export const DISPATCH_SERVICE: unique symbol = Symbol('rxdisco.undici.dispatchService');

/** `dispatcher[FORGET_SERVICE](service)`: drop a service's route (balancer, pools) once it left the registry. */
export const FORGET_SERVICE: unique symbol = Symbol('rxdisco.undici.forgetService');
