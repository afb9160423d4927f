import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/core/errors.js';
import {
  durationOption,
  enumOption,
  formatDuration,
  numberOption,
  parseDuration,
  ratioOption,
} from '../../../src/core/options.js';

describe('numberOption', () => {
  it('takes the value, else the fallback', () => {
    expect(numberOption('n', 5, 3)).toBe(5);
    expect(numberOption('n', undefined, 3)).toBe(3);
  });

  it('rejects NaN, non-numbers, out-of-range and fractional values with one wording', () => {
    const rule = { integer: true, min: 1, max: 100 };
    expect(() => numberOption('attempts', Number.NaN, 3, rule)).toThrow(
      "attempts must be an integer from 1 to 100 (got NaN); fix the 'attempts' option",
    );
    expect(() => numberOption('attempts', 0, 3, rule)).toThrow(/from 1 to 100 \(got 0\)/);
    expect(() => numberOption('attempts', 1.5, 3, rule)).toThrow(/\(got 1.5\)/);
    expect(() => numberOption('attempts', '3' as unknown as number, 3, rule)).toThrow(
      /\(got '3'\)/,
    );
    expect(() => numberOption('attempts', Number.POSITIVE_INFINITY, 3, rule)).toThrow(ConfigError);
  });

  it('allows Infinity only when asked, and never -Infinity', () => {
    expect(numberOption('t', Number.POSITIVE_INFINITY, 1, { infinite: true })).toBe(
      Number.POSITIVE_INFINITY,
    );
    expect(() => numberOption('t', Number.NEGATIVE_INFINITY, 1, { infinite: true })).toThrow(
      /\(or Infinity for none\)/,
    );
  });

  it('checks an exclusive lower bound', () => {
    expect(() => numberOption('x', 0, 1, { above: 0 })).toThrow('x must be a number > 0 (got 0)');
  });

  it('names the registry and service when given a context', () => {
    expect(() =>
      numberOption('n', -1, 1, { min: 0 }, { registry: 'memory://', service: 'hello' }),
    ).toThrow("registry memory://, service 'hello': n must be a number >= 0");
  });
});

describe('durationOption, ratioOption, enumOption', () => {
  it('durations are ms, at least 0 by default', () => {
    expect(durationOption('graceMs', undefined, 2000)).toBe(2000);
    expect(() => durationOption('graceMs', -1, 2000)).toThrow(
      'graceMs must be a number of ms >= 0 (got -1)',
    );
  });

  it('a duration with an exclusive bound says only that bound', () => {
    expect(() => durationOption('attemptTimeoutMs', 0, 1, { above: 0, infinite: true })).toThrow(
      'attemptTimeoutMs must be a number of ms > 0 (or Infinity for none) (got 0)',
    );
  });

  it('ratios are in [0, 1]', () => {
    expect(ratioOption('maxEjectedShare', 0.5, 0.1)).toBe(0.5);
    expect(() => ratioOption('maxEjectedShare', 20, 0.1)).toThrow('from 0 to 1 (got 20)');
  });

  it('enums list the accepted values', () => {
    expect(enumOption('jitter', undefined, 'full', ['full', 'none'])).toBe('full');
    expect(() => enumOption('jitter', 'x' as 'full', 'full', ['full', 'none'])).toThrow(
      "jitter must be one of 'full', 'none' (got 'x')",
    );
  });
});

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['10s', 10_000],
    ['1.5s', 1500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['30', 30_000],
    ['0', 0],
    [' 5s ', 5000],
  ])('%s is %d ms', (text, ms) => {
    expect(parseDuration('--ttl', text)).toBe(ms);
  });

  it.each(['', 's', '-5s', '10x', '1e3', '10 s s', 'Infinity'])('rejects %j', (text) => {
    expect(() => parseDuration('--ttl', text)).toThrow(
      `--ttl must be a duration such as 250ms, 10s or 2m, a bare number meaning seconds (got '${text}')`,
    );
  });

  it('formatDuration writes what parseDuration reads', () => {
    for (const ms of [0, 250, 1500, 10_000, 120_000, 3_600_000]) {
      expect(parseDuration('x', formatDuration(ms))).toBe(ms);
    }
  });
});
