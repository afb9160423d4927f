import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeGoMicroTags, encodeGoMicroTags } from '../../../../src/backends/consul/gomicro.js';

const hexZlib = (s: string): string => deflateSync(Buffer.from(s)).toString('hex');

describe('go-micro Consul tags', () => {
  it('reads the current encoding (t- / v- / e-, hex of zlib)', () => {
    const r = decodeGoMicroTags([
      `t-${hexZlib('{"protocol":"grpc"}')}`,
      `t-${hexZlib('{"broker":"http"}')}`,
      `e-${hexZlib('{"name":"Greeter.Hello"}')}`,
      `v-${hexZlib('1.4.2')}`,
      'primary',
    ]);
    expect(r).toEqual({
      tags: ['primary'],
      metadata: { protocol: 'grpc', broker: 'http', version: '1.4.2' },
      found: true,
    });
  });

  it('reads the older plain encoding (t= / v= / e=)', () => {
    const r = decodeGoMicroTags(['t={"a":"1"}', 'e={"name":"X.Y"}', 'v=2.0.0']);
    expect(r.metadata).toEqual({ a: '1', version: '2.0.0' });
    expect(r.tags).toEqual([]);
  });

  it('keeps tags that only look like go-micro encodings', () => {
    const tags = ['t-zz', 'v-1', 'e-00', 't=notjson', 't={"a":1}', 'team', 'v=1.2', 'e=[1]'];
    const r = decodeGoMicroTags(tags);
    expect(r.found).toBe(false);
    expect(new Set(r.tags)).toEqual(new Set(tags));
    expect(r.metadata).toEqual({});
  });

  it('round-trips what encodeGoMicroTags writes', () => {
    const tags = encodeGoMicroTags({ region: 'eu', 'x-y': 'z' }, '3.1.0');
    expect(tags.every((t) => /^[tv]-[0-9a-f]+$/.test(t))).toBe(true);
    expect(decodeGoMicroTags(tags).metadata).toEqual({
      region: 'eu',
      'x-y': 'z',
      version: '3.1.0',
    });
  });
});
