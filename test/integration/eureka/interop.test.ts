/**
 * Interoperability with Spring Cloud Netflix: a real Java Eureka client
 * (test/interop/eureka-client, same Boot and Cloud versions as the server)
 * registers and is discovered by rxdisco; rxdisco registers and is
 * discovered by the Java client's DiscoveryClient; and rxdisco's
 * registration looks, in the server's /eureka/apps, like the Java one.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Discovery } from '../../../src/core/discovery.js';
import { waitFor } from '../../conformance/suite.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import {
  type EurekaJavaClient,
  type EurekaServer,
  startEureka,
  startEurekaJavaClient,
} from '../../servers/eureka.js';
import { getApps, testDiscovery } from './harness.js';

vi.setConfig({ testTimeout: 90_000, hookTimeout: 120_000 });
expectNoLeakedHandles();

const PATIENCE = 30_000;
let server: EurekaServer;
let java: EurekaJavaClient;
let rx: Discovery;

beforeAll(async () => {
  server = await startEureka();
  java = await startEurekaJavaClient(server.base, 'interop-java', {
    version: '2.0.0',
    zone: 'zone-a',
  });
  rx = testDiscovery(server.url, [], {
    pages: (i) => ({
      homePageUrl: `http://${i.host}:${i.port}/`,
      statusPageUrl: `http://${i.host}:${i.port}/actuator/info`,
      healthCheckUrl: `http://${i.host}:${i.port}/actuator/health`,
    }),
  });
});

afterAll(async () => {
  await rx?.close();
  await java?.stop();
  await server?.stop();
});

type Stored = Record<string, unknown> & { leaseInfo: Record<string, unknown> };

describe('Spring Cloud Netflix interop', () => {
  it('discovers an instance a Spring Cloud Netflix client registered', async () => {
    const set = await waitFor(
      rx.instances$('interop-java'),
      (s) => s.size === 1,
      PATIENCE,
      'the Java client',
    );
    expect(set.instances[0]).toMatchObject({
      id: java.instanceId,
      service: 'interop-java',
      host: '127.0.0.1',
      port: java.port,
      secure: false,
      status: 'UP',
      zone: 'zone-a',
      metadata: { version: '2.0.0', zone: 'zone-a' },
    });
  });

  it('is discovered by the Java DiscoveryClient, and registers like a Java client does', async () => {
    const reg = rx
      .register(
        {
          service: 'interop-rx',
          host: '127.0.0.1',
          port: 18200,
          id: 'rx-1',
          zone: 'zone-a',
          metadata: { version: '1.0.0' },
        },
        { ttlMs: 30_000 },
      )
      .subscribe();
    let seen: Awaited<ReturnType<EurekaJavaClient['seen']>> = [];
    const deadline = Date.now() + PATIENCE;
    while (seen.length === 0 && Date.now() < deadline) {
      seen = await java.seen('interop-rx');
      if (seen.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    expect(seen).toEqual([
      {
        instanceId: 'rx-1',
        host: '127.0.0.1',
        port: 18200,
        secure: false,
        metadata: { version: '1.0.0', zone: 'zone-a' },
      },
    ]);

    // field by field, as the server stores both
    const apps = await getApps(server.base);
    const find = (app: string) =>
      apps.applications.application.find((a) => a.name === app)!.instance[0]! as Stored;
    const j = find('INTEROP-JAVA');
    const r = find('INTEROP-RX');
    const same = [
      'status',
      'overriddenStatus',
      'countryId',
      'dataCenterInfo',
      'isCoordinatingDiscoveryServer',
    ];
    for (const k of same) expect(r[k], k).toEqual(j[k]);
    expect(Object.keys(r).sort()).toEqual(Object.keys(j).sort());
    expect(Object.keys(r.leaseInfo).sort()).toEqual(Object.keys(j.leaseInfo).sort());
    expect(r.app).toBe('INTEROP-RX');
    expect(r.hostName).toBe('127.0.0.1');
    expect(r.ipAddr).toBe('127.0.0.1');
    expect(r.port).toEqual({ $: 18200, '@enabled': 'true' });
    expect(r.securePort).toEqual(j.securePort);
    expect(r.vipAddress).toBe('interop-rx');
    expect(j.vipAddress).toBe('interop-java');
    expect(r.secureVipAddress).toBe('interop-rx');
    expect(r.healthCheckUrl).toBe('http://127.0.0.1:18200/actuator/health');
    expect(typeof r.lastDirtyTimestamp).toBe(typeof j.lastDirtyTimestamp);
    expect(r.leaseInfo.durationInSecs).toBe(30);
    expect(r.leaseInfo.renewalIntervalInSecs).toBe(10);

    reg.unsubscribe();
    await rx.settled();
    const gone = Date.now() + PATIENCE;
    while ((await java.seen('interop-rx')).length > 0 && Date.now() < gone)
      await new Promise((r) => setTimeout(r, 200));
    expect(await java.seen('interop-rx')).toEqual([]);
  });
});
