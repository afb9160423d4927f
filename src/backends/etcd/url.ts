/**
 * The grammar of `etcd://` / `etcds://` URLs:
 * `etcd[s]://[user:password@]host:port[,host:port...]/prefix/?format=json|gokit|gomicro|grpc`
 * (`etcds://` also takes `?ca=&cert=&key=`). No client import: `discovery()`
 * checks the URL without loading etcd3.
 *
 * @module
 */
import {
  decodeUrlPart,
  type Endpoint,
  parseEndpoints,
  type UrlCommon,
  type UrlGrammar,
  urlError,
} from '../../core/url.js';

/** The etcd value layouts rxdisco reads and writes. */
export type EtcdFormat = 'json' | 'gokit' | 'gomicro' | 'grpc';

/** A parsed `etcd://` / `etcds://` URL. */
export interface EtcdConfig extends UrlCommon {
  readonly kind: 'etcd';
  /** `etcds://`. */
  readonly tls: boolean;
  /** The cluster members. */
  readonly endpoints: readonly Endpoint[];
  /** The key prefix, ending in `/`. @default '/services/' */
  readonly prefix: string;
  /** The layout registrations are written in; reads detect it per key. */
  readonly format: EtcdFormat | undefined;
  readonly username: string | undefined;
  readonly password: string | undefined;
}

const FORMATS: readonly string[] = ['json', 'gokit', 'gomicro', 'grpc'];

/** The `etcd://` / `etcds://` grammar. */
export const etcdUrl: UrlGrammar<EtcdConfig> = {
  kind: 'etcd',
  what: 'an etcd',
  schemes: {
    etcd: { tls: false, port: 2379, params: ['format'] },
    etcds: { tls: true, port: 2379, params: ['format', 'ca', 'cert', 'key'] },
  },
  // instances$(service) takes no params on etcd://
  watchParams: [],
  parse: (parts) => {
    const endpoints = parseEndpoints(parts);
    const format = parts.common.params.format;
    if (format !== undefined && !FORMATS.includes(format)) {
      urlError(
        parts.raw,
        'url.format',
        `must be json, gokit, gomicro or grpc (got '${format}')`,
        'pick the layout other services use',
      );
    }
    let prefix = decodeUrlPart(
      parts.raw,
      'url.prefix',
      parts.path === '' ? '/services/' : parts.path,
    );
    if (!prefix.endsWith('/')) prefix = `${prefix}/`;
    return {
      ...parts.common,
      kind: 'etcd',
      tls: parts.spec.tls,
      endpoints,
      prefix,
      format: format as EtcdFormat | undefined,
      username: parts.username,
      password: parts.password,
    };
  },
};
