/**
 * Parsers for the values of command-line arguments: `HOST:PORT`, `--ttl`
 * (a duration: `10s`, `500ms`, `2m`, a bare number of seconds),
 * `--meta k=v`, `--weight`. Each throws a {@link ConfigError} naming the
 * argument and what is wrong.
 *
 * @module
 */
import { ConfigError } from '../core/errors.js';
import { durationOption, numberOption, parseDuration } from '../core/options.js';
import type { Endpoint } from '../core/url.js';

const HOST_PORT = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]/]+)):(\d+)$/;

/**
 * Parses `host:port` (IPv6 as `[::1]:port`).
 *
 * @throws {ConfigError} when the text is not host:port or the port is not 1 to 65535.
 * @example
 * ```ts
 * parseHostPort('127.0.0.1:9000'); // { host: '127.0.0.1', port: 9000 }
 * ```
 */
export const parseHostPort = (text: string): Endpoint => {
  const m = HOST_PORT.exec(text);
  if (m === null) {
    throw new ConfigError(
      'HOST:PORT',
      `'${text}' is not host:port`,
      'write it like 127.0.0.1:8080 (IPv6 as [::1]:8080)',
    );
  }
  const port = Number(m[3]);
  if (!(port >= 1 && port <= 65535)) {
    throw new ConfigError(
      'HOST:PORT',
      `'${text}' has port ${m[3]}, not a port from 1 to 65535`,
      'fix the port number',
    );
  }
  return { host: (m[1] ?? m[2])!, port };
};

/**
 * Parses `--ttl DURATION` (`10s`, `1500ms`, `2m`; a bare number means
 * seconds) into milliseconds, at least 1 s.
 *
 * @throws {ConfigError} for anything else (`0`, `abc`, `-5`, `500ms`).
 * @example
 * ```ts
 * parseTtl('10s'); // 10000
 * parseTtl('30');  // 30000
 * ```
 */
export const parseTtl = (text: string): number =>
  durationOption('--ttl', parseDuration('--ttl', text), 0, {
    min: 1000,
    fix: 'pass a duration of at least 1s, e.g. --ttl 10s (a bare number means seconds)',
  });

/**
 * Parses `--weight W`: a finite number >= 0.
 *
 * @throws {ConfigError} for anything else.
 */
export const parseWeight = (text: string): number =>
  numberOption('--weight', /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : Number.NaN, 1, {
    min: 0,
    fix: 'use 1 for a normal share, 0 for no traffic',
  });

/**
 * Parses the repeated `--meta key=value` arguments into a record. The value
 * may contain `=`; a later key wins.
 *
 * @throws {ConfigError} for an entry without `=` or with an empty key.
 * @example
 * ```ts
 * parseMeta(['version=1.2', 'url=http://x/?a=b']); // { version: '1.2', url: 'http://x/?a=b' }
 * ```
 */
export const parseMeta = (entries: readonly string[]): Readonly<Record<string, string>> => {
  const metadata: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf('=');
    if (eq <= 0) {
      throw new ConfigError(
        '--meta',
        eq < 0 ? `'${entry}' has no '='` : `'${entry}' has an empty key`,
        'write --meta key=value',
      );
    }
    metadata[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return metadata;
};
