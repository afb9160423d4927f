/**
 * The grammars of `dns+srv://[resolver:port]/` (SRV names as services) and
 * `dns://[resolver:port]/` (A/AAAA names as services, with a port), and the
 * params of `instances$()` on them. No resolver import: `discovery()`
 * checks both without loading the backend.
 *
 * URL params: `minTtl`, `maxTtl` (the bounds of the re-resolution interval),
 * `timeout` (one query's deadline), durations such as `500ms`, `10s` (a bare
 * number means seconds); `secure=true` (the instances speak TLS); on
 * `dns://` also `port` (the port of every instance, unless the watch gives
 * its own). No resolver: the system's (`/etc/resolv.conf`).
 *
 * @module
 */
import type { WatchParams } from '../../core/discovery.js';
import { ConfigError, type ErrorContext } from '../../core/errors.js';
import { parseDuration } from '../../core/options.js';
import {
  type Endpoint,
  noPath,
  parseEndpoint,
  type UrlCommon,
  type UrlGrammar,
  type UrlParts,
  urlError,
} from '../../core/url.js';

/** What both DNS URLs carry. */
export interface DnsCommonConfig extends UrlCommon {
  /** The resolvers to ask, in order; empty: the system's (`node:dns` `getServers()`). */
  readonly resolvers: readonly Endpoint[];
  /** `?minTtl=`, in ms. */
  readonly minTtlMs: number | undefined;
  /** `?maxTtl=`, in ms. */
  readonly maxTtlMs: number | undefined;
  /** `?timeout=`, in ms. */
  readonly timeoutMs: number | undefined;
  /** `?secure=true`: the instances speak TLS. */
  readonly secure: boolean;
}

/** A parsed `dns+srv://` URL: service names are SRV names (`_http._tcp.hello.example`). */
export interface DnsSrvConfig extends DnsCommonConfig {
  readonly kind: 'dns+srv';
}

/** A parsed `dns://` URL: service names are host names resolved to A/AAAA records. */
export interface DnsConfig extends DnsCommonConfig {
  readonly kind: 'dns';
  /** `?port=`: the port of the instances of a watch that names none. */
  readonly port: number | undefined;
}

const COMMON_PARAMS = ['minTtl', 'maxTtl', 'timeout', 'secure'] as const;

const duration = (parts: UrlParts, name: string): number | undefined => {
  const v = parts.common.params[name];
  if (v === undefined) return undefined;
  const ms = parseDuration(`url.${name}`, v, { registry: parts.common.url });
  if (name === 'timeout' && ms <= 0) {
    urlError(parts.raw, 'url.timeout', `must be a duration > 0 (got '${v}')`, 'write ?timeout=2s');
  }
  return ms;
};

const parsePort = (field: string, v: unknown, fix: string, context: ErrorContext): number => {
  const n = typeof v === 'string' && /^\d{1,5}$/.test(v) ? Number(v) : v;
  if (typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535) return n;
  throw new ConfigError(
    field,
    `must be a port from 1 to 65535 (got ${JSON.stringify(v)})`,
    fix,
    context,
  );
};

const common = (parts: UrlParts): DnsCommonConfig => {
  noPath(parts, `write ${parts.scheme}://resolver:port/?minTtl=5s`);
  const resolvers =
    parts.authority === ''
      ? []
      : parts.authority.split(',').map((p) => parseEndpoint(parts.raw, p.trim(), 53));
  const secure = parts.common.params.secure;
  if (secure !== undefined && secure !== 'true' && secure !== 'false') {
    urlError(
      parts.raw,
      'url.secure',
      `must be true or false (got '${secure}')`,
      'write ?secure=true for https',
    );
  }
  const minTtlMs = duration(parts, 'minTtl');
  const maxTtlMs = duration(parts, 'maxTtl');
  if (minTtlMs !== undefined && maxTtlMs !== undefined && minTtlMs > maxTtlMs) {
    urlError(
      parts.raw,
      'url.minTtl',
      `must be at most maxTtl (got ${parts.common.params.minTtl} > ${parts.common.params.maxTtl})`,
      'swap them or lower minTtl',
    );
  }
  return {
    ...parts.common,
    resolvers,
    minTtlMs,
    maxTtlMs,
    timeoutMs: duration(parts, 'timeout'),
    secure: secure === 'true',
  };
};

/** The `dns+srv://` grammar. Its watches take no params. */
export const dnsSrvUrl: UrlGrammar<DnsSrvConfig> = {
  kind: 'dns+srv',
  what: 'a DNS SRV',
  schemes: {
    'dns+srv': { tls: false, port: 53, params: [...COMMON_PARAMS], noUserinfo: 'remove it' },
  },
  watchParams: [],
  parse: (parts) => ({ ...common(parts), kind: 'dns+srv' }),
};

/**
 * The port of a `dns://` watch: its `port` param, else the URL's `?port=`.
 *
 * @throws {ConfigError} naming `params.port` when neither gives a valid port.
 */
export const watchPort = (
  params: WatchParams,
  urlPort: number | undefined,
  context: ErrorContext,
): number => {
  const fix = "pass instances$('hello.example', { port: 8080 }) or write dns://resolver/?port=8080";
  if (params.port === undefined) {
    if (urlPort !== undefined) return urlPort;
    throw new ConfigError('params.port', 'is missing (dns:// names carry no port)', fix, context);
  }
  return parsePort('params.port', params.port, fix, context);
};

/** The `dns://` grammar. Its watches take `port`. */
export const dnsUrl: UrlGrammar<DnsConfig> = {
  kind: 'dns',
  what: 'a DNS',
  schemes: {
    dns: { tls: false, port: 53, params: [...COMMON_PARAMS, 'port'], noUserinfo: 'remove it' },
  },
  watchParams: ['port'],
  checkWatchParams: (params, context) => {
    if (params.port !== undefined) watchPort(params, undefined, context);
  },
  parse: (parts) => {
    const config = common(parts);
    const p = parts.common.params.port;
    const port =
      p === undefined
        ? undefined
        : parsePort('url.port', p, 'write dns://resolver/?port=8080', { registry: config.url });
    return { ...config, kind: 'dns', port };
  },
};
