/**
 * One rule for hostile keys on every path: a `__proto__` key is kept as
 * data (an own metadata entry), never dropped, never reaching a prototype.
 */
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeHealth } from '../../../src/backends/consul/codecs.js';
import { decodeEntry } from '../../../src/backends/etcd/codecs.js';
import { decodeInstanceInfo } from '../../../src/backends/eureka/codecs.js';
import type { Instance } from '../../../src/core/instance.js';

const hexZlib = (s: string): string => deflateSync(s).toString('hex');

const expectKept = (i: Instance | undefined, value: string): void => {
  expect(i).toBeDefined();
  expect(Object.hasOwn(i!.metadata, '__proto__')).toBe(true);
  expect(Object.getOwnPropertyDescriptor(i!.metadata, '__proto__')?.value).toBe(value);
  expect(Object.getPrototypeOf(i!.metadata)).toBe(Object.prototype);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
};

/** One Consul health entry of `web` with `tags` and raw `meta` JSON. */
const consul = (tags: string[], meta = '{}'): Instance | undefined =>
  decodeHealth(
    `[{"Node":{"Node":"n1","Address":"10.0.0.1"},"Service":{"ID":"web-1","Service":"web","Port":80,"Address":"","Tags":${JSON.stringify(tags)},"Meta":${meta}}}]`,
    'web',
    'consul://',
  ).instances[0];

describe('a __proto__ key is kept as data', () => {
  it('in Consul Meta', () => expectKept(consul([], '{"__proto__":"meta"}'), 'meta'));

  it('in Consul key=value tags', () => expectKept(consul(['__proto__=tag', 'a=b']), 'tag'));

  it('in go-micro t= and t- tags', () => {
    expectKept(consul(['t={"__proto__":"plain"}']), 'plain');
    expectKept(consul([`t-${hexZlib('{"__proto__":"zlib"}')}`]), 'zlib');
  });

  it('in Eureka metadata', () => {
    const raw = JSON.parse(
      '{"instanceId":"i-1","hostName":"h","status":"UP","port":80,"metadata":{"__proto__":"eureka","@class":"x"}}',
    );
    const d = decodeInstanceInfo(raw, 'hello', 'eureka://');
    expectKept(d.ok ? d.value : undefined, 'eureka');
  });

  it('in etcd JSON records and go-micro values', () => {
    const at = { key: '/s/hello/a', service: 'hello', id: 'a' };
    const json = decodeEntry(
      at,
      '{"id":"a","service":"hello","host":"h","port":80,"metadata":{"__proto__":"json"}}',
      'etcd://',
    );
    expectKept(json.ok ? json.value : undefined, 'json');
    const gm = decodeEntry(
      at,
      '{"name":"hello","nodes":[{"id":"a","address":"h:80","metadata":{"__proto__":"gomicro"}}]}',
      'etcd://',
    );
    expectKept(gm.ok ? gm.value : undefined, 'gomicro');
  });
});
