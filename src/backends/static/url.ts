/**
 * The grammar of `static://host:port,host:port[?secure=true]` URLs: a fixed,
 * read-only list that every service name resolves to. No watch params.
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

/** A parsed `static://` URL. */
export interface StaticConfig extends UrlCommon {
  readonly kind: 'static';
  /** The listed endpoints. */
  readonly endpoints: readonly Endpoint[];
  /** The instances speak TLS (`?secure=true`). */
  readonly secure: boolean;
}

/** The `static://` grammar. */
export const staticUrl: UrlGrammar<StaticConfig> = {
  kind: 'static',
  what: 'a static',
  schemes: { static: { tls: false, params: ['secure'], noUserinfo: 'remove it' } },
  // instances$(service) takes no params on static://
  watchParams: [],
  parse: (parts) => {
    const endpoints = parseEndpoints(parts);
    noPath(parts, 'write static://host:port,host:port');
    const secure = parts.common.params.secure;
    if (secure !== undefined && secure !== 'true' && secure !== 'false') {
      urlError(
        parts.raw,
        'url.secure',
        `must be true or false (got '${secure}')`,
        'write ?secure=true for https',
      );
    }
    return { ...parts.common, kind: 'static', endpoints, secure: secure === 'true' };
  },
};
