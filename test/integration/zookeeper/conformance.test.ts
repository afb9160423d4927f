import { afterAll, beforeAll } from 'vitest';
import { conformance } from '../../conformance/suite.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import { startZookeeper, type ZookeeperCluster } from '../../servers/zookeeper.js';
import { curatorJson, type RawZk, rawZk, testDiscovery } from './harness.js';

expectNoLeakedHandles();

const BASE = '/conformance';
let zk: ZookeeperCluster;
let raw: RawZk;

beforeAll(async () => {
  zk = await startZookeeper();
  raw = await rawZk(zk.connectString);
});

afterAll(async () => {
  raw?.close();
  await zk?.destroy();
});

conformance('zk://', () => ({
  discovery: () => testDiscovery(`zk://${zk.connectString}${BASE}`),
  writeRaw: async (r) => raw.put(`${BASE}/${r.service}/${r.id}`, curatorJson(r)),
  deleteRaw: async (service, id) => raw.remove(`${BASE}/${service}/${id}`),
  writeMalformed: async (service, id) =>
    raw.put(
      `${BASE}/${service}/${id}`,
      JSON.stringify({ name: service, id, address: '127.0.0.1', port: 'eighty' }),
    ),
  dropRegistrations: async (service) => {
    // what an operator's `deleteall` of the nodes does: the ephemeral registrations are gone
    for (const c of await raw.children(`${BASE}/${service}`))
      await raw.remove(`${BASE}/${service}/${c}`);
  },
  outage: async () => {
    await zk.members[0]!.kill();
  },
  recover: async () => {
    await zk.members[0]!.start();
  },
  ttlMs: 2000,
  patience: 10_000,
}));
