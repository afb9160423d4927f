/**
 * Defect 10: every backend rejects an `instances$(service, params)` param it
 * does not take, with a ConfigError naming the param and the accepted ones,
 * when instances$() is called (before any backend is loaded).
 */
import { describe, expect, it } from 'vitest';
import { consulDiscovery } from '../../../src/backends/consul/index.js';
import { etcdDiscovery } from '../../../src/backends/etcd/index.js';
import { eurekaDiscovery } from '../../../src/backends/eureka/index.js';
import { memoryDiscovery } from '../../../src/backends/memory/index.js';
import { staticDiscovery } from '../../../src/backends/static/index.js';
import type { Discovery, WatchParams } from '../../../src/core/discovery.js';
import { ConfigError } from '../../../src/core/errors.js';
import { discovery } from '../../../src/discovery.js';

const rejection = (d: Discovery, params: WatchParams): ConfigError => {
  try {
    d.instances$('hello', params);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  } finally {
    void d.close();
  }
  throw new Error(`expected ${d.registry} to reject ${JSON.stringify(params)} at once`);
};

// Nothing listens on port 9: a backend that was contacted would not answer.
const noParams: Array<[string, () => Discovery]> = [
  ['memory:// (discovery)', () => discovery('memory://params')],
  ['memoryDiscovery', () => memoryDiscovery('params')],
  ['etcd:// (discovery)', () => discovery('etcd://127.0.0.1:9/services/')],
  ['etcdDiscovery', () => etcdDiscovery('etcd://127.0.0.1:9/services/')],
  ['eureka:// (discovery)', () => discovery('eureka://127.0.0.1:9/eureka')],
  ['eurekaDiscovery', () => eurekaDiscovery('eureka://127.0.0.1:9/eureka')],
  ['static:// (discovery)', () => discovery('static://127.0.0.1:9')],
  ['staticDiscovery', () => staticDiscovery([{ host: '127.0.0.1', port: 9 }])],
];

describe('watch params', () => {
  it.each(noParams)('%s rejects any param at instances$() time', (_, open) => {
    const e = rejection(open(), { tag: 'v2' });
    expect(e.field).toBe('params.tag');
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(
      /params\.tag is not a param of \w+:\/\/ watches; \w+:\/\/ watches take no params: remove it/,
    );
    expect(e.service).toBe('hello');
  });

  it.each([
    ['consul:// (discovery)', () => discovery('consul://127.0.0.1:9')],
    ['consulDiscovery', () => consulDiscovery('consul://127.0.0.1:9')],
  ])('%s rejects an unknown param at instances$() time, naming the accepted ones', (_, open) => {
    const e = rejection(open(), { colour: 'red' });
    expect(e.field).toBe('params.colour');
    expect(e.message).toContain(
      'params.colour is not a param of consul:// watches; use passing, tag, near, dc, stale, consistent, filter',
    );
  });

  it.each([
    [{ passing: 'maybe' }, 'params.passing must be true or false (got "maybe")'],
    [{ near: '' }, 'params.near must be a non-empty string'],
    [{ stale: true, consistent: true }, 'params.stale and params.consistent cannot both be true'],
  ])('consul:// rejects the bad value %j at instances$() time', (params, message) => {
    for (const d of [discovery('consul://127.0.0.1:9'), consulDiscovery('consul://127.0.0.1:9')]) {
      expect(rejection(d, params).message).toContain(message);
    }
  });

  it('lets the params a backend takes through, and no params at all', async () => {
    const consul = consulDiscovery('consul://127.0.0.1:9');
    expect(() => consul.instances$('hello', { passing: false, tag: 'v2' })).not.toThrow();
    const memory = memoryDiscovery('params');
    expect(() => memory.instances$('hello')).not.toThrow();
    expect(() => memory.instances$('hello', {})).not.toThrow();
    await Promise.all([consul.close(), memory.close()]);
  });
});
