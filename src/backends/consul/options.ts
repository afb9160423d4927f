/**
 * Options of the Consul backend, all optional, resolved once into
 * {@link ResolvedConsulOptions} and checked with a {@link ConfigError}.
 *
 * @module
 */
import { ConfigError } from '../../core/errors.js';
import type { Instance } from '../../core/instance.js';
import { type AnswerLimits, type ResolvedAnswerLimits, resolveAnswerLimits } from '../transport.js';
import type { BlockingTuning } from './blocking.js';
import type { ConsulConsistency } from './client.js';

/**
 * The health check a registration carries. `ttl` (the default): rxdisco
 * passes it every `renewEvery`; `http` / `tcp`: the Consul agent probes the
 * instance itself, and rxdisco only checks that the agent still knows it.
 */
export type ConsulCheck =
  | { readonly type: 'ttl' }
  | {
      readonly type: 'http';
      /** The URL the agent GETs; 2xx is passing, 429 warning, anything else critical. */
      readonly url: string;
      /** Seconds between probes. @default 10 */
      readonly interval?: number;
      /** Seconds before a probe fails. @default 5 */
      readonly timeout?: number;
      /** Skip TLS verification of an https URL. @default false */
      readonly tlsSkipVerify?: boolean;
    }
  | {
      readonly type: 'tcp';
      /** `host:port` the agent connects to. @default the instance's host:port */
      readonly address?: string;
      /** Seconds between probes. @default 10 */
      readonly interval?: number;
      /** Seconds before a probe fails. @default 5 */
      readonly timeout?: number;
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
   * Seconds each blocking query waits for a change (Consul adds up to
   * wait/16). 1 to 600.
   * @default 60
   */
  readonly wait?: number;
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
  readonly minQueryInterval?: number;
  /**
   * Sustained queries per second one watch may send (token bucket).
   * @default 10
   */
  readonly queryRate?: number;
  /**
   * Queries one watch may send at once (token bucket size).
   * @default 2
   */
  readonly queryBurst?: number;
  /**
   * Milliseconds before a request that does not block is abandoned
   * (register, renew, the first read of a watch); also the margin added to
   * blocking queries' timeout.
   * @default 10000
   */
  readonly requestTimeout?: number;
  /**
   * The health check of registrations: a check, or a function of the
   * instance (to build its health URL).
   * @default { type: 'ttl' }
   */
  readonly check?: ConsulCheck | ((instance: Instance) => ConsulCheck);
  /**
   * Seconds a registration's check may stay critical before Consul removes
   * the service (`DeregisterCriticalServiceAfter`; Consul reaps at most
   * every 30 s or so, and treats less than a minute as a minute).
   * @default 60
   */
  readonly deregisterCriticalAfter?: number;
}

/** {@link ConsulOptions} with every default applied. */
export interface ResolvedConsulOptions {
  readonly token: string | undefined;
  readonly consistency: ConsulConsistency;
  readonly blocking: BlockingTuning;
  /** Bounds on every answer (size, stalls, trickles). */
  readonly answers: ResolvedAnswerLimits;
  readonly check: (instance: Instance) => ConsulCheck;
  readonly deregisterCriticalAfter: number;
}

const positive = (
  name: string,
  value: number | undefined,
  fallback: number,
  range: [number, number],
  registry: string,
): number => {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < range[0] || v > range[1]) {
    throw new ConfigError(
      name,
      `must be a number from ${range[0]} to ${range[1]} (got ${String(v)})`,
      `omit it for the default ${fallback}`,
      { registry },
    );
  }
  return v;
};

/** Applies the defaults of {@link ConsulOptions}; `urlToken` is the URL's `?token=`. */
export const resolveConsulOptions = (
  o: ConsulOptions,
  registry: string,
  urlToken: string | undefined,
): ResolvedConsulOptions => {
  const consistency = o.consistency ?? 'default';
  if (!['default', 'stale', 'consistent'].includes(consistency)) {
    throw new ConfigError(
      'consistency',
      `must be default, stale or consistent (got ${String(consistency)})`,
      'pick one of Consul consistency modes',
      { registry },
    );
  }
  const check = o.check ?? { type: 'ttl' };
  return {
    token: o.token ?? urlToken,
    consistency,
    blocking: {
      waitMs: Math.round(positive('wait', o.wait, 60, [1, 600], registry) * 1000),
      minIntervalMs: positive('minQueryInterval', o.minQueryInterval, 50, [0, 60_000], registry),
      ratePerSecond: positive('queryRate', o.queryRate, 10, [0.01, 1000], registry),
      burst: positive('queryBurst', o.queryBurst, 2, [1, 100], registry),
      requestTimeoutMs: positive(
        'requestTimeout',
        o.requestTimeout,
        10_000,
        [100, 600_000],
        registry,
      ),
    },
    answers: resolveAnswerLimits(o, { registry }),
    check: typeof check === 'function' ? check : () => check,
    deregisterCriticalAfter: positive(
      'deregisterCriticalAfter',
      o.deregisterCriticalAfter,
      60,
      [1, 86_400 * 365],
      registry,
    ),
  };
};
