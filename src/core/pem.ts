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
