import type { Etcd3 } from 'etcd3';
import { afterAll, beforeAll } from 'vitest';
import { conformance } from '../../conformance/suite.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import { type EtcdCluster, startEtcd } from '../../servers/etcd.js';
import { jsonValue, rawClient, revokeLeasesUnder, testDiscovery } from './harness.js';

expectNoLeakedHandles();

const PREFIX = '/conformance/';
let etcd: EtcdCluster;
let raw: Etcd3;

beforeAll(async () => {
  etcd = await startEtcd();
  raw = rawClient(etcd.endpoints);
});

afterAll(async () => {
  raw?.close();
  await etcd?.destroy();
});

conformance(
  'etcd://',
  () => ({
    discovery: () => testDiscovery(`etcd://${etcd.endpoints[0]}${PREFIX}`),
    writeRaw: async (r) => {
      await raw.put(`${PREFIX}${r.service}/${r.id}`).value(jsonValue(r));
    },
    deleteRaw: async (service, id) => {
      await raw.delete().key(`${PREFIX}${service}/${id}`);
    },
    writeMalformed: async (service, id) => {
      await raw
        .put(`${PREFIX}${service}/${id}`)
        .value(JSON.stringify({ id, service, port: 'eighty' }));
    },
    dropRegistrations: async (service) => {
      await revokeLeasesUnder(raw, `${PREFIX}${service}/`);
    },
    outage: async () => {
      await etcd.members[0]!.kill();
    },
    recover: async () => {
      await etcd.members[0]!.start();
    },
    ttlMs: 2000,
    patience: 10_000,
  }),
  { catalog: true },
);
