/**
 * The etcd `grpc` layout: what grpc-go's `naming/endpoints` writes
 * (`<target>/<key>` = `{"Op":0,"Addr":"host:port","Metadata":...}`), read
 * per key beside the other layouts and written with `?format=grpc`.
 */
import { describe, expect, it } from 'vitest';
import { decodeEntry, encodeEntry, parseKey } from '../../../src/backends/etcd/codecs.js';
import { createInstance } from '../../../src/core/instance.js';
import { parseRegistryUrl } from '../../../src/registry-url.js';

const REGISTRY = 'etcd://127.0.0.1:2379/services/';
const entry = (id: string) => parseKey('/services/', `/services/hello/${id}`)!;

describe('etcd grpc layout', () => {
  it('reads what grpc-go endpoints.Manager writes', () => {
    const d = decodeEntry(
      entry('10.0.0.1:50051'),
      '{"Op":0,"Addr":"10.0.0.1:50051","Metadata":null}',
      REGISTRY,
    );
    expect(d.ok && d.value).toMatchObject({
      id: '10.0.0.1:50051',
      service: 'hello',
      host: '10.0.0.1',
      port: 50051,
      status: 'UP',
      metadata: {},
    });
  });

  it('keeps a string-map Metadata as metadata, any other Metadata whole as its JSON text', () => {
    const m = decodeEntry(entry('a'), '{"Addr":"[::1]:9","Metadata":{"version":"2"}}', REGISTRY);
    expect(m.ok && m.value).toMatchObject({ host: '::1', port: 9, metadata: { version: '2' } });
    const other = decodeEntry(entry('b'), '{"Op":0,"Addr":"h:9","Metadata":{"w":3}}', REGISTRY);
    expect(other.ok && other.value.metadata).toEqual({ 'grpc.metadata': '{"w":3}' });
  });

  it('skips an endpoint whose Addr is no host:port, naming the key and the path', () => {
    const d = decodeEntry(entry('x'), '{"Op":0,"Addr":"no port here"}', REGISTRY);
    expect(d.ok).toBe(false);
    if (!d.ok) {
      expect(d.error.key).toBe('/services/hello/x');
      expect(d.error.problems.join()).toMatch(/^Addr/);
    }
    const missing = decodeEntry(entry('y'), '{"Op":0,"Addr":5}', REGISTRY);
    expect(missing.ok).toBe(false);
  });

  it('writes the value grpc-go reads, and reads it back', () => {
    const i = createInstance(
      {
        service: 'hello',
        host: '127.0.0.1',
        port: 50051,
        id: 'rx-1',
        metadata: { version: '3' },
      },
      REGISTRY,
    );
    const value = encodeEntry(i, 'grpc');
    expect(JSON.parse(value)).toEqual({
      Op: 0,
      Addr: '127.0.0.1:50051',
      Metadata: { version: '3' },
    });
    const back = decodeEntry(entry('rx-1'), value, REGISTRY);
    expect(back.ok && back.value).toMatchObject({
      id: 'rx-1',
      host: '127.0.0.1',
      port: 50051,
      metadata: { version: '3' },
    });
    const bare = createInstance({ service: 'hello', host: 'h', port: 1 }, REGISTRY);
    expect(JSON.parse(encodeEntry(bare, 'grpc'))).toEqual({ Op: 0, Addr: 'h:1', Metadata: null });
  });

  it('is a format of etcd:// URLs', () => {
    const config = parseRegistryUrl('etcd://127.0.0.1:2379/services/?format=grpc');
    expect(config).toMatchObject({ format: 'grpc' });
    expect(() => parseRegistryUrl('etcd://127.0.0.1:2379/?format=grpcgo')).toThrow(
      /must be json, gokit, gomicro or grpc \(got 'grpcgo'\)/,
    );
  });
});
