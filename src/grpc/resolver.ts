/**
 * `registerRxdiscoResolver()`: grpc-js channels of `rxdisco:///<service>`
 * targets resolve through a {@link Discovery} and balance with an rxdisco
 * balancer.
 *
 * @module
 */
import { asapScheduler, type Observable, type OperatorFunction, observeOn } from 'rxjs';
import type { Discovery } from '../core/discovery.js';
import { ConfigError, RxdiscoError } from '../core/errors.js';
import type { InstanceSet } from '../core/instance-set.js';
import type { Balancer } from '../operators/balancers/balancer.js';
import { roundRobin } from '../operators/balancers/round-robin.js';
import type { OutlierDetector } from '../operators/outlier-ejection.js';
import { defaultGrpc, type GrpcModule, installResolver } from './adapter.js';

/** Options of {@link registerRxdiscoResolver}. */
export interface RxdiscoResolverOptions {
  /**
   * The grpc-js module whose channels use the resolver
   * (`import * as grpc from '@grpc/grpc-js'`; 1.13.x or 1.14.x). Pass the
   * one your clients are made with when the app has more than one copy.
   * @default the `@grpc/grpc-js` installed beside rxdisco
   */
  readonly grpc?: GrpcModule;
  /**
   * The target scheme: channels of `<scheme>:///<service>` resolve through
   * the discovery. One scheme per discovery (registering a scheme again
   * replaces it in grpc-js).
   * @default 'rxdisco'
   */
  readonly scheme?: string;
  /**
   * The balancer operator each channel balances with, over the instances
   * whose connection is READY: `roundRobin()`, `leastRequest()`, `ewma()`,
   * `consistentHash()`, or a pipeline such as
   * `pipe(outliers.operator(), ewma())`. Each channel applies it to its own
   * stream, so each channel has its own balancer state.
   * @default roundRobin()
   */
  readonly balancer?: OperatorFunction<InstanceSet, Balancer>;
  /**
   * An outlier detector told how each call ended (put its `operator()` in
   * `balancer` so that ejected instances are left out).
   * @default none
   */
  readonly detector?: OutlierDetector;
  /**
   * The call-metadata key whose first value is the pick key
   * (`consistentHash()` sends one key to one instance). Lower case, as gRPC
   * metadata keys are.
   * @default 'x-rxdisco-key'
   */
  readonly keyHeader?: string;
  /**
   * The clock for call latencies, in ms.
   * @default performance.now
   */
  readonly now?: () => number;
}

/** A scheme registered by {@link registerRxdiscoResolver}. */
export interface RxdiscoResolver {
  /** The scheme registered. */
  readonly scheme: string;
  /** The target of `service`: `<scheme>:///<service>`. */
  target(service: string): string;
  /**
   * Stops every watch of this scheme's channels (their calls then fail as
   * for a registry that is away); channels made afterwards get no addresses.
   * Closing each channel also stops its watch.
   */
  close(): void;
}

const SCHEME = /^[a-z][a-z0-9+.-]*$/;
const HEADER = /^[0-9a-z_.-]+$/;

const messageOf = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/**
 * Makes grpc-js channels of `rxdisco:///<service>` targets resolve through
 * `discovery`: every fresh set of `discovery.instances$(service)` becomes
 * the channel's addresses (a stale set keeps the last ones; an empty fresh
 * set leaves the channel without addresses, so calls fail with UNAVAILABLE,
 * or wait for an instance with `waitForReady`), and each call picks among
 * the instances whose connection is READY with `balancer`. Each call's
 * status and latency go back to the balancer (and `detector`): UNAVAILABLE
 * and DEADLINE_EXCEEDED count as failures of the instance, application
 * errors do not, CANCELLED counts as nothing.
 *
 * Generated clients and `@grpc/proto-loader` clients alike take the target.
 * Closing a channel (`client.close()`) stops its watch.
 *
 * @throws {ConfigError} `scheme` or `keyHeader` malformed.
 * @example
 * ```ts
 * import * as grpc from '@grpc/grpc-js';
 * import { discovery, ewma } from 'rxdisco';
 * import { registerRxdiscoResolver } from 'rxdisco/grpc';
 *
 * registerRxdiscoResolver(discovery('etcd://127.0.0.1:2379/services/'), { grpc, balancer: ewma() });
 * const client = new GreeterClient('rxdisco:///greeter', grpc.credentials.createInsecure());
 * ```
 */
export const registerRxdiscoResolver = (
  discovery: Discovery,
  options: RxdiscoResolverOptions = {},
): RxdiscoResolver => {
  const scheme = options.scheme ?? 'rxdisco';
  if (typeof scheme !== 'string' || !SCHEME.test(scheme)) {
    throw new ConfigError(
      'scheme',
      `must be a URI scheme: a letter, then letters, digits, '+', '-' or '.' in lower case (got ${JSON.stringify(scheme)})`,
      "fix the 'scheme' option",
    );
  }
  const keyHeader = options.keyHeader ?? 'x-rxdisco-key';
  if (typeof keyHeader !== 'string' || !HEADER.test(keyHeader)) {
    throw new ConfigError(
      'keyHeader',
      `must be a gRPC metadata key: lower-case letters, digits, '_', '-' or '.' (got ${JSON.stringify(keyHeader)})`,
      "fix the 'keyHeader' option",
    );
  }
  const grpc = options.grpc ?? defaultGrpc();
  const sessions = new Set<() => void>();
  let closed = false;
  installResolver(
    grpc,
    scheme,
    {
      balancer: options.balancer ?? roundRobin(),
      detector: options.detector,
      keyHeader,
      now: options.now ?? (() => performance.now()),
    },
    (service, sink) => {
      if (closed) {
        sink.failed(`the ${scheme} resolver of ${discovery.registry} was closed`);
        return () => undefined;
      }
      let source: Observable<InstanceSet>;
      try {
        source = discovery.instances$(service);
      } catch (e) {
        sink.failed(messageOf(e)); // a malformed service name: a ConfigError
        return () => undefined;
      }
      let reported = false;
      const subscription = source.pipe(observeOn(asapScheduler)).subscribe({
        next: (set) => {
          if (!set.stale) {
            reported = true;
            sink.resolved(set);
          } else if (!reported) {
            sink.failed(`${service} in ${discovery.registry}: ${messageOf(set.error)}`);
          }
        },
        error: (e: unknown) => {
          reported = true;
          sink.failed(e instanceof RxdiscoError ? e.message : `${service}: ${messageOf(e)}`);
        },
      });
      const stop = () => {
        sessions.delete(stop);
        subscription.unsubscribe();
      };
      sessions.add(stop);
      return stop;
    },
  );
  return {
    scheme,
    target: (service) => `${scheme}:///${service}`,
    close: () => {
      closed = true;
      for (const stop of [...sessions]) stop();
    },
  };
};
