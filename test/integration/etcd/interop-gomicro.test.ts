/**
 * Interoperability with go-micro v4's etcd registry (plugins/v4/registry/etcd
 * v1.2.0, keys `/micro/registry/<service>/<node>`), both ways, through the
 * Go program in test/interop/gomicro: each side sees the other's
 * registration, metadata, version and deregistration (`?format=gomicro`).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Discovery } from '../../../src/core/discovery.js';
import type { RegistrationEvent } from '../../../src/core/registration.js';
import { waitFor } from '../../conformance/suite.js';
import { buildGoProgram, runGoProgram } from '../../helpers/go-program.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type EtcdCluster, startEtcd } from '../../servers/etcd.js';
import { testDiscovery } from './harness.js';

expectNoLeakedHandles();

const PATIENCE = 15_000;
let binary: string;
let etcd: EtcdCluster;
let d: Discovery;

beforeAll(async () => {
  binary = buildGoProgram('gomicro');
  etcd = await startEtcd();
  d = testDiscovery(`etcd://${etcd.endpoints[0]}/micro/registry/?format=gomicro`);
}, 300_000);

afterAll(async () => {
  await d?.close();
  await etcd?.destroy();
});

describe('go-micro etcd registry interop', () => {
  it('sees what go-micro registers, with its metadata and version, and its deregistration', async () => {
    const micro = runGoProgram(
      binary,
      'register',
      'etcd',
      etcd.endpoints[0]!,
      'greeter',
      '1.4.0',
      'greeter-1',
      '127.0.0.1:18800',
      'protocol=http',
      'team=blue',
      'zone=eu-1b',
    );
    try {
      await eventually(
        () => micro.lines.includes('registered'),
        PATIENCE,
        `go-micro registration ${micro.stderr.join('')}`,
      );
      const set = await waitFor(d.instances$('greeter'), (s) => s.size === 1, PATIENCE, 'greeter');
      expect(set.instances[0]).toMatchObject({
        id: 'greeter-1',
        host: '127.0.0.1',
        port: 18800,
        status: 'UP',
        zone: 'eu-1b',
        metadata: { protocol: 'http', team: 'blue', zone: 'eu-1b', version: '1.4.0' },
      });
      expect(await micro.stop()).toBe(0);
      expect(micro.lines).toContain('deregistered');
      await waitFor(d.instances$('greeter'), (s) => s.size === 0, PATIENCE, 'deregistration');
    } finally {
      await micro.stop();
    }
  });

  it("is seen by go-micro's GetService with its metadata and version, and its deregistration", async () => {
    const micro = runGoProgram(binary, 'watch', 'etcd', etcd.endpoints[0]!, 'rxsvc');
    try {
      await eventually(
        () => micro.lines.includes('[]'),
        PATIENCE,
        `go-micro's first (empty) answer ${micro.stderr.join('')}`,
      );
      const events: RegistrationEvent[] = [];
      const reg = d
        .register(
          {
            service: 'rxsvc',
            host: '127.0.0.1',
            port: 18801,
            id: 'rx-1',
            metadata: { version: '2.1.0', owner: 'team-a' },
            zone: 'eu-1a',
          },
          { ttlMs: 5000 },
        )
        .subscribe((e) => events.push(e));
      const seen = (): unknown[] => micro.lines.map((l) => JSON.parse(l) as unknown);
      await eventually(
        () => seen().some((s) => Array.isArray(s) && s.length === 1),
        PATIENCE,
        `go-micro to see rx-1 (saw ${micro.lines.join(' | ')})`,
      );
      expect(seen().find((s) => Array.isArray(s) && s.length === 1)).toMatchObject([
        {
          id: 'rx-1',
          address: '127.0.0.1:18801',
          version: '2.1.0',
          metadata: { owner: 'team-a', zone: 'eu-1a' },
        },
      ]);
      await eventually(() => events[0]?.type === 'registered', PATIENCE, 'the registered event');
      const before = micro.lines.length;
      reg.unsubscribe();
      await d.settled();
      await eventually(
        () => micro.lines.slice(before).includes('[]'),
        PATIENCE,
        `go-micro to see the deregistration (saw ${micro.lines.join(' | ')})`,
      );
    } finally {
      await micro.stop();
    }
  });
});
