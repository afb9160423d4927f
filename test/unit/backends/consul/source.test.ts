import { describe, expect, it } from 'vitest';
import type { ConsulConfig } from '../../../../src/backends/consul/client.js';
import { resolveConsulOptions } from '../../../../src/backends/consul/options.js';
import { healthQuery } from '../../../../src/backends/consul/source.js';
import { isConfigError } from '../../../../src/core/errors.js';
import { parseRegistryUrl } from '../../../../src/core/url.js';

const config = parseRegistryUrl('consul://127.0.0.1:8500?dc=dc1') as ConsulConfig;
const deps = (consistency?: 'stale' | 'consistent') => ({
  config,
  options: resolveConsulOptions(consistency ? { consistency } : {}, config.url, undefined),
});
const ctx = { registry: config.url, service: 'web' };

describe('healthQuery (instances$ params on consul://)', () => {
  it('asks for passing instances of the URL datacenter by default', () => {
    expect(healthQuery({}, deps(), ctx)).toEqual([
      ['passing', 'true'],
      ['dc', 'dc1'],
    ]);
  });

  it('maps passing, tags, near, dc, filter and consistency', () => {
    expect(
      healthQuery(
        {
          passing: false,
          tag: 'v2, primary',
          near: '_agent',
          dc: 'dc2',
          filter: 'Service.Meta.a == "b"',
          stale: true,
        },
        deps(),
        ctx,
      ),
    ).toEqual([
      ['tag', 'v2'],
      ['tag', 'primary'],
      ['near', '_agent'],
      ['dc', 'dc2'],
      ['filter', 'Service.Meta.a == "b"'],
      ['stale', ''],
    ]);
    expect(healthQuery({}, deps('consistent'), ctx)).toContainEqual(['consistent', '']);
    expect(healthQuery({ consistent: false }, deps('stale'), ctx)).toContainEqual(['stale', '']);
  });

  it.each([
    [{ passing: 'maybe' }, /params\.passing must be true or false/],
    [{ tags: 'v2' }, /params\.tags is not a param of consul:\/\/ watches/],
    [{ near: '' }, /params\.near must be a non-empty string/],
    [{ stale: true, consistent: true }, /cannot both be true/],
  ])('refuses %j with a ConfigError', (params, message) => {
    let caught: unknown;
    try {
      healthQuery(params, deps(), ctx);
    } catch (e) {
      caught = e;
    }
    expect(isConfigError(caught)).toBe(true);
    expect(String(caught)).toMatch(message);
  });
});

describe('resolveConsulOptions', () => {
  it('applies defaults and lets the token option win over the URL', () => {
    const o = resolveConsulOptions({ token: 'opt' }, 'consul://x', 'url');
    expect(o.token).toBe('opt');
    expect(o.blocking).toEqual({
      waitMs: 60_000,
      minIntervalMs: 50,
      ratePerSecond: 10,
      burst: 2,
      requestTimeoutMs: 10_000,
    });
    expect(resolveConsulOptions({}, 'consul://x', 'url').token).toBe('url');
  });

  it.each([
    { wait: 0 },
    { wait: 601 },
    { queryRate: 0 },
    { queryBurst: 0.5 },
    { consistency: 'eventual' },
  ])('refuses %j', (o) => {
    expect(() => resolveConsulOptions(o as never, 'consul://x', undefined)).toThrow(/must be/);
  });
});
