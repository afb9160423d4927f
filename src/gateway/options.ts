/**
 * What `gateway()` takes, resolved once into the values it runs with.
 *
 * @module
 */
import { type Observable, type OperatorFunction, pipe } from 'rxjs';
import type { Pool } from 'undici';
import { ConfigError } from '../core/errors.js';
import type { InstanceSet } from '../core/instance-set.js';
import { durationOption, enumOption } from '../core/options.js';
import type { Balancer } from '../operators/balancers/balancer.js';
import { ewma } from '../operators/balancers/ewma.js';
import { leastRequest } from '../operators/balancers/least-request.js';
import { random } from '../operators/balancers/random.js';
import { roundRobin } from '../operators/balancers/round-robin.js';
import { weightedRoundRobin } from '../operators/balancers/weighted-round-robin.js';
import { healthy } from '../operators/healthy.js';
import { createOutlierDetector, type OutlierDetector } from '../operators/outlier-ejection.js';
import type { DispatcherRetryOptions } from '../undici/options.js';
import { BALANCER_NAMES, type BalancerName } from './balancer-names.js';
import type { StatusPageOptions } from './status.js';

/** A service's balancer, as `discoveryDispatcher()` takes it. */
export type BalancerFactory = (
  instances$: Observable<InstanceSet>,
  service: string,
) => Observable<Balancer>;

/** Options of {@link gateway}. */
export interface GatewayOptions {
  /**
   * How each service's instance is picked: a {@link BalancerName} (over the
   * healthy instances, without those the outlier detector ejected), or a
   * whole pipeline as `discoveryDispatcher()` takes it (from the registry's
   * set: put `healthy()` and `detector.operator()` in it yourself).
   * @default 'round-robin'
   */
  readonly balancer?: BalancerName | BalancerFactory;
  /**
   * The outlier detector every forwarded request is reported to (a 5xx
   * answer or a failed connection counts as a failure); `false` for none.
   * @default createOutlierDetector() (5 failures in a row eject for 30 s)
   */
  readonly detector?: OutlierDetector | false;
  /**
   * Milliseconds from the request's arrival to the upstream's response
   * headers (picks, connections and retries included); past it the
   * gateway answers `504` and aborts the upstream request. The response
   * body, once started, is not timed. `Infinity` for none.
   * @default 30000
   */
  readonly timeoutMs?: number;
  /**
   * Retries on other instances, as for `discoveryDispatcher()` (and
   * `call()`): a number of attempts per request, or attempts, backoff and
   * budget. A request with a body is sent once (it is streamed, not kept).
   * @default { attempts: 3 } with call()'s backoff and the process-wide retry budget
   */
  readonly retry?: DispatcherRetryOptions | number;
  /**
   * Whether the client side is a proxy the gateway trusts: then the
   * client's `X-Forwarded-For` is kept and the peer address appended, and
   * its `X-Forwarded-Proto` and `X-Forwarded-Host` are kept. Otherwise the
   * gateway drops them and sets its own (the peer address, its own
   * protocol, the request's `Host`), so that a client cannot forge them.
   * @default false
   */
  readonly trustProxy?: boolean;
  /**
   * Milliseconds a `503` (no instance) asks the client to wait before
   * trying again, sent as `Retry-After` in whole seconds (at least 1).
   * @default 1000
   */
  readonly retryAfterMs?: number;
  /**
   * Mounts the live status page at `/-/status` (every service and instance,
   * fresh or stale, picks, in flight, ejections): `true`, `false`, or the
   * page's own options.
   * @default true
   */
  readonly status?: boolean | StatusPageOptions;
  /**
   * Options of each instance's keep-alive pool (`connections`,
   * `keepAliveTimeout`, `connect` for TLS...).
   * @default undici's Pool defaults
   */
  readonly pool?: Pool.Options;
}

/** The options, checked, with their defaults. */
export interface ResolvedGatewayOptions {
  readonly balancer: (detector: OutlierDetector | undefined) => BalancerFactory;
  readonly detector: OutlierDetector | undefined;
  readonly timeoutMs: number;
  readonly retry: DispatcherRetryOptions | number | undefined;
  readonly trustProxy: boolean;
  readonly retryAfterS: number;
  readonly status: boolean | StatusPageOptions;
  readonly pool: Pool.Options | undefined;
}

const OPERATORS: Readonly<Record<BalancerName, () => OperatorFunction<InstanceSet, Balancer>>> = {
  'round-robin': () => roundRobin(),
  random: () => random(),
  'weighted-round-robin': () => weightedRoundRobin(),
  'least-request': () => leastRequest(),
  ewma: () => ewma(),
};

const named =
  (name: BalancerName) =>
  (detector: OutlierDetector | undefined): BalancerFactory =>
  (instances$) =>
    instances$.pipe(
      detector === undefined
        ? pipe(healthy(), OPERATORS[name]())
        : pipe(healthy(), detector.operator(), OPERATORS[name]()),
    );

const flag = (field: string, value: unknown, fallback: boolean): boolean => {
  if (value === undefined) return fallback;
  if (typeof value === 'boolean') return value;
  throw new ConfigError(
    field,
    `must be true or false (got ${typeof value})`,
    `fix the '${field}' option`,
  );
};

/** Checks `options` and fills in the defaults. */
export const resolveGatewayOptions = (options: GatewayOptions): ResolvedGatewayOptions => {
  const b = options.balancer;
  const balancer =
    typeof b === 'function'
      ? () => b
      : named(enumOption('balancer', b, 'round-robin', BALANCER_NAMES));
  const d = options.detector;
  if (d !== undefined && d !== false && (typeof d !== 'object' || typeof d.report !== 'function')) {
    throw new ConfigError(
      'detector',
      'must be an OutlierDetector or false',
      'pass createOutlierDetector(...) or false',
    );
  }
  const retryAfterMs = durationOption('retryAfterMs', options.retryAfterMs, 1000, { min: 0 });
  return {
    balancer,
    detector: d === false ? undefined : (d ?? createOutlierDetector()),
    timeoutMs: durationOption('timeoutMs', options.timeoutMs, 30_000, {
      above: 0,
      infinite: true,
    }),
    retry: options.retry,
    trustProxy: flag('trustProxy', options.trustProxy, false),
    retryAfterS: Math.max(1, Math.ceil(retryAfterMs / 1000)),
    status:
      typeof options.status === 'object' && options.status !== null
        ? options.status
        : flag('status', options.status, true),
    pool: options.pool,
  };
};
