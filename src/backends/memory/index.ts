import type { SchedulerLike } from 'rxjs';
import { toRecord } from '../../core/codecs.js';
import {
  type Backend,
  createDiscovery,
  type Discovery,
  type DiscoveryOptions,
} from '../../core/discovery.js';
import { RegistrationLostError } from '../../core/errors.js';
import type { Instance } from '../../core/instance.js';
import type { Registrar } from '../../core/registration.js';
import { withWatchParams } from '../../core/watch-params.js';
import { memoryCatalog, memoryServices, memorySource } from './source.js';
import { type MemoryRegistry, memoryRegistry } from './store.js';
import { memoryUrl } from './url.js';

interface MemoryLease {
  readonly id: number;
  readonly instance: Instance;
}

/** The registrar of the memory backend: a lease per registration, like etcd. */
const memoryRegistrar = (store: MemoryRegistry, registry: string): Registrar<MemoryLease> => ({
  register: async (instance, ttlMs) => {
    const id = store.grant(ttlMs);
    store.put(instance.service, instance.id, toRecord(instance), id);
    return { id, instance };
  },
  renew: async (lease) => {
    if (!store.keepAlive(lease.id)) {
      throw new RegistrationLostError(
        lease.instance.id,
        `lease ${lease.id} expired or was revoked`,
        {
          registry,
          service: lease.instance.service,
        },
      );
    }
  },
  deregister: async (lease) => {
    store.revoke(lease.id);
  },
});

/** The memory backend over `store`. */
export const memoryBackend = (store: MemoryRegistry): Backend => {
  const registry = `memory://${store.name}`;
  return {
    instances: (service) => memorySource(store, service, registry),
    services: () => memoryServices(store),
    catalog: () => memoryCatalog(store, registry),
    registrar: memoryRegistrar(store, registry),
    close: async () => undefined,
  };
};

/**
 * A {@link Discovery} over an in-memory registry: the process-wide one named
 * by `store` (a name), or a {@link MemoryRegistry} you made (with a test
 * scheduler, say).
 *
 * @example
 * ```ts
 * const registry = memoryDiscovery();            // same as discovery('memory://')
 * registry.register({ service: 'hello', host: '127.0.0.1', port: 8080 }).subscribe();
 * registry.instances$('hello').subscribe((set) => console.log(set.instances));
 * ```
 */
export const memoryDiscovery = (
  store: MemoryRegistry | string = '',
  options: DiscoveryOptions & { readonly scheduler?: SchedulerLike } = {},
): Discovery => {
  const s = typeof store === 'string' ? memoryRegistry(store) : store;
  const d = createDiscovery(`memory://${s.name}`, async () => memoryBackend(s), options);
  return withWatchParams(d, memoryUrl);
};

export {
  CompactedError,
  isCompactedError,
  type MemoryChange,
  type MemoryEntry,
  MemoryRegistry,
  memoryRegistry,
} from './store.js';
