/**
 * Registry URLs: `memory://`, `static://h:p,h:p`, `etcd[s]://h:p[,h:p]/prefix/`,
 * `consul[s]://h:p`, `eureka[s]://h:p[,h:p]/eureka`. Parsed once, checked
 * field by field, with a {@link ConfigError} naming what is wrong.
 *
 * @module
 */
import { ConfigError } from './errors.js';

/** A host and port. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** The schemes `discovery()` understands. */
export type RegistryScheme =
  | 'memory'
  | 'static'
  | 'etcd'
  | 'etcds'
  | 'consul'
  | 'consuls'
  | 'eureka'
  | 'eurekas';

/** The etcd value layouts rxdisco reads and writes. */
export type EtcdFormat = 'json' | 'gokit' | 'gomicro';

interface Common {
  /** The URL with any password or token replaced by `***`: safe to log. */
  readonly url: string;
  /** Query parameters, validated against the scheme's list. */
  readonly params: Readonly<Record<string, string>>;
}

/** A parsed registry URL. Narrow on `kind`. */
export type RegistryConfig =
  | (Common & { readonly kind: 'memory'; readonly name: string })
  | (Common & {
      readonly kind: 'static';
      readonly endpoints: readonly Endpoint[];
      readonly secure: boolean;
    })
  | (Common & {
      readonly kind: 'etcd';
      readonly tls: boolean;
      readonly endpoints: readonly Endpoint[];
      readonly prefix: string;
      readonly format: EtcdFormat | undefined;
      readonly username: string | undefined;
      readonly password: string | undefined;
    })
  | (Common & {
      readonly kind: 'consul';
      readonly tls: boolean;
      readonly endpoints: readonly Endpoint[];
      readonly dc: string | undefined;
      readonly token: string | undefined;
    })
  | (Common & {
      readonly kind: 'eureka';
      readonly tls: boolean;
      readonly endpoints: readonly Endpoint[];
      readonly path: string;
      readonly username: string | undefined;
      readonly password: string | undefined;
    });

/**
 * `host:port`, with an IPv6 host in brackets (`[::1]:8080`): the one
 * formatter of addresses for URLs, keys and messages.
 *
 * @example
 * ```ts
 * formatHostPort('::1', 8080); // '[::1]:8080'
 * ```
 */
export const formatHostPort = (host: string, port: number): string =>
  `${host.includes(':') ? `[${host}]` : host}:${port}`;

const SCHEMES: Readonly<
  Record<
    RegistryScheme,
    { kind: RegistryConfig['kind']; tls: boolean; port?: number; params: readonly string[] }
  >
> = {
  memory: { kind: 'memory', tls: false, params: [] },
  static: { kind: 'static', tls: false, params: ['secure'] },
  etcd: { kind: 'etcd', tls: false, port: 2379, params: ['format'] },
  etcds: { kind: 'etcd', tls: true, port: 2379, params: ['format', 'ca', 'cert', 'key'] },
  consul: { kind: 'consul', tls: false, port: 8500, params: ['dc', 'token'] },
  consuls: { kind: 'consul', tls: true, port: 8501, params: ['dc', 'token', 'ca', 'cert', 'key'] },
  eureka: { kind: 'eureka', tls: false, port: 8761, params: ['interval'] },
  eurekas: { kind: 'eureka', tls: true, port: 8761, params: ['interval', 'ca', 'cert', 'key'] },
};

const SHAPE = /^([a-z][a-z0-9+.-]*):\/\/(?:([^@/?#]*)@)?([^/?#]*)([^?#]*)(?:\?([^#]*))?$/i;

const bad = (url: string, field: string, problem: string, fix: string): never => {
  throw new ConfigError(field, problem, fix, { registry: redactRaw(url) });
};

const redactRaw = (url: string): string =>
  url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@').replace(/([?&]token=)[^&#]*/i, '$1***');

const parseEndpoint = (url: string, part: string, defaultPort: number | undefined): Endpoint => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::(.*))?$/.exec(part);
  if (m === null) {
    return bad(
      url,
      'url.host',
      `'${part}' is not host[:port]`,
      'write hosts as host:port, IPv6 as [::1]:port',
    );
  }
  const host = (m[1] ?? m[2])!;
  if (!/^[A-Za-z0-9._~%:-]+$/.test(host)) {
    return bad(
      url,
      'url.host',
      `'${host}' is not a valid host name`,
      'use a host name or IP address',
    );
  }
  if (m[3] === undefined) {
    if (defaultPort === undefined) {
      return bad(url, 'url.port', `missing for '${host}'`, 'write host:port, e.g. 127.0.0.1:8080');
    }
    return { host, port: defaultPort };
  }
  const port = /^\d{1,5}$/.test(m[3]) ? Number(m[3]) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) {
    return bad(
      url,
      'url.port',
      `'${m[3]}' of '${host}' is not a port from 1 to 65535`,
      'fix the port number',
    );
  }
  return { host, port };
};

const decodePart = (url: string, field: string, s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return bad(url, field, 'is not valid percent-encoding', 'percent-encode special characters');
  }
};

/**
 * Parses and checks a registry URL.
 *
 * @throws {ConfigError} naming the part that is wrong (`url.scheme`,
 *   `url.port`, `url.host`, `url.format`, an unknown query parameter...).
 * @example
 * ```ts
 * parseRegistryUrl('etcd://127.0.0.1:2379/services/?format=gokit');
 * // { kind: 'etcd', endpoints: [{ host: '127.0.0.1', port: 2379 }], prefix: '/services/', format: 'gokit', ... }
 * ```
 */
export const parseRegistryUrl = (url: string): RegistryConfig => {
  if (typeof url !== 'string' || url.trim() === '') {
    return bad(
      String(url),
      'url',
      'is empty',
      "pass a registry URL such as 'memory://' or 'etcd://127.0.0.1:2379/services/'",
    );
  }
  const m = SHAPE.exec(url.trim());
  if (m === null) {
    return bad(
      url,
      'url',
      `'${redactRaw(url)}' is not scheme://host[:port][/path][?query]`,
      "write it like 'etcd://127.0.0.1:2379/services/'",
    );
  }
  const scheme = m[1]!.toLowerCase();
  const userinfo = m[2];
  const authority = m[3] ?? '';
  const path = m[4] ?? '';
  const query = m[5] ?? '';
  const spec = SCHEMES[scheme as RegistryScheme];
  if (spec === undefined) {
    return bad(
      url,
      'url.scheme',
      `'${scheme}' is not supported`,
      `use one of ${Object.keys(SCHEMES).join(', ')}`,
    );
  }
  const params: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(query)) {
    if (!spec.params.includes(k)) {
      return bad(
        url,
        `url.${k}`,
        `is not an option of ${scheme}://`,
        spec.params.length === 0 ? 'remove the query string' : `use ${spec.params.join(', ')}`,
      );
    }
    params[k] = v;
  }
  let username: string | undefined;
  let password: string | undefined;
  if (userinfo !== undefined) {
    if (spec.kind !== 'etcd' && spec.kind !== 'eureka') {
      return bad(
        url,
        'url.userinfo',
        `user:password@ is not used by ${scheme}://`,
        spec.kind === 'consul' ? 'pass an ACL token as ?token=...' : 'remove it',
      );
    }
    const colon = userinfo.indexOf(':');
    username = decodePart(url, 'url.username', colon < 0 ? userinfo : userinfo.slice(0, colon));
    password = colon < 0 ? undefined : decodePart(url, 'url.password', userinfo.slice(colon + 1));
    if (username === '') return bad(url, 'url.username', 'is empty', 'write user:password@host');
  }
  const redacted = redactRaw(url.trim());
  const common = { url: redacted, params: Object.freeze(params) };

  if (spec.kind === 'memory') {
    if (path !== '' && path !== '/')
      return bad(
        url,
        'url.path',
        `'${path}' is not used by memory://`,
        "write 'memory://' or 'memory://name'",
      );
    if (authority !== '' && !/^[A-Za-z0-9._-]+$/.test(authority)) {
      return bad(
        url,
        'url.name',
        `'${authority}' is not a valid registry name`,
        'use letters, digits, ".", "_" or "-"',
      );
    }
    return { ...common, kind: 'memory', name: authority };
  }

  if (authority === '') {
    return bad(url, 'url.host', 'is missing', `write ${scheme}://host:port`);
  }
  const endpoints = authority.split(',').map((part) => parseEndpoint(url, part.trim(), spec.port));

  switch (spec.kind) {
    case 'static': {
      if (path !== '' && path !== '/')
        return bad(
          url,
          'url.path',
          `'${path}' is not used by static://`,
          'write static://host:port,host:port',
        );
      const secure = params.secure;
      if (secure !== undefined && secure !== 'true' && secure !== 'false') {
        return bad(
          url,
          'url.secure',
          `must be true or false (got '${secure}')`,
          'write ?secure=true for https',
        );
      }
      return { ...common, kind: 'static', endpoints, secure: secure === 'true' };
    }
    case 'etcd': {
      const format = params.format;
      if (format !== undefined && format !== 'json' && format !== 'gokit' && format !== 'gomicro') {
        return bad(
          url,
          'url.format',
          `must be json, gokit or gomicro (got '${format}')`,
          'pick the layout other services use',
        );
      }
      let prefix = decodePart(url, 'url.prefix', path === '' ? '/services/' : path);
      if (!prefix.endsWith('/')) prefix = `${prefix}/`;
      return {
        ...common,
        kind: 'etcd',
        tls: spec.tls,
        endpoints,
        prefix,
        format,
        username,
        password,
      };
    }
    case 'consul': {
      if (path !== '' && path !== '/')
        return bad(
          url,
          'url.path',
          `'${path}' is not used by ${scheme}://`,
          'write consul://host:port?dc=dc1',
        );
      if (params.dc === '')
        return bad(url, 'url.dc', 'is empty', 'name the datacenter or remove dc=');
      return {
        ...common,
        kind: 'consul',
        tls: spec.tls,
        endpoints,
        dc: params.dc,
        token: params.token,
      };
    }
    case 'eureka': {
      const interval = params.interval;
      if (interval !== undefined && !(/^\d+(\.\d+)?$/.test(interval) && Number(interval) > 0)) {
        return bad(
          url,
          'url.interval',
          `must be a number of seconds > 0 (got '${interval}')`,
          'write ?interval=30',
        );
      }
      const p = path === '' || path === '/' ? '/eureka' : path.replace(/\/+$/, '');
      return { ...common, kind: 'eureka', tls: spec.tls, endpoints, path: p, username, password };
    }
    default:
      return bad(url, 'url.scheme', `'${scheme}' is not supported`, 'use a supported scheme');
  }
};

/**
 * The config of `url` (a URL, or an already parsed config) when it is of
 * `kind`; what a backend's own `xxxDiscovery(url)` accepts.
 *
 * @param what - the URL kind for the message (`an etcd`, `a Consul`).
 * @throws {ConfigError} naming `url.scheme` when the URL is of another kind.
 * @example
 * ```ts
 * const config = configOfKind('etcd://127.0.0.1:2379/', 'etcd', 'an etcd');
 * ```
 */
export const configOfKind = <K extends RegistryConfig['kind']>(
  url: string | RegistryConfig,
  kind: K,
  what: string,
): Extract<RegistryConfig, { kind: K }> => {
  const config = typeof url === 'string' ? parseRegistryUrl(url) : url;
  if (config.kind !== kind) {
    const schemes = Object.entries(SCHEMES)
      .filter(([, spec]) => spec.kind === kind)
      .map(([scheme]) => `${scheme}://`);
    throw new ConfigError(
      'url.scheme',
      `'${config.url}' is not ${what} URL`,
      `use ${schemes.join(' or ')}`,
      {
        registry: config.url,
      },
    );
  }
  return config as Extract<RegistryConfig, { kind: K }>;
};
