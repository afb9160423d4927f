import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';

/** The TLS files a registry URL can name: `?ca=`, `?cert=`, `?key=`. */
export type PemParam = 'ca' | 'cert' | 'key';

/**
 * Reads the PEM file that the URL parameter `param` names, if any.
 *
 * @throws {ConfigError} naming `url.<param>` when the file cannot be read.
 * @example
 * ```ts
 * const ca = readPem(config, 'ca'); // Buffer | undefined
 * ```
 */
export const readPem = (
  config: { readonly url: string; readonly params: Readonly<Record<string, string>> },
  param: PemParam,
): Buffer | undefined => {
  const path = config.params[param];
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new ConfigError(
      `url.${param}`,
      `cannot be read from '${path}' (${(e as Error).message})`,
      'pass the path of a PEM file readable by this process',
      { registry: config.url },
    );
  }
};

/** The PEM material of a `?ca=&cert=&key=` URL, each part only when given. */
export interface TlsFiles {
  readonly ca?: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
}

/**
 * Reads `?ca=`, `?cert=` and `?key=` of a registry URL.
 *
 * @throws {ConfigError} when a file cannot be read, or when only one of
 *   `cert` and `key` is given (a client certificate needs both).
 * @example
 * ```ts
 * const { ca, cert, key } = readTls(config);
 * ```
 */
export const readTls = (config: {
  readonly url: string;
  readonly params: Readonly<Record<string, string>>;
}): TlsFiles => {
  const ca = readPem(config, 'ca');
  const cert = readPem(config, 'cert');
  const key = readPem(config, 'key');
  if ((cert === undefined) !== (key === undefined)) {
    throw new ConfigError(
      cert === undefined ? 'url.cert' : 'url.key',
      'is missing: a client certificate needs both cert and key',
      'pass ?cert=/path/client.pem&key=/path/client-key.pem',
      { registry: config.url },
    );
  }
  return {
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
  };
};
