/**
 * The grammar of `memory://[name]` URLs: the process-wide in-memory registry
 * of that name (`memory://` is the unnamed one). No watch params.
 *
 * @module
 */
import { noPath, type UrlCommon, type UrlGrammar, urlError } from '../../core/url.js';

/** A parsed `memory://` URL. */
export interface MemoryConfig extends UrlCommon {
  readonly kind: 'memory';
  /** The registry's name, `''` for the default one. */
  readonly name: string;
}

/** The `memory://` grammar. */
export const memoryUrl: UrlGrammar<MemoryConfig> = {
  kind: 'memory',
  what: 'a memory',
  schemes: { memory: { tls: false, params: [], noUserinfo: 'remove it' } },
  // instances$(service) takes no params on memory://
  watchParams: [],
  parse: (parts) => {
    noPath(parts, "write 'memory://' or 'memory://name'");
    if (parts.authority !== '' && !/^[A-Za-z0-9._-]+$/.test(parts.authority)) {
      urlError(
        parts.raw,
        'url.name',
        `'${parts.authority}' is not a valid registry name`,
        'use letters, digits, ".", "_" or "-"',
      );
    }
    return { ...parts.common, kind: 'memory', name: parts.authority };
  },
};
