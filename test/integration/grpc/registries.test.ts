/**
 * rxdisco/grpc over real registries: grpc-js Echo servers registered by
 * rxdisco in a real etcd and a real Consul, called through `rxdisco:///echo`
 * with grpc-js 1.14.x and 1.13.x; a deregistered server stops getting calls.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Discovery } from '../../../src/core/discovery.js';
import { registerRxdiscoResolver } from '../../../src/grpc/index.js';
import { waitFor } from '../../conformance/suite.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import { type ConsulAgent, ensureConsul, startConsul } from '../../servers/consul.js';
import { type EtcdCluster, startEtcd } from '../../servers/etcd.js';
import { testDiscovery as consulTestDiscovery } from '../consul/harness.js';
import { testDiscovery as etcdTestDiscovery } from '../etcd/harness.js';
import { GRPC_VERSIONS, generatedClient, startEcho } from './echo.js';

expectNoLeakedHandles();

const PATIENCE = 15_000;
let etcd: EtcdCluster;
let consul: ConsulAgent;
const opened: Discovery[] = [];

beforeAll(async () => {
  await ensureConsul();
  [etcd, consul] = await Promise.all([startEtcd(), startConsul()]);
}, 15 * 60_000);

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  await Promise.all([etcd?.destroy(), consul?.destroy()]);
});

const REGISTRIES = [
  ['etcd', () => etcdTestDiscovery(`etcd://${etcd.endpoints[0]}/grpc-registries/`)],
  ['Consul', () => consulTestDiscovery(consul.url)],
] as const;

let n = 0;

describe.each(REGISTRIES)('%s', (registry, make) => {
  it.each(GRPC_VERSIONS)(
    'grpc-js %s calls the registered servers, and leaves a deregistered one',
    async (version, grpc) => {
      const d = make();
      opened.push(d);
      const service = `echo-${registry.toLowerCase()}-${version.replace('.', '')}`;
      const servers = await Promise.all(
        ['a', 'b'].map((name) => startEcho(grpc, `${service}-${name}`)),
      );
      const regs = servers.map((s) =>
        d
          .register({ service, id: s.name, host: '127.0.0.1', port: s.port }, { ttlMs: 10_000 })
          .subscribe(),
      );
      const r = registerRxdiscoResolver(d, { grpc, scheme: `rxreg${n++}` });
      const client = generatedClient(grpc, r.target(service));
      try {
        await waitFor(d.instances$(service), (s) => s.size === 2, PATIENCE, 'both registrations');
        const seen = new Set<string>();
        for (let i = 0; i < 20; i++) seen.add(await client.who(undefined, { waitForReady: true }));
        expect(seen).toEqual(new Set(servers.map((s) => s.name)));
        regs[0]!.unsubscribe();
        await d.settled();
        await waitFor(d.instances$(service), (s) => s.size === 1, PATIENCE, 'the deregistration');
        // the channel follows its own watch of the same stream: wait for 10 calls in a row to b
        const started = Date.now();
        for (let run = 0; run < 10; ) {
          run = (await client.who()) === servers[1]!.name ? run + 1 : 0;
          expect(Date.now() - started).toBeLessThan(PATIENCE);
        }
        const after = new Set<string>();
        for (let i = 0; i < 20; i++) after.add(await client.who());
        expect(after).toEqual(new Set([servers[1]!.name]));
      } finally {
        client.close();
        r.close();
        for (const reg of regs) reg.unsubscribe();
        await d.settled();
        for (const s of servers) await s.stop();
      }
    },
  );
});
