/**
 * The options of the DNS backends, and their resolution (with the URL's
 * `?minTtl=&maxTtl=&timeout=` as the defaults) into the values the resolver
 * and the watch use, checked by the core validator.
 *
 * @module
 */
import { ConfigError } from '../../core/errors.js';
import { durationOption, numberOption } from '../../core/options.js';
import type { DnsCommonConfig } from './url.js';

/** Options of `dnsDiscovery()` and `dnsBackend()`. */
export interface DnsOptions {
  /**
   * The shortest wait between two resolutions of a name, in ms, whatever
   * the records' TTL (Consul answers with TTL 0 by default). Also the wait
   * after a negative answer without an SOA.
   * @default 1000, or the URL's `?minTtl=`
   */
  readonly minTtlMs?: number;
  /**
   * The longest wait between two resolutions of a name, in ms, whatever
   * the records' TTL.
   * @default 300_000 (5 min), or the URL's `?maxTtl=`
   */
  readonly maxTtlMs?: number;
  /**
   * The deadline of one query to one resolver, in ms (UDP, then TCP when
   * the answer was truncated).
   * @default 2000, or the URL's `?timeout=`
   */
  readonly timeoutMs?: number;
  /**
   * Queries sent before a resolution fails (the set then turns stale): the
   * resolvers are tried in turn, one query each, until this many.
   * @default 2 per resolver
   */
  readonly attempts?: number;
  /**
   * The UDP payload size announced with EDNS(0), in bytes; 512 sends no
   * EDNS. A longer answer comes truncated and is asked again over TCP.
   * @default 1232
   */
  readonly udpPayloadSize?: number;
}

/** {@link DnsOptions} resolved: every field set and checked. */
export interface ResolvedDnsOptions {
  readonly minTtlMs: number;
  readonly maxTtlMs: number;
  readonly timeoutMs: number;
  readonly attempts: number | undefined;
  readonly udpPayloadSize: number;
}

/**
 * Checks `options` (the URL's values as defaults).
 *
 * @throws {ConfigError} naming the option out of range.
 */
export const resolveDnsOptions = (
  options: DnsOptions,
  config: DnsCommonConfig,
): ResolvedDnsOptions => {
  const context = { registry: config.url };
  const minTtlMs = durationOption(
    'minTtlMs',
    options.minTtlMs,
    config.minTtlMs ?? 1000,
    {
      fix: 'pass minTtlMs: 1000 or write ?minTtl=1s',
    },
    context,
  );
  const maxTtlMs = durationOption(
    'maxTtlMs',
    options.maxTtlMs,
    config.maxTtlMs ?? Math.max(300_000, minTtlMs),
    { above: 0, fix: 'pass maxTtlMs: 300000 or write ?maxTtl=5m' },
    context,
  );
  if (minTtlMs > maxTtlMs) {
    throw new ConfigError(
      'minTtlMs',
      `must be at most maxTtlMs (got ${minTtlMs} > ${maxTtlMs})`,
      'lower minTtlMs or raise maxTtlMs',
      context,
    );
  }
  const timeoutMs = durationOption(
    'timeoutMs',
    options.timeoutMs,
    config.timeoutMs ?? 2000,
    {
      above: 0,
      fix: 'pass timeoutMs: 2000 or write ?timeout=2s',
    },
    context,
  );
  const attempts =
    options.attempts === undefined
      ? undefined
      : numberOption('attempts', options.attempts, 2, { integer: true, min: 1, max: 100 }, context);
  const udpPayloadSize = numberOption(
    'udpPayloadSize',
    options.udpPayloadSize,
    1232,
    { integer: true, min: 512, max: 65535 },
    context,
  );
  return { minTtlMs, maxTtlMs, timeoutMs, attempts, udpPayloadSize };
};
