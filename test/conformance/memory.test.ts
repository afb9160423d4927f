import { memoryDiscovery, memoryRegistry } from '../../src/backends/memory/index.js';
import { exponentialBackoff } from '../../src/core/backoff.js';
import { toRecord } from '../../src/core/codecs.js';
import { createInstance } from '../../src/core/instance.js';
import { expectNoLeakedHandles } from '../helpers/handles.js';
import { conformance } from './suite.js';

expectNoLeakedHandles();

const store = memoryRegistry('conformance');

conformance(
  'memory://',
  () => ({
    discovery: () =>
      memoryDiscovery(store, {
        graceMs: 20,
        backoff: exponentialBackoff({ initialMs: 20, maxMs: 200 }),
        onProblem: () => undefined,
      }),
    writeRaw: async (r) => {
      store.put(r.service, r.id, toRecord(createInstance(r, 'memory://conformance')));
    },
    deleteRaw: async (service, id) => {
      store.delete(service, id);
    },
    writeMalformed: async (service, id) => {
      store.put(service, id, { id, service, host: '', port: 'eighty' });
    },
    dropRegistrations: async (service) => {
      for (const entry of store.read(service).entries)
        if (entry.lease !== undefined) store.revoke(entry.lease);
    },
    outage: async () => store.setAvailable(false),
    recover: async () => store.setAvailable(true),
    ttlMs: 1000,
    patience: 5000,
  }),
  { catalog: true },
);
