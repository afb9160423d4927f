/**
 * The grammar of `zk://` URLs:
 * `zk://host:port[,host:port...]/base?format=curator|gokit`. No client
 * import: `discovery()` checks the URL without loading node-zookeeper-client.
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

/** The ZooKeeper layouts rxdisco reads (detected per node) and writes (`?format=`). */
export type ZookeeperFormat = 'curator' | 'gokit';

/** A parsed `zk://` URL. */
export interface ZookeeperConfig extends UrlCommon {
  readonly kind: 'zookeeper';
  /** The ensemble members. */
  readonly endpoints: readonly Endpoint[];
  /** The base path, without a trailing `/`; services are its children. @default '/services' */
  readonly base: string;
  /** The layout registrations are written in. @default 'curator' */
  readonly format: ZookeeperFormat;
}

const FORMATS: readonly string[] = ['curator', 'gokit'];

/** The `zk://` grammar. */
export const zookeeperUrl: UrlGrammar<ZookeeperConfig> = {
  kind: 'zookeeper',
  what: 'a ZooKeeper',
  schemes: {
    zk: {
      tls: false,
      port: 2181,
      params: ['format'],
      noUserinfo: 'ZooKeeper digest auth is not supported; remove user:password@',
    },
  },
  // instances$(service) takes no params on zk://
  watchParams: [],
  parse: (parts) => {
    const endpoints = parseEndpoints(parts);
    const format = parts.common.params.format;
    if (format !== undefined && !FORMATS.includes(format)) {
      urlError(
        parts.raw,
        'url.format',
        `must be curator or gokit (got '${format}')`,
        'pick the layout other services use (curator: Curator / Spring Cloud Zookeeper, gokit: go-kit sd/zk)',
      );
    }
    let base = decodeUrlPart(parts.raw, 'url.base', parts.path === '' ? '/services' : parts.path);
    while (base.length > 1 && base.endsWith('/')) base = base.slice(0, -1);
    if (
      base === '/' ||
      base.includes('//') ||
      base.split('/').some((s) => s === '.' || s === '..')
    ) {
      urlError(
        parts.raw,
        'url.base',
        `must be a ZooKeeper path below / (got '${base}')`,
        'give the base path services live under, e.g. zk://127.0.0.1:2181/services',
      );
    }
    return {
      ...parts.common,
      kind: 'zookeeper',
      endpoints,
      base,
      format: (format ?? 'curator') as ZookeeperFormat,
    };
  },
};
