/**
 * The etcd registrar: a lease per registration, the instance key put with
 * it, one keepalive per `renew` (the core owns the timers: the etcd3
 * `Lease` object's own keepalive loop is not used), a revoke to deregister.
 *
 * @module
 */
import type { Etcd3 } from 'etcd3';
import { EtcdLeaseInvalidError } from 'etcd3';
import { type ErrorContext, RegistrationLostError } from '../../core/errors.js';
import type { Instance } from '../../core/instance.js';
import type { Registrar } from '../../core/registration.js';
import type { ClientHolder, ResolvedEtcdOptions } from './client.js';
import { encodeEntry, instanceKey } from './codecs.js';
import { toEtcdError } from './errors.js';
import type { EtcdFormat } from './url.js';

/** One registration: the lease and the key it keeps. */
export interface EtcdLease {
  /** The etcd lease id (int64, as a decimal string). */
  readonly id: string;
  readonly key: string;
  readonly instance: Instance;
}

/** What the registrar needs from its backend. */
export interface RegistrarDeps {
  readonly clients: ClientHolder;
  readonly options: ResolvedEtcdOptions;
  readonly prefix: string;
  readonly format: EtcdFormat;
  readonly registry: string;
}

const contextOf = (deps: RegistrarDeps, instance: Instance): ErrorContext => ({
  registry: deps.registry,
  service: instance.service,
});

/** Sends one keepalive for `id` and resolves to the TTL etcd answered (<= 0: lease gone). */
const keepAliveOnce = async (client: Etcd3, id: string, timeoutMs: number): Promise<number> => {
  const stream = await client.leaseClient.leaseKeepAlive({ deadline: Date.now() + timeoutMs });
  try {
    return await new Promise<number>((resolve, reject) => {
      stream.on('data', (res: { TTL: string }) => resolve(Number(res.TTL)));
      stream.on('error', reject);
      stream.on('end', () => reject(new Error('the keepalive stream ended without an answer')));
      stream.write({ ID: id });
    });
  } finally {
    // Late errors of the closing stream are of no interest.
    stream.on('error', () => undefined);
    stream.end();
  }
};

/** The registrar of an etcd backend. */
export const etcdRegistrar = (deps: RegistrarDeps): Registrar<EtcdLease> => ({
  register: async (instance, ttlMs) => {
    const context = contextOf(deps, instance);
    try {
      const client = deps.clients.get();
      const grant = await client.leaseClient.leaseGrant({ TTL: Math.ceil(ttlMs / 1000) });
      const key = instanceKey(deps.prefix, instance.service, instance.id);
      try {
        await client.put(key).value(encodeEntry(instance, deps.format)).lease(grant.ID).exec();
      } catch (e) {
        client.leaseClient.leaseRevoke({ ID: grant.ID }).catch(() => undefined);
        throw e;
      }
      return { id: grant.ID, key, instance };
    } catch (e) {
      throw toEtcdError(e, context);
    }
  },

  renew: async (lease) => {
    const context = contextOf(deps, lease.instance);
    let ttl: number;
    try {
      ttl = await keepAliveOnce(deps.clients.get(), lease.id, deps.options.callTimeoutMs);
    } catch (e) {
      if (e instanceof EtcdLeaseInvalidError || /lease not found/i.test(String(e))) ttl = 0;
      else throw toEtcdError(e, context);
    }
    if (ttl <= 0) {
      throw new RegistrationLostError(
        lease.instance.id,
        `etcd lease ${lease.id} expired or was revoked (keepalive answered TTL ${ttl})`,
        context,
      );
    }
  },

  deregister: async (lease) => {
    try {
      await deps.clients.get().leaseClient.leaseRevoke({ ID: lease.id });
    } catch (e) {
      if (e instanceof EtcdLeaseInvalidError || /lease not found/i.test(String(e))) return;
      throw toEtcdError(e, contextOf(deps, lease.instance));
    }
  },
});
