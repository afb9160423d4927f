/**
 * The grammar of `consul://` / `consuls://` URLs:
 * `consul[s]://host:port[,host:port...]?dc=dc1&token=...` (`consuls://` also
 * takes `?ca=&cert=&key=`), and the params of `instances$()` on Consul. No
 * client import: `discovery()` checks both without loading the backend.
 *
 * @module
 */
import type { WatchParams } from '../../core/discovery.js';
import { ConfigError, type ErrorContext } from '../../core/errors.js';
import { numberOption } from '../../core/options.js';
import {
  type Endpoint,
  noPath,
  parseEndpoints,
  type UrlCommon,
  type UrlGrammar,
  type UrlParts,
  urlError,
} from '../../core/url.js';

/** A parsed `consul://` / `consuls://` URL. */
export interface ConsulConfig extends UrlCommon {
  readonly kind: 'consul';
  /** `consuls://`. */
  readonly tls: boolean;
  /** The agents (or servers), tried in order. */
  readonly endpoints: readonly Endpoint[];
  /** `?dc=`: the datacenter of every query. */
  readonly dc: string | undefined;
  /** `?token=`: the ACL token (never logged). */
  readonly token: string | undefined;
  /** `?maxConnections=`: the connection cap (the `maxConnections` option wins). */
  readonly maxConnections?: number;
}

/**
 * The params `instances$(service, params)` accepts on consul://:
 * `{ passing?: boolean = true, tag?: 'a,b', near?: '_agent', dc?: 'dc2',
 *    stale?: boolean, consistent?: boolean, filter?: '<Consul filter>' }`.
 */
export const CONSUL_WATCH_PARAMS = [
  'passing',
  'tag',
  'near',
  'dc',
  'stale',
  'consistent',
  'filter',
] as const;

/** How to fix a connection cap out of range (the option's and the URL's). */
export const MAX_CONNECTIONS_FIX =
  "pass a whole number of connections below the agent's limits.http_max_conns_per_client (200 by default)";

/** The params of one Consul watch, checked, in the terms of the health query. */
export interface ConsulWatch {
  /** `?passing`: only instances whose checks all pass. */
  readonly passing: boolean;
  /** `?tag=` once per tag. */
  readonly tags: readonly string[];
  readonly near: string | undefined;
  /** The watch's own datacenter (else the URL's). */
  readonly dc: string | undefined;
  readonly filter: string | undefined;
  /** The watch's own consistency mode (else the `consistency` option). */
  readonly consistency: 'stale' | 'consistent' | undefined;
}

const flag = (
  params: WatchParams,
  name: string,
  fallback: boolean,
  context: ErrorContext,
): boolean => {
  const v = params[name];
  if (v === undefined) return fallback;
  if (v === true || v === 'true' || v === 1 || v === '1') return true;
  if (v === false || v === 'false' || v === 0 || v === '0') return false;
  throw new ConfigError(
    `params.${name}`,
    `must be true or false (got ${JSON.stringify(v)})`,
    `pass { ${name}: true } or { ${name}: false }`,
    context,
  );
};

const text = (params: WatchParams, name: string, context: ErrorContext): string | undefined => {
  const v = params[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.trim() === '') {
    throw new ConfigError(
      `params.${name}`,
      `must be a non-empty string (got ${JSON.stringify(v)})`,
      `pass { ${name}: '...' } or omit it`,
      context,
    );
  }
  return v;
};

/**
 * Checks the values of a Consul watch's params (their names are checked
 * against {@link CONSUL_WATCH_PARAMS} first) and reads them.
 *
 * @throws {ConfigError} naming the param with a bad value.
 */
export const consulWatch = (params: WatchParams, context: ErrorContext): ConsulWatch => {
  const passing = flag(params, 'passing', true, context);
  const tags = (text(params, 'tag', context)?.split(',') ?? [])
    .map((t) => t.trim())
    .filter((t) => t !== '');
  const near = text(params, 'near', context);
  const dc = text(params, 'dc', context);
  const filter = text(params, 'filter', context);
  const stale = flag(params, 'stale', false, context);
  const consistent = flag(params, 'consistent', false, context);
  if (stale && consistent) {
    throw new ConfigError(
      'params.stale',
      'and params.consistent cannot both be true',
      'pick one consistency mode',
      context,
    );
  }
  const consistency = stale ? 'stale' : consistent ? 'consistent' : undefined;
  return { passing, tags, near, dc, filter, consistency };
};

/** `?maxConnections=`: a whole number from 4 to 10,000, checked as the option is. */
const maxConnectionsOf = (text: string, parts: UrlParts): number =>
  numberOption(
    'url.maxConnections',
    // Text that is not a whole number is shown as given, quoted.
    /^\d+$/.test(text.trim()) ? Number(text) : (text as unknown as number),
    64,
    { integer: true, min: 4, max: 10_000, fix: MAX_CONNECTIONS_FIX },
    { registry: parts.common.url },
  );

/** The `consul://` / `consuls://` grammar. */
export const consulUrl: UrlGrammar<ConsulConfig> = {
  kind: 'consul',
  what: 'a Consul',
  schemes: {
    consul: {
      tls: false,
      port: 8500,
      params: ['dc', 'token', 'maxConnections'],
      noUserinfo: 'pass an ACL token as ?token=...',
    },
    consuls: {
      tls: true,
      port: 8501,
      params: ['dc', 'token', 'maxConnections', 'ca', 'cert', 'key'],
      noUserinfo: 'pass an ACL token as ?token=...',
    },
  },
  watchParams: CONSUL_WATCH_PARAMS,
  checkWatchParams: (params, context) => {
    consulWatch(params, context);
  },
  parse: (parts) => {
    const endpoints = parseEndpoints(parts);
    noPath(parts, 'write consul://host:port?dc=dc1');
    const { dc, token, maxConnections } = parts.common.params;
    if (dc === '') urlError(parts.raw, 'url.dc', 'is empty', 'name the datacenter or remove dc=');
    const cap = maxConnections === undefined ? undefined : maxConnectionsOf(maxConnections, parts);
    return {
      ...parts.common,
      kind: 'consul',
      tls: parts.spec.tls,
      endpoints,
      dc,
      token,
      ...(cap === undefined ? {} : { maxConnections: cap }),
    };
  },
};
