import { describe, expect, it } from 'vitest';
import { decodeNode, encodeNode } from '../../../../src/backends/zookeeper/codecs.js';
import { ENTRY_LIMITS } from '../../../../src/core/codecs.js';
import { createInstance } from '../../../../src/core/instance.js';

const R = 'zk://127.0.0.1:2181/services';
const node = (id: string, service = 'hello') => ({
  path: `/services/${service}/${id}`,
  service,
  id,
});
const spring = (over: Record<string, unknown> = {}) =>
  Buffer.from(
    JSON.stringify({
      name: 'hello',
      id: 'a1',
      address: '10.0.0.1',
      port: 8080,
      sslPort: null,
      payload: {
        '@class': 'org.springframework.cloud.zookeeper.discovery.ZookeeperInstance',
        id: 'hello',
        name: 'hello',
        metadata: { instance_status: 'OUT_OF_SERVICE', zone: 'eu-1', version: '2' },
      },
      registrationTimeUTC: 1,
      serviceType: 'DYNAMIC',
      uriSpec: { parts: [] },
      ...over,
    }),
  );

describe('ZooKeeper node codecs', () => {
  it('reads a Spring Cloud Zookeeper ServiceInstance: metadata, zone and status from the payload', () => {
    const d = decodeNode(node('a1'), spring(), R);
    expect(d.ok && d.value).toMatchObject({
      id: 'a1',
      service: 'hello',
      host: '10.0.0.1',
      port: 8080,
      secure: false,
      status: 'OUT_OF_SERVICE',
      zone: 'eu-1',
      metadata: { version: '2', zone: 'eu-1', instance_status: 'OUT_OF_SERVICE' },
    });
  });

  it('reads sslPort alone as a secure instance, and keeps a payload of another class as JSON text', () => {
    const d = decodeNode(node('a1'), spring({ port: null, sslPort: 8443, payload: ['x'] }), R);
    expect(d.ok && d.value).toMatchObject({
      port: 8443,
      secure: true,
      metadata: { 'curator.payload': '["x"]' },
    });
  });

  it('reads a go-kit address node, the node name as id', () => {
    const d = decodeNode(node('_c_0f-0000000003'), Buffer.from('http://10.0.0.2:9000'), R);
    expect(d.ok && d.value).toMatchObject({
      id: '_c_0f-0000000003',
      host: '10.0.0.2',
      port: 9000,
      status: 'UP',
    });
  });

  it('skips malformed nodes with a DecodeError naming the node and the path', () => {
    const wrongId = decodeNode(node('b2'), spring(), R);
    expect(!wrongId.ok && wrongId.error.message).toMatch(
      /\/services\/hello\/b2.*id: expected "b2" \(the node name\)/,
    );
    const badPort = decodeNode(node('a1'), spring({ port: 'eighty' }), R);
    expect(!badPort.ok && badPort.error.message).toMatch(/port/);
    const badHost = decodeNode(node('a1'), spring({ address: 'a b' }), R);
    expect(!badHost.ok && badHost.error.message).toMatch(/address: expected Host/);
    const empty = decodeNode(node('a1'), undefined, R);
    expect(empty.ok).toBe(false);
    const huge = decodeNode(node('a1'), Buffer.alloc(ENTRY_LIMITS.maxBytes + 1, 0x20), R);
    expect(!huge.ok && huge.error.message).toMatch(/at most/);
    const deep = decodeNode(
      node('a1'),
      Buffer.from(
        `{"name":"hello","id":"a1","address":"h","port":1,"payload":${'['.repeat(5000)}${']'.repeat(5000)}}`,
      ),
      R,
    );
    expect(deep.ok).toBe(false);
  });

  it('writes what it reads, in both layouts', () => {
    const i = createInstance(
      {
        service: 'hello',
        id: 'a1',
        host: '10.0.0.1',
        port: 8443,
        secure: true,
        zone: 'z',
        weight: 3,
        metadata: { k: 'v' },
      },
      R,
    );
    const curator = JSON.parse(encodeNode(i, 'curator', 5).toString());
    expect(curator).toMatchObject({
      name: 'hello',
      id: 'a1',
      address: '10.0.0.1',
      port: null,
      sslPort: 8443,
      registrationTimeUTC: 5,
      serviceType: 'DYNAMIC',
    });
    expect(curator.payload.metadata).toEqual({
      k: 'v',
      zone: 'z',
      weight: '3',
      instance_status: 'UP',
    });
    const back = decodeNode(node('a1'), encodeNode(i, 'curator', 5), R);
    expect(back.ok && back.value).toMatchObject({
      host: '10.0.0.1',
      port: 8443,
      secure: true,
      zone: 'z',
      weight: 3,
    });
    expect(encodeNode(i, 'gokit', 5).toString()).toBe('https://10.0.0.1:8443');
  });
});
