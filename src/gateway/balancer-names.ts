/**
 * The balancers the gateway knows by name, without importing them (the
 * CLI checks `--balancer` before anything is loaded).
 *
 * @module
 */

/** The balancers `gateway()` (and `rxdisco gateway --balancer`) knows by name. */
export const BALANCER_NAMES = [
  'round-robin',
  'random',
  'weighted-round-robin',
  'least-request',
  'ewma',
] as const;

/**
 * A balancer by name: `round-robin` (`roundRobin()`), `random`,
 * `weighted-round-robin` (smooth, by instance weight), `least-request`
 * (power of two choices over in-flight requests), `ewma` (peak-EWMA
 * latency).
 */
export type BalancerName = (typeof BALANCER_NAMES)[number];
