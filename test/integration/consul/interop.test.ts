/**
 * Services registered by other stacks, as they register them (agent API
 * bodies of go-micro's and Spring Cloud Consul's registries), are
 * discovered with their metadata.
 */
import { deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeGoMicroTags } from '../../../src/backends/consul/gomicro.js';
import type { Discovery } from '../../../src/core/discovery.js';
import { waitFor } from '../../conformance/suite.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import { type ConsulAgent, ensureConsul, startConsul } from '../../servers/consul.js';
import { testDiscovery } from './harness.js';

expectNoLeakedHandles();

let agent: ConsulAgent;
let d: Discovery;

beforeAll(async () => {
  await ensureConsul();
  agent = await startConsul();
  d = testDiscovery(agent.url);
}, 15 * 60_000);

afterAll(async () => {
  await d?.close();
  await agent?.destroy();
});

/** go-micro's tag encoding: hex of zlib, as Go's compress/zlib + encoding/hex write it. */
const hexZlib = (s: string): string => deflateSync(Buffer.from(s)).toString('hex');

describe('interoperability', () => {
  it('discovers a go-micro service with its version and metadata', async () => {
    const id = 'greeter-6a0b3a53-55a4-4cd5-b0d5-0e4f1f7f6a8e';
    const r = await agent.api('PUT', '/v1/agent/service/register', {
      ID: id,
      Name: 'greeter',
      Address: '127.0.0.1',
      Port: 41000,
      Tags: [
        `t-${hexZlib(JSON.stringify({ protocol: 'grpc' }))}`,
        `t-${hexZlib(JSON.stringify({ registry: 'consul' }))}`,
        `e-${hexZlib(JSON.stringify({ name: 'Greeter.Hello', request: { name: 'Request', type: 'Request' } }))}`,
        `v-${hexZlib('1.0.3')}`,
      ],
      Meta: { broker: 'http', server: 'grpc', transport: 'grpc' },
      Check: {
        CheckID: `service:${id}`,
        TTL: '60s',
        Status: 'passing',
        DeregisterCriticalServiceAfter: '1m',
      },
    });
    expect(r.status).toBe(200);
    const set = await waitFor(d.instances$('greeter'), (s) => s.size === 1, 15_000, 'greeter');
    expect(set.instances[0]).toMatchObject({
      id,
      host: '127.0.0.1',
      port: 41000,
      status: 'UP',
      tags: [],
      metadata: {
        protocol: 'grpc',
        registry: 'consul',
        broker: 'http',
        server: 'grpc',
        transport: 'grpc',
        version: '1.0.3',
      },
    });
  });

  it('discovers a Spring Cloud Consul service with secure, zone and metadata', async () => {
    const r = await agent.api('PUT', '/v1/agent/service/register', {
      ID: 'billing-8081',
      Name: 'billing',
      Address: '127.0.0.1',
      Port: 8081,
      Tags: ['contextPath=/api', 'primary'],
      Meta: { secure: 'true', zone: 'zone-b', group: 'payments' },
      Check: { CheckID: 'service:billing-8081', TTL: '60s', Status: 'passing' },
    });
    expect(r.status).toBe(200);
    const set = await waitFor(d.instances$('billing'), (s) => s.size === 1, 15_000, 'billing');
    expect(set.instances[0]).toMatchObject({
      id: 'billing-8081',
      secure: true,
      zone: 'zone-b',
      tags: ['contextPath=/api', 'primary'],
      metadata: { secure: 'true', zone: 'zone-b', group: 'payments', contextPath: '/api' },
    });
  });

  it('is seen by plain Consul clients: what rxdisco registers is a normal agent service', async () => {
    const reg = d
      .register(
        {
          service: 'plain',
          host: '127.0.0.1',
          port: 24001,
          id: 'plain-1',
          tags: ['v1'],
          metadata: { version: '1' },
          zone: 'z1',
        },
        { ttlMs: 5000 },
      )
      .subscribe();
    await waitFor(d.instances$('plain'), (s) => s.size === 1, 15_000, 'plain-1');
    const r = await agent.api('GET', '/v1/catalog/service/plain');
    const [entry] = JSON.parse(r.text) as Array<Record<string, unknown>>;
    expect(entry).toMatchObject({
      ServiceID: 'plain-1',
      ServiceName: 'plain',
      ServiceAddress: '127.0.0.1',
      ServicePort: 24001,
      // go-micro's encodings of the metadata and version follow the plain tags
      ServiceTags: ['v1', ...encodeGoMicroTags({ zone: 'z1' }, '1')],
      ServiceMeta: { version: '1', zone: 'z1' },
    });
    const checks = JSON.parse((await agent.api('GET', '/v1/health/checks/plain')).text) as Array<
      Record<string, unknown>
    >;
    expect(checks[0]).toMatchObject({ CheckID: 'service:plain-1', Type: 'ttl', Status: 'passing' });
    reg.unsubscribe();
    await d.settled();
  });
});
