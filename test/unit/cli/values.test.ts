import { describe, expect, it } from 'vitest';
import { parseHostPort, parseMeta, parseTtl, parseWeight } from '../../../src/cli/values.js';
import { ConfigError } from '../../../src/core/errors.js';

describe('parseHostPort', () => {
  it('parses host:port, names and bracketed IPv6', () => {
    expect(parseHostPort('127.0.0.1:9000')).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(parseHostPort('api.example.com:1')).toEqual({ host: 'api.example.com', port: 1 });
    expect(parseHostPort('[::1]:65535')).toEqual({ host: '::1', port: 65535 });
  });

  it.each(['localhost', '127.0.0.1:', ':80', '127.0.0.1:http', 'a b:80', '::1:80', 'h:80/x'])(
    'rejects %j as not host:port',
    (text) => {
      expect(() => parseHostPort(text)).toThrow(ConfigError);
      expect(() => parseHostPort(text)).toThrow(/HOST:PORT .* is not host:port/);
    },
  );

  it.each(['127.0.0.1:0', '127.0.0.1:70000', '[::1]:65536'])('rejects the port of %j', (text) => {
    expect(() => parseHostPort(text)).toThrow(/not a port from 1 to 65535/);
  });
});

describe('parseTtl', () => {
  it('takes a duration with a unit, a bare number meaning seconds, and returns ms', () => {
    expect(parseTtl('10s')).toBe(10_000);
    expect(parseTtl('1500ms')).toBe(1500);
    expect(parseTtl('2m')).toBe(120_000);
    expect(parseTtl('1h')).toBe(3_600_000);
    expect(parseTtl('1')).toBe(1000);
    expect(parseTtl('2.5')).toBe(2500);
  });

  it.each(['abc', '', '-5', '1e3', 'Infinity', '10x', '10 s s'])(
    'rejects %j as no duration',
    (text) => {
      expect(() => parseTtl(text)).toThrow(ConfigError);
      expect(() => parseTtl(text)).toThrow(
        /^--ttl must be a duration such as 250ms, 10s or 2m, a bare number meaning seconds/,
      );
    },
  );

  it.each([
    ['0', 0],
    ['0.5', 500],
    ['500ms', 500],
  ])('rejects %j as shorter than 1s', (text, ms) => {
    expect(() => parseTtl(text)).toThrow(
      `--ttl must be a number of ms >= 1000 (got ${ms}); pass a duration of at least 1s, e.g. --ttl 10s`,
    );
  });
});

describe('parseWeight', () => {
  it('accepts numbers >= 0', () => {
    expect(parseWeight('0')).toBe(0);
    expect(parseWeight('2.5')).toBe(2.5);
  });

  it.each(['-1', 'x', ''])('rejects %j', (text) => {
    expect(() => parseWeight(text)).toThrow(/^--weight must be a number >= 0/);
  });
});

describe('parseMeta', () => {
  it('splits at the first =, a later key wins, values may be empty', () => {
    expect(parseMeta(['a=1', 'url=http://x/?q=1', 'a=2', 'empty='])).toEqual({
      a: '2',
      url: 'http://x/?q=1',
      empty: '',
    });
    expect(parseMeta([])).toEqual({});
  });

  it('rejects an entry without = or with an empty key', () => {
    expect(() => parseMeta(['novalue'])).toThrow(
      "--meta 'novalue' has no '='; write --meta key=value",
    );
    expect(() => parseMeta(['=v'])).toThrow("--meta '=v' has an empty key");
  });
});
