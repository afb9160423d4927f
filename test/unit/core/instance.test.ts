import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/core/errors.js';
import { baseUrl, createInstance, sameInstance } from '../../../src/core/instance.js';
import { REGISTRY } from './fixtures.js';

const base = { service: 'hello', host: '10.0.0.1', port: 8080 };
const fieldOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).field;
  }
  throw new Error('expected a ConfigError');
};

describe('createInstance', () => {
  it('fills defaults, sorts and de-duplicates tags, and freezes the result', () => {
    const i = createInstance({ ...base, tags: ['b', 'a', 'b'], metadata: { v: '1' } }, REGISTRY);
    expect(i).toEqual({
      id: '10.0.0.1:8080',
      service: 'hello',
      host: '10.0.0.1',
      port: 8080,
      secure: false,
      status: 'UP',
      weight: 1,
      tags: ['a', 'b'],
      metadata: { v: '1' },
      registry: REGISTRY,
    });
    expect(Object.isFrozen(i)).toBe(true);
    expect(Object.isFrozen(i.tags)).toBe(true);
    expect(Object.isFrozen(i.metadata)).toBe(true);
  });

  it.each([
    ['host', { ...base, host: '' }],
    ['host', { ...base, host: '  ' }],
    ['port', { ...base, port: 0 }],
    ['port', { ...base, port: 65536 }],
    ['port', { ...base, port: 80.5 }],
    ['weight', { ...base, weight: -1 }],
    ['weight', { ...base, weight: Number.NaN }],
    ['status', { ...base, status: 'HAPPY' as never }],
    ['service', { ...base, service: '' }],
    ['service', { ...base, service: 'a b' }],
    ['id', { ...base, id: '' }],
    ['tags', { ...base, tags: [''] }],
    ['metadata.k', { ...base, metadata: { k: 1 as never } }],
    ['zone', { ...base, zone: '' }],
  ])('rejects a bad %s with a ConfigError naming it', (field, spec) => {
    expect(fieldOf(() => createInstance(spec, REGISTRY))).toBe(field);
  });

  it('names the registry, the service and a fix in the message', () => {
    expect(() => createInstance({ ...base, port: 0 }, REGISTRY)).toThrow(
      /registry memory:\/\/test, service 'hello': port must be an integer from 1 to 65535 \(got 0\); pass/,
    );
  });
});

describe('sameInstance', () => {
  it('compares every field, tags and metadata included', () => {
    const a = createInstance({ ...base, tags: ['x'], metadata: { k: 'v' } }, REGISTRY);
    expect(
      sameInstance(a, createInstance({ ...base, tags: ['x'], metadata: { k: 'v' } }, REGISTRY)),
    ).toBe(true);
    expect(
      sameInstance(a, createInstance({ ...base, tags: ['y'], metadata: { k: 'v' } }, REGISTRY)),
    ).toBe(false);
    expect(
      sameInstance(a, createInstance({ ...base, tags: ['x'], metadata: { k: 'w' } }, REGISTRY)),
    ).toBe(false);
    expect(
      sameInstance(
        a,
        createInstance({ ...base, tags: ['x'], metadata: { k: 'v' }, weight: 2 }, REGISTRY),
      ),
    ).toBe(false);
    expect(
      sameInstance(
        a,
        createInstance({ ...base, tags: ['x'], metadata: { k: 'v' }, status: 'DOWN' }, REGISTRY),
      ),
    ).toBe(false);
  });
});

describe('baseUrl', () => {
  it('builds http(s) URLs and brackets IPv6 hosts', () => {
    expect(baseUrl(createInstance(base, REGISTRY))).toBe('http://10.0.0.1:8080');
    expect(baseUrl(createInstance({ ...base, host: '::1', secure: true }, REGISTRY))).toBe(
      'https://[::1]:8080',
    );
  });
});
