/**
 * Options of the Consul backend, all optional, resolved once into
 * {@link ResolvedConsulOptions} and checked with a {@link ConfigError}.
 *
 * @module
 */
import type { Instance } from '../../core/instance.js';
import { durationOption, enumOption, numberOption } from '../../core/options.js';
import { type AnswerLimits, type ResolvedAnswerLimits, resolveAnswerLimits } from '../transport.js';
import type { BlockingTuning } from './blocking.js';
import type { ConnectionCap, ConsulConsistency } from './client.js';
import { MAX_CONNECTIONS_FIX } from './url.js';

/**
 * The health check a registration carries. `ttl` (the default): rxdisco
 * passes it every `renewEveryMs`; `http` / `tcp`: the Consul agent probes the
 * instance itself, and rxdisco only checks that the agent still knows it.
 */
export type ConsulCheck =
  | { readonly type: 'ttl' }
  | {
      readonly type: 'http';
      /** The URL the agent GETs; 2xx is passing, 429 warning, anything else critical. */
      readonly url: string;
      /** Milliseconds between probes (Consul's `Interval`). @default 10_000 */
      readonly intervalMs?: number;
      /** Milliseconds before a probe fails (Consul's `Timeout`). @default 5000 */
      readonly timeoutMs?: number;
      /** Skip TLS verification of an https URL. @default false */
      readonly tlsSkipVerify?: boolean;
    }
  | {
      readonly type: 'tcp';
      /** `host:port` the agent connects to. @default the instance's host:port */
      readonly address?: string;
      /** Milliseconds between probes (Consul's `Interval`). @default 10_000 */
      readonly intervalMs?: number;
      /** Milliseconds before a probe fails (Consul's `Timeout`). @default 5000 */
      readonly timeoutMs?: number;
    };

/**
 * Tuning of the Consul backend. Every field is optional. The
 * {@link AnswerLimits} (`maxAnswerBytes`, `idleReadTimeoutMs`,
 * `bodyTimeoutMs`) bound what one answer of an agent may cost.
 */
export interface ConsulOptions extends AnswerLimits {
  /** ACL token, sent as `X-Consul-Token`; wins over the URL's `?token=`. Never logged. */
  readonly token?: string;
  /**
   * Milliseconds each blocking query waits for a change (Consul's `?wait=`;
   * Consul adds up to wait/16). 1 s to 10 min.
   * @default 60_000
   */
  readonly waitMs?: number;
  /**
   * Read consistency of watches: `default`, `stale` (any server answers,
   * survives leader elections) or `consistent`. A watch's `stale` /
   * `consistent` param overrides it.
   * @default 'default'
   */
  readonly consistency?: ConsulConsistency;
  /**
   * Minimum milliseconds between the starts of two queries of one watch.
   * @default 50
   */
  readonly minQueryIntervalMs?: number;
  /**
   * Sustained queries per second one watch may send (token bucket): a
   * rate, per second, not a duration.
   * @default 10
   */
  readonly queryRate?: number;
  /**
   * Queries one watch may send at once (token bucket size).
   * @default 2
   */
  readonly queryBurst?: number;
  /**
   * Milliseconds before a request that does not block is abandoned if
   * Consul has not answered (its headers; the body then has
   * `bodyTimeoutMs`): register, renew, the first read of a watch; also the
   * margin added to blocking queries' timeout.
   * @default 10000
   */
  readonly requestTimeoutMs?: number;
  /**
   * The health check of registrations: a check, or a function of the
   * instance (to build its health URL).
   * @default { type: 'ttl' }
   */
  readonly check?: ConsulCheck | ((instance: Instance) => ConsulCheck);
  /**
   * Milliseconds a registration's check may stay critical before Consul
   * removes the service (`DeregisterCriticalServiceAfter`; Consul reaps at
   * most every 30 s or so, and treats less than a minute as a minute).
   * @default 60_000
   */
  readonly deregisterCriticalAfterMs?: number;
  /**
   * HTTP connections (requests in flight) one discovery opens to its agents
   * at most, whatever the number of watches (also `?maxConnections=` in the
   * URL; this option wins). Keep it below the agent's
   * `limits.http_max_conns_per_client` (200 by default) divided by the
   * discoveries one host runs, or the agent answers 429. A quarter of them
   * (at least 2) are kept from blocking queries, for registrations,
   * renewals and reads; past the number of per-service watches the rest can
   * hold, new `instances$()` watches are views of `catalog$()` (see
   * docs/consul.md). 4 to 10,000.
   * @default 64
   */
  readonly maxConnections?: number;
}

/** {@link ConsulOptions} with every default applied. */
export interface ResolvedConsulOptions {
  readonly token: string | undefined;
  readonly consistency: ConsulConsistency;
  readonly blocking: BlockingTuning;
  /** Bounds on every answer (size, stalls, trickles). */
  readonly answers: ResolvedAnswerLimits;
  readonly check: (instance: Instance) => ConsulCheck;
  /** Seconds, as Consul's `DeregisterCriticalServiceAfter` is written. */
  readonly deregisterCriticalAfter: number;
  /** Requests in flight at most, and blocking queries among them. */
  readonly connections: ConnectionCap;
}

/**
 * The connection cap from `maxConnections`: a quarter (at least 2) kept
 * from blocking queries.
 */
export const connectionCap = (max: number): ConnectionCap => ({
  max,
  maxBlocking: max - Math.max(2, Math.ceil(max / 4)),
});

/**
 * Applies the defaults of {@link ConsulOptions} and checks them (a `check`
 * given as a function is checked when it is called); `urlToken` and
 * `urlMaxConnections` are the URL's `?token=` and `?maxConnections=`.
 *
 * @throws {ConfigError} naming the option out of range.
 */
export const resolveConsulOptions = (
  o: ConsulOptions,
  registry: string,
  urlToken: string | undefined,
  urlMaxConnections?: number,
): ResolvedConsulOptions => {
  const context = { registry };
  const consistency = enumOption(
    'consistency',
    o.consistency,
    'default',
    ['default', 'stale', 'consistent'],
    context,
  );
  const check = o.check ?? { type: 'ttl' };
  if (typeof check !== 'function') checkConsulCheck(check, registry);
  return {
    token: o.token ?? urlToken,
    consistency,
    blocking: {
      waitMs: durationOption('waitMs', o.waitMs, 60_000, { min: 1000, max: 600_000 }, context),
      minIntervalMs: durationOption(
        'minQueryIntervalMs',
        o.minQueryIntervalMs,
        50,
        { max: 60_000 },
        context,
      ),
      ratePerSecond: numberOption('queryRate', o.queryRate, 10, { min: 0.01, max: 1000 }, context),
      burst: numberOption(
        'queryBurst',
        o.queryBurst,
        2,
        { integer: true, min: 1, max: 100 },
        context,
      ),
      requestTimeoutMs: durationOption(
        'requestTimeoutMs',
        o.requestTimeoutMs,
        10_000,
        { min: 100, max: 600_000 },
        context,
      ),
    },
    answers: resolveAnswerLimits(o, context),
    check: typeof check === 'function' ? check : () => check,
    deregisterCriticalAfter:
      durationOption(
        'deregisterCriticalAfterMs',
        o.deregisterCriticalAfterMs,
        60_000,
        { min: 1000, max: 86_400_000 * 365 },
        context,
      ) / 1000,
    connections: connectionCap(
      numberOption(
        'maxConnections',
        o.maxConnections ?? urlMaxConnections,
        64,
        {
          integer: true,
          min: 4,
          max: 10_000,
          fix: MAX_CONNECTIONS_FIX,
        },
        context,
      ),
    ),
  };
};

/**
 * Checks the durations of a health check.
 *
 * @throws {ConfigError} naming `check.intervalMs` or `check.timeoutMs`.
 */
export const checkConsulCheck = (check: ConsulCheck, registry: string): ConsulCheck => {
  if (check.type === 'ttl') return check;
  const context = { registry };
  durationOption('check.intervalMs', check.intervalMs, 10_000, { min: 1 }, context);
  durationOption('check.timeoutMs', check.timeoutMs, 5000, { min: 1 }, context);
  return check;
};
