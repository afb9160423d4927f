import { memoryDiscovery, memoryRegistry } from '../../src/backends/memory/index.js';
import { exponentialBackoff } from '../../src/core/backoff.js';
import { toRecord } from '../../src/core/codecs.js';
import { createInstance } from '../../src/core/instance.js';
import { expectNoLeakedHandles } from '../helpers/handles.js';
import { conformance } from './suite.js';

expectNoLeakedHandles();

/** The memory harness; with `catalogViewsPast`, its per-service watches go through catalog views. */
const harness = (name: string, catalogViewsPast?: number) => {
  const store = memoryRegistry(name);
  return () => ({
    discovery: () =>
      memoryDiscovery(store, {
        graceMs: 20,
        backoff: exponentialBackoff({ initialMs: 20, maxMs: 200 }),
        onProblem: () => undefined,
        ...(catalogViewsPast === undefined ? {} : { catalogViewsPast }),
      }),
    writeRaw: async (r: {
      id: string;
      service: string;
      host: string;
      port: number;
      metadata?: Record<string, string>;
    }) => {
      store.put(r.service, r.id, toRecord(createInstance(r, `memory://${name}`)));
    },
    deleteRaw: async (service: string, id: string) => {
      store.delete(service, id);
    },
    writeMalformed: async (service: string, id: string) => {
      store.put(service, id, { id, service, host: '', port: 'eighty' });
    },
    dropRegistrations: async (service: string) => {
      for (const entry of store.read(service).entries)
        if (entry.lease !== undefined) store.revoke(entry.lease);
    },
    outage: async () => store.setAvailable(false),
    recover: async () => store.setAvailable(true),
    ttlMs: 1000,
    patience: 5000,
  });
};

conformance('memory://', harness('conformance'), { catalog: true });

// The same contract when every instances$() is a view of the one catalog.
conformance('memory:// (catalog views)', harness('conformance-views', 0), { catalog: true });
