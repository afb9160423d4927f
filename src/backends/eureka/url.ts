/**
 * The grammar of `eureka://` / `eurekas://` URLs:
 * `eureka[s]://[user:password@]host:port[,host:port...]/eureka?interval=30s`
 * (`eurekas://` also takes `?ca=&cert=&key=`; `interval` is a duration, a
 * bare number meaning seconds). No client import.
 *
 * @module
 */
import { parseDuration } from '../../core/options.js';
import {
  type Endpoint,
  parseEndpoints,
  type UrlCommon,
  type UrlGrammar,
  urlError,
} from '../../core/url.js';

/** A parsed `eureka://` / `eurekas://` URL. */
export interface EurekaConfig extends UrlCommon {
  readonly kind: 'eureka';
  /** `eurekas://`. */
  readonly tls: boolean;
  /** The Eureka peers, tried in order. */
  readonly endpoints: readonly Endpoint[];
  /** The path of the Eureka API, without a trailing `/`. @default '/eureka' */
  readonly path: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  /** `?interval=`, in ms: the registry refresh interval. */
  readonly intervalMs: number | undefined;
}

/** The `eureka://` / `eurekas://` grammar. */
export const eurekaUrl: UrlGrammar<EurekaConfig> = {
  kind: 'eureka',
  what: 'a Eureka',
  schemes: {
    eureka: { tls: false, port: 8761, params: ['interval'] },
    eurekas: { tls: true, port: 8761, params: ['interval', 'ca', 'cert', 'key'] },
  },
  // instances$(service) takes no params on eureka://
  watchParams: [],
  parse: (parts) => {
    const endpoints = parseEndpoints(parts);
    const interval = parts.common.params.interval;
    let intervalMs: number | undefined;
    if (interval !== undefined) {
      intervalMs = parseDuration('url.interval', interval, { registry: parts.common.url });
      if (intervalMs <= 0) {
        urlError(
          parts.raw,
          'url.interval',
          `must be a duration > 0 (got '${interval}')`,
          'write ?interval=30s',
        );
      }
    }
    const p = parts.path === '' || parts.path === '/' ? '/eureka' : parts.path.replace(/\/+$/, '');
    return {
      ...parts.common,
      kind: 'eureka',
      tls: parts.spec.tls,
      endpoints,
      path: p,
      username: parts.username,
      password: parts.password,
      intervalMs,
    };
  },
};
