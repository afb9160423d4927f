/**
 * The grammar of `consul://` / `consuls://` URLs:
 * `consul[s]://host:port[,host:port...]?dc=dc1&token=...` (`consuls://` also
 * takes `?ca=&cert=&key=`), and the params of `instances$()` on Consul. No
 * client import: `discovery()` checks both without loading the backend.
 *
 * @module
 */
import {
  type Endpoint,
  noPath,
  parseEndpoints,
  type UrlCommon,
  type UrlGrammar,
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

/** The `consul://` / `consuls://` grammar. */
export const consulUrl: UrlGrammar<ConsulConfig> = {
  kind: 'consul',
  what: 'a Consul',
  schemes: {
    consul: {
      tls: false,
      port: 8500,
      params: ['dc', 'token'],
      noUserinfo: 'pass an ACL token as ?token=...',
    },
    consuls: {
      tls: true,
      port: 8501,
      params: ['dc', 'token', 'ca', 'cert', 'key'],
      noUserinfo: 'pass an ACL token as ?token=...',
    },
  },
  watchParams: CONSUL_WATCH_PARAMS,
  parse: (parts) => {
    const endpoints = parseEndpoints(parts);
    noPath(parts, 'write consul://host:port?dc=dc1');
    const { dc, token } = parts.common.params;
    if (dc === '') urlError(parts.raw, 'url.dc', 'is empty', 'name the datacenter or remove dc=');
    return { ...parts.common, kind: 'consul', tls: parts.spec.tls, endpoints, dc, token };
  },
};
