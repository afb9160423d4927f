/**
 * Interoperability with grpc-go and etcd's naming packages, both ways, with
 * a real etcd and the Go program in test/interop/grpc-go (built into
 * .cache/; go.etcd.io/etcd/client/v3 v3.5.0, google.golang.org/grpc v1.40.0
 * from the Go module proxy):
 * - a grpc-go server registered with `naming/endpoints` is called from
 *   grpc-js through `rxdisco:///` (both grpc-js minors);
 * - a grpc-js server registered by rxdisco with `?format=grpc` is called
 *   from grpc-go through `naming/resolver`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Discovery } from '../../../src/core/discovery.js';
import { registerRxdiscoResolver } from '../../../src/grpc/index.js';
import { waitFor } from '../../conformance/suite.js';
import { buildGoProgram, runGoProgram } from '../../helpers/go-program.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type EtcdCluster, startEtcd } from '../../servers/etcd.js';
import { testDiscovery } from '../etcd/harness.js';
import { GRPC_VERSIONS } from './echo.js';
import { check, healthClient, startHealth } from './health.js';

expectNoLeakedHandles();

const PATIENCE = 15_000;
let binary: string;
let etcd: EtcdCluster;
const opened: Discovery[] = [];

beforeAll(async () => {
  binary = buildGoProgram('grpc-go');
  etcd = await startEtcd();
}, 300_000);

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  await etcd?.destroy();
});

describe('grpc-go naming/endpoints interop', () => {
  it.each(GRPC_VERSIONS)(
    'grpc-js %s calls a grpc-go server registered with naming/endpoints through rxdisco:///',
    async (version, grpc) => {
      const target = `/grpcgo-${version}/greeter`;
      const go = runGoProgram(binary, 'serve', etcd.endpoints[0]!, target, `go-${version}`);
      try {
        await eventually(
          () => go.lines.some((l) => l.startsWith('registered ')),
          PATIENCE,
          `the grpc-go registration ${go.stderr.join('')}`,
        );
        const addr = go.lines.find((l) => l.startsWith('registered '))!.slice('registered '.length);
        const d = testDiscovery(`etcd://${etcd.endpoints[0]}/grpcgo-${version}/`);
        opened.push(d);
        const set = await waitFor(
          d.instances$('greeter'),
          (s) => s.size === 1,
          PATIENCE,
          'grpc-go',
        );
        expect(set.instances[0]).toMatchObject({ id: addr, host: '127.0.0.1' });
        const r = registerRxdiscoResolver(d, { grpc, scheme: `rxgo${version.replace('.', '')}` });
        const client = healthClient(grpc, r.target('greeter'));
        try {
          await expect(check(grpc, client)).resolves.toEqual({
            status: 1,
            server: `go-${version}`,
          });
        } finally {
          client.close();
          r.close();
        }
        expect(await go.stop()).toBe(0);
        expect(go.lines).toContain('deregistered');
        await waitFor(d.instances$('greeter'), (s) => s.size === 0, PATIENCE, 'its removal');
      } finally {
        await go.stop();
      }
    },
  );

  it('grpc-go calls a grpc-js server registered by rxdisco with ?format=grpc', async () => {
    const [, grpc] = GRPC_VERSIONS[0];
    const server = await startHealth(grpc, 'node-1');
    const d = testDiscovery(`etcd://${etcd.endpoints[0]}/rxgrpc/?format=grpc`);
    opened.push(d);
    const reg = d
      .register({ service: 'nodesvc', host: '127.0.0.1', port: server.port }, { ttlMs: 5000 })
      .subscribe();
    try {
      await waitFor(d.instances$('nodesvc'), (s) => s.size === 1, PATIENCE, 'the registration');
      const go = runGoProgram(binary, 'call', etcd.endpoints[0]!, '/rxgrpc/nodesvc', '3');
      await eventually(
        () => go.lines.length >= 3,
        PATIENCE,
        `grpc-go's calls ${go.stderr.join('')}`,
      );
      expect(go.lines.slice(0, 3)).toEqual([
        'ok SERVING node-1',
        'ok SERVING node-1',
        'ok SERVING node-1',
      ]);
      expect(await go.stop()).toBe(0);
    } finally {
      reg.unsubscribe();
      await d.settled();
      server.stop();
    }
  });
});
