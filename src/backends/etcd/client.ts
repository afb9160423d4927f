/**
 * The one etcd3 client of an etcd backend: built from the registry URL on
 * first use, replaced when a watch proves it stalled, closed with the
 * backend. Every unary call has a deadline, so that a frozen server turns
 * into a retryable fault instead of a promise that never settles.
 *
 * @module
 */

import { Etcd3, type IOptions } from 'etcd3';
import { closedError } from '../../core/errors.js';
import { durationOption } from '../../core/options.js';
import { readTls } from '../../core/pem.js';
import { formatHostPort } from '../../core/url.js';
import type { EtcdConfig } from './url.js';

export type { EtcdConfig } from './url.js';

/** Tuning of the etcd backend. Every field is optional. */
export interface EtcdOptions {
  /**
   * Deadline of every unary call (range, put, lease grant, keepalive...), in ms.
   * @default 5000
   */
  readonly callTimeoutMs?: number;
  /**
   * How often a live watch is checked against a read of its prefix, in ms; a
   * watch found behind twice in a row is reopened (guards against the
   * etcd3 client's silent watch stalls). 0 disables the check.
   * @default 10000
   */
  readonly watchdogIntervalMs?: number;
  /**
   * Milliseconds a watch may take to be created before it counts as stalled.
   * @default 10000
   */
  readonly watchCreateTimeoutMs?: number;
  /** Extra gRPC channel options, merged over rxdisco's. */
  readonly grpcOptions?: Readonly<Record<string, string | number>>;
}

/** {@link EtcdOptions} with every default applied. */
export interface ResolvedEtcdOptions {
  readonly callTimeoutMs: number;
  readonly watchdogIntervalMs: number;
  readonly watchCreateTimeoutMs: number;
  readonly grpcOptions: Readonly<Record<string, string | number>>;
}

/**
 * Applies the defaults of {@link EtcdOptions} and checks them.
 *
 * @param registry - the redacted URL, for messages.
 * @throws {ConfigError} naming the option out of range (NaN, negative, 0 where a deadline is meant).
 */
export const resolveEtcdOptions = (o: EtcdOptions = {}, registry?: string): ResolvedEtcdOptions => {
  const context = registry === undefined ? undefined : { registry };
  return {
    callTimeoutMs: durationOption('callTimeoutMs', o.callTimeoutMs, 5000, { min: 1 }, context),
    watchdogIntervalMs: durationOption(
      'watchdogIntervalMs',
      o.watchdogIntervalMs,
      10_000,
      { fix: 'pass 0 to disable the check' },
      context,
    ),
    watchCreateTimeoutMs: durationOption(
      'watchCreateTimeoutMs',
      o.watchCreateTimeoutMs,
      10_000,
      { min: 1 },
      context,
    ),
    grpcOptions: o.grpcOptions ?? {},
  };
};

// The core owns reconnection: the etcd3 watch manager should retry its
// stream quickly and briefly, never leaving a long timer behind.
const constantBackoff = { duration: 100, next: () => constantBackoff };

type HostPolicy = ReturnType<NonNullable<NonNullable<IOptions['faultHandling']>['host']>>;
// Per-host pass-through instead of etcd3's default circuit breaker, which
// keeps refusing calls for 5 s after a member comes back: the core's
// backoff already paces retries, and etcd3's global retry moves a failed
// call to another member.
const passThrough = {
  execute: <T>(fn: (context: { signal: AbortSignal; attempt: number }) => T) =>
    Promise.resolve().then(() => fn({ signal: new AbortController().signal, attempt: 1 })),
} as unknown as HostPolicy;

/** The etcd3 client options for a registry URL. */
export const clientOptions = (config: EtcdConfig, options: ResolvedEtcdOptions): IOptions => {
  const { ca, cert, key } = readTls(config);
  const scheme = config.tls ? 'https' : 'http';
  const hosts = config.endpoints.map((e) => `${scheme}://${formatHostPort(e.host, e.port)}`);
  const callTimeout = options.callTimeoutMs;
  return {
    hosts,
    ...(config.tls && ca !== undefined
      ? {
          credentials: {
            rootCertificate: ca,
            ...(key === undefined ? {} : { privateKey: key }),
            ...(cert === undefined ? {} : { certChain: cert }),
          },
        }
      : {}),
    ...(config.username === undefined
      ? {}
      : {
          auth: {
            username: config.username,
            password: config.password ?? '',
            callOptions: () => ({ deadline: Date.now() + callTimeout }),
          },
        }),
    dialTimeout: callTimeout,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeout }),
    faultHandling: { watchBackoff: constantBackoff, host: () => passThrough },
    grpcOptions: {
      // each client its own connections: a replaced client must not inherit a broken one
      'grpc.use_local_subchannel_pool': 1,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2000,
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5000,
      // etcd's own client (clientv3) accepts answers up to 2 GiB: grpc-js's
      // 4 MiB default refuses a watch catch-up or a range of a few thousand
      // services (RESOURCE_EXHAUSTED, retried for ever)
      'grpc.max_receive_message_length': 2 ** 31 - 1,
      ...options.grpcOptions,
    },
  };
};

/** The lazily created, replaceable client of one backend. */
export interface ClientHolder {
  /** The current client, created on first use. */
  get(): Etcd3;
  /** Closes `client` if it is still the current one; the next {@link get} makes a new one. */
  replace(client: Etcd3): void;
  /** Closes the current client for good. */
  close(): void;
}

/** Holds the one etcd3 client of a backend. */
export const clientHolder = (config: EtcdConfig, options: ResolvedEtcdOptions): ClientHolder => {
  let client: Etcd3 | undefined;
  let closed = false;
  return {
    get: () => {
      if (closed) {
        throw closedError(config.url);
      }
      client ??= new Etcd3(clientOptions(config, options));
      return client;
    },
    replace: (old) => {
      if (client !== old) return;
      client = undefined;
      old.close();
    },
    close: () => {
      closed = true;
      client?.close();
      client = undefined;
    },
  };
};
