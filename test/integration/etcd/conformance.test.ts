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

/** The etcd harness on `prefix`; with `catalogViewsPast`, per-service watches are catalog views. */
const harness = (prefix: string, catalogViewsPast?: number) => () => ({
  discovery: () =>
    testDiscovery(
      `etcd://${etcd.endpoints[0]}${prefix}`,
      [],
      catalogViewsPast === undefined ? {} : { catalogViewsPast },
    ),
  writeRaw: async (r: { id: string; service: string; host: string; port: number }) => {
    await raw.put(`${prefix}${r.service}/${r.id}`).value(jsonValue(r));
  },
  deleteRaw: async (service: string, id: string) => {
    await raw.delete().key(`${prefix}${service}/${id}`);
  },
  writeMalformed: async (service: string, id: string) => {
    await raw
      .put(`${prefix}${service}/${id}`)
      .value(JSON.stringify({ id, service, port: 'eighty' }));
  },
  dropRegistrations: async (service: string) => {
    await revokeLeasesUnder(raw, `${prefix}${service}/`);
  },
  outage: async () => {
    await etcd.members[0]!.kill();
  },
  recover: async () => {
    await etcd.members[0]!.start();
  },
  ttlMs: 2000,
  patience: 10_000,
});

conformance('etcd://', harness(PREFIX), { catalog: true });

// The same contract when every instances$() is a view of the one prefix watch.
conformance('etcd:// (catalog views)', harness('/conformance-views/', 0), { catalog: true });
