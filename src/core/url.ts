/**
 * The generic part of registry URLs: the split into scheme, userinfo, hosts,
 * path and query, host:port parsing and formatting, and redaction. Each
 * backend owns its grammar (`src/backends/<x>/url.ts`, a {@link UrlGrammar}),
 * as each grpc-js resolver registers its own scheme; `parseRegistryUrl`
 * (`src/registry-url.ts`) dispatches a URL to the grammar of its scheme.
 *
 * @module
 */
import type { WatchParams } from './discovery.js';
import { ConfigError, type ErrorContext } from './errors.js';

/** A host and port. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
}

/** What every parsed registry URL carries. */
export interface UrlCommon {
  /** The URL with any password or token replaced by `***`: safe to log. */
  readonly url: string;
  /** Query parameters, validated against the scheme's list. */
  readonly params: Readonly<Record<string, string>>;
}

/** One scheme of a grammar: `etcd` or `etcds`, say. */
export interface SchemeSpec {
  /** The scheme means TLS. */
  readonly tls: boolean;
  /** The port of a host written without one; absent: the port is required. */
  readonly port?: number;
  /** The query parameters the scheme accepts. */
  readonly params: readonly string[];
  /** The fix of a `user:password@` where the scheme takes none; absent: userinfo accepted. */
  readonly noUserinfo?: string;
}

/** A registry URL split into its generic parts, userinfo decoded and checked. */
export interface UrlParts {
  /** The URL as given (trimmed): only for error messages, through {@link urlError}. */
  readonly raw: string;
  /** The scheme, lower case. */
  readonly scheme: string;
  /** What the scheme means. */
  readonly spec: SchemeSpec;
  /** `user` of `user:password@`. */
  readonly username: string | undefined;
  /** `password` of `user:password@`. */
  readonly password: string | undefined;
  /** Everything between `//` (or `@`) and the path: hosts, or a name. */
  readonly authority: string;
  /** The path, `''` when none (still percent-encoded). */
  readonly path: string;
  /** The redacted URL and its checked query parameters. */
  readonly common: UrlCommon;
}

/**
 * A backend's URL grammar: the schemes it answers and how their parts make
 * its config. Lives in the backend's light `url.ts` (no client imports), so
 * that `discovery(url)` checks a URL without loading the backend.
 */
export interface UrlGrammar<C extends UrlCommon & { readonly kind: string }> {
  /** The `kind` of the configs it makes (`'etcd'`). */
  readonly kind: C['kind'];
  /** For messages: `an etcd`, `a Consul`. */
  readonly what: string;
  /** Its schemes. */
  readonly schemes: Readonly<Record<string, SchemeSpec>>;
  /**
   * The params `instances$(service, params)` accepts on this registry
   * (checked by the discovery before any backend is loaded).
   */
  readonly watchParams: readonly string[];
  /**
   * Checks the values of the watch params (after their names), when
   * `instances$()` is called.
   * @throws {ConfigError} naming the param with a bad value.
   * @default no check of the values
   */
  readonly checkWatchParams?: (params: WatchParams, context: ErrorContext) => void;
  /** Makes the config from the split parts. @throws {ConfigError} via {@link urlError}. */
  parse(parts: UrlParts): C;
}

const SHAPE = /^([a-z][a-z0-9+.-]*):\/\/(?:([^@/?#]*)@)?([^/?#]*)([^?#]*)(?:\?([^#]*))?$/i;

/**
 * `url` with any password or ACL token replaced by `***`: safe to log.
 *
 * @example
 * ```ts
 * redactUrl('etcd://root:secret@h:2379/'); // 'etcd://root:***@h:2379/'
 * ```
 */
export const redactUrl = (url: string): string =>
  url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@').replace(/([?&]token=)[^&#]*/i, '$1***');

/**
 * The {@link ConfigError} of a bad registry URL (redacted in the context).
 *
 * @param field - the part that is wrong: `url.port`, `url.<param>`.
 */
export const urlError = (url: string, field: string, problem: string, fix: string): never => {
  throw new ConfigError(field, problem, fix, { registry: redactUrl(url) });
};

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

/**
 * Parses one `host[:port]` (`[::1]:port` for IPv6) of the URL `url`.
 *
 * @param defaultPort - the port of a host without one; absent: required.
 * @throws {ConfigError} naming `url.host` or `url.port`.
 */
export const parseEndpoint = (
  url: string,
  part: string,
  defaultPort: number | undefined,
): Endpoint => {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+))(?::(.*))?$/.exec(part);
  if (m === null) {
    return urlError(
      url,
      'url.host',
      `'${part}' is not host[:port]`,
      'write hosts as host:port, IPv6 as [::1]:port',
    );
  }
  const host = (m[1] ?? m[2])!;
  if (!/^[A-Za-z0-9._~%:-]+$/.test(host)) {
    return urlError(
      url,
      'url.host',
      `'${host}' is not a valid host name`,
      'use a host name or IP address',
    );
  }
  if (m[3] === undefined) {
    if (defaultPort === undefined) {
      return urlError(
        url,
        'url.port',
        `missing for '${host}'`,
        'write host:port, e.g. 127.0.0.1:8080',
      );
    }
    return { host, port: defaultPort };
  }
  const port = /^\d{1,5}$/.test(m[3]) ? Number(m[3]) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) {
    return urlError(
      url,
      'url.port',
      `'${m[3]}' of '${host}' is not a port from 1 to 65535`,
      'fix the port number',
    );
  }
  return { host, port };
};

/**
 * The comma-separated hosts of `parts` (`h1:2379,h2:2379`), each with the
 * scheme's default port when it has none.
 *
 * @throws {ConfigError} naming `url.host` when there is none, or `url.port`.
 */
export const parseEndpoints = (parts: UrlParts): readonly Endpoint[] => {
  if (parts.authority === '') {
    return urlError(parts.raw, 'url.host', 'is missing', `write ${parts.scheme}://host:port`);
  }
  return parts.authority
    .split(',')
    .map((part) => parseEndpoint(parts.raw, part.trim(), parts.spec.port));
};

/**
 * `s` percent-decoded.
 *
 * @throws {ConfigError} naming `field` for malformed percent-encoding.
 */
export const decodeUrlPart = (url: string, field: string, s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return urlError(
      url,
      field,
      'is not valid percent-encoding',
      'percent-encode special characters',
    );
  }
};

/**
 * Rejects a path where the scheme takes none (`''` and `/` are fine).
 *
 * @throws {ConfigError} naming `url.path`, with `fix`.
 */
export const noPath = (parts: UrlParts, fix: string): void => {
  if (parts.path !== '' && parts.path !== '/') {
    urlError(parts.raw, 'url.path', `'${parts.path}' is not used by ${parts.scheme}://`, fix);
  }
};

/**
 * Splits `url` into its generic parts for the grammar that answers its
 * scheme: checks the shape, the scheme, the query parameters against the
 * scheme's list and the userinfo, and redacts the URL.
 *
 * @param grammars - the grammars to look the scheme up in.
 * @throws {ConfigError} naming `url`, `url.scheme`, `url.<param>`, `url.userinfo`...
 */
export const splitRegistryUrl = <G extends UrlGrammar<UrlCommon & { readonly kind: string }>>(
  url: string,
  grammars: readonly G[],
): { readonly grammar: G; readonly parts: UrlParts } => {
  if (typeof url !== 'string' || url.trim() === '') {
    return urlError(
      String(url),
      'url',
      'is empty',
      "pass a registry URL such as 'memory://' or 'etcd://127.0.0.1:2379/services/'",
    );
  }
  const raw = url.trim();
  const m = SHAPE.exec(raw);
  if (m === null) {
    return urlError(
      raw,
      'url',
      `'${redactUrl(raw)}' is not scheme://host[:port][/path][?query]`,
      "write it like 'etcd://127.0.0.1:2379/services/'",
    );
  }
  const scheme = m[1]!.toLowerCase();
  const grammar = grammars.find((g) => Object.hasOwn(g.schemes, scheme));
  const spec = grammar?.schemes[scheme];
  if (grammar === undefined || spec === undefined) {
    return urlError(
      raw,
      'url.scheme',
      `'${scheme}' is not supported`,
      `use one of ${grammars.flatMap((g) => Object.keys(g.schemes)).join(', ')}`,
    );
  }
  const params: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(m[5] ?? '')) {
    if (!spec.params.includes(k)) {
      return urlError(
        raw,
        `url.${k}`,
        `is not an option of ${scheme}://`,
        spec.params.length === 0 ? 'remove the query string' : `use ${spec.params.join(', ')}`,
      );
    }
    params[k] = v;
  }
  const userinfo = m[2];
  let username: string | undefined;
  let password: string | undefined;
  if (userinfo !== undefined) {
    if (spec.noUserinfo !== undefined) {
      return urlError(
        raw,
        'url.userinfo',
        `user:password@ is not used by ${scheme}://`,
        spec.noUserinfo,
      );
    }
    const colon = userinfo.indexOf(':');
    username = decodeUrlPart(raw, 'url.username', colon < 0 ? userinfo : userinfo.slice(0, colon));
    password =
      colon < 0 ? undefined : decodeUrlPart(raw, 'url.password', userinfo.slice(colon + 1));
    if (username === '')
      return urlError(raw, 'url.username', 'is empty', 'write user:password@host');
  }
  return {
    grammar,
    parts: {
      raw,
      scheme,
      spec,
      username,
      password,
      authority: m[3] ?? '',
      path: m[4] ?? '',
      common: { url: redactUrl(raw), params: Object.freeze(params) },
    },
  };
};

/**
 * Parses `url` with the grammar of its scheme among `grammars`.
 *
 * @throws {ConfigError} naming the part that is wrong.
 */
export const parseUrlWith = <C extends UrlCommon & { readonly kind: string }>(
  url: string,
  grammars: readonly UrlGrammar<C>[],
): C => {
  const { grammar, parts } = splitRegistryUrl(url, grammars);
  return grammar.parse(parts);
};

/**
 * The config of `url` (a URL, or an already parsed config) for `grammar`:
 * what a backend's own `xxxDiscovery(url)` accepts.
 *
 * @throws {ConfigError} naming `url.scheme` when the URL is of another kind.
 * @example
 * ```ts
 * const config = configOf(etcdUrl, 'etcd://127.0.0.1:2379/');
 * ```
 */
export const configOf = <C extends UrlCommon & { readonly kind: string }>(
  grammar: UrlGrammar<C>,
  url: string | (UrlCommon & { readonly kind: string }),
): C => {
  const config =
    typeof url === 'string'
      ? (() => {
          const m = /^\s*([a-z][a-z0-9+.-]*):\/\//i.exec(url);
          // Another backend's URL: name this grammar's schemes, not all of them.
          if (m !== null && !Object.hasOwn(grammar.schemes, m[1]!.toLowerCase())) {
            return { kind: '', url: redactUrl(url.trim()), params: {} };
          }
          return parseUrlWith(url, [grammar]);
        })()
      : url;
  if (config.kind !== grammar.kind) {
    const schemes = Object.keys(grammar.schemes).map((s) => `${s}://`);
    throw new ConfigError(
      'url.scheme',
      `'${config.url}' is not ${grammar.what} URL`,
      `use ${schemes.join(' or ')}`,
      { registry: config.url },
    );
  }
  return config as C;
};
