/**
 * The ZooKeeper registrar: an ephemeral node per registration, owned by the
 * backend's session. `renew` checks that the session is the one that made
 * the node and that the node is still there; a new session (the old one
 * expired) or a deleted node is a `RegistrationLostError`, and the core
 * registers again on the current session.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import {
  type ErrorContext,
  RegistrationLostError,
  RegistryUnavailableError,
} from '../../core/errors.js';
import type { Instance } from '../../core/instance.js';
import type { Registrar } from '../../core/registration.js';
import { encodeNode } from './codecs.js';
import { type SessionHolder, toZkError, type ZkSession } from './session.js';
import type { ZookeeperFormat } from './url.js';
import { CREATE_MODE, ZK_CODES, type ZkStat, zkCode } from './zk-client.js';

/** One registration: the node and the session that owns it. */
export interface ZookeeperLease {
  /** The node's path (with its sequence number for go-kit's layout). */
  readonly path: string;
  /** The id (hex) of the session that created the node. */
  readonly sessionId: string;
  readonly instance: Instance;
}

/** What the registrar needs from its backend. */
export interface RegistrarDeps {
  readonly sessions: SessionHolder;
  readonly base: string;
  readonly format: ZookeeperFormat;
  readonly registry: string;
}

const stat = (s: ZkSession, path: string): Promise<ZkStat | null> =>
  s.call<ZkStat | null>(`exists ${path}`, (done) =>
    s.client.exists(path, undefined, (e, st) => done(e, st)),
  );

const create = (s: ZkSession, path: string, data: Buffer, mode: number): Promise<string> =>
  s.call<string>(`create ${path}`, (done) =>
    s.client.create(path, data, mode, (e, p) => done(e, p)),
  );

const remove = (s: ZkSession, path: string): Promise<void> =>
  s.call<void>(`delete ${path}`, (done) => s.client.remove(path, -1, (e) => done(e)));

/** The registrar of a ZooKeeper backend. */
export const zookeeperRegistrar = (deps: RegistrarDeps): Registrar<ZookeeperLease> => {
  const contextOf = (instance: Instance): ErrorContext => ({
    registry: deps.registry,
    service: instance.service,
  });
  return {
    register: async (instance) => {
      const context = contextOf(instance);
      try {
        const s = await deps.sessions.current();
        const parent = `${deps.base}/${instance.service}`;
        await s.call<string>(`mkdirp ${parent}`, (done) =>
          s.client.mkdirp(parent, (e, p) => done(e, p)),
        );
        const data = encodeNode(instance, deps.format, Date.now());
        if (deps.format === 'gokit') {
          // go-kit's CreateProtectedEphemeralSequential: _c_<guid>-<sequence>
          const guid = randomUUID().replaceAll('-', '');
          const path = await create(
            s,
            `${parent}/_c_${guid}-`,
            data,
            CREATE_MODE.EPHEMERAL_SEQUENTIAL,
          );
          return { path, sessionId: s.id, instance };
        }
        const path = `${parent}/${instance.id}`;
        try {
          await create(s, path, data, CREATE_MODE.EPHEMERAL);
        } catch (e) {
          if (zkCode(e) !== ZK_CODES.NODE_EXISTS) throw e;
          // Left by a session of ours that expired (the ensemble has not noticed yet) or by
          // another process with the same id: the newest registration wins, as with Curator.
          await remove(s, path).catch((r: unknown) => {
            if (zkCode(r) !== ZK_CODES.NO_NODE) throw r;
          });
          await create(s, path, data, CREATE_MODE.EPHEMERAL);
        }
        return { path, sessionId: s.id, instance };
      } catch (e) {
        throw toZkError(e, context);
      }
    },

    renew: async (lease) => {
      const context = contextOf(lease.instance);
      const s = deps.sessions.peek();
      if (s === undefined || !s.alive || s.id !== lease.sessionId) {
        throw new RegistrationLostError(
          lease.instance.id,
          `the ZooKeeper session ${lease.sessionId} that owned ${lease.path} expired`,
          context,
        );
      }
      if (!s.connected) {
        throw new RegistryUnavailableError(
          `no connection to ZooKeeper to check ${lease.path}`,
          context,
        );
      }
      let st: ZkStat | null;
      try {
        st = await stat(s, lease.path);
      } catch (e) {
        throw toZkError(e, context);
      }
      if (st === null || st.ephemeralOwner.toString('hex') !== lease.sessionId) {
        throw new RegistrationLostError(
          lease.instance.id,
          `${lease.path} was deleted or is no longer owned by session ${lease.sessionId}`,
          context,
        );
      }
    },

    deregister: async (lease) => {
      const s = deps.sessions.peek();
      // Another session: the ephemeral node went with the old one.
      if (s === undefined || !s.alive || s.id !== lease.sessionId) return;
      try {
        await remove(s, lease.path);
      } catch (e) {
        if (zkCode(e) === ZK_CODES.NO_NODE) return;
        throw toZkError(e, contextOf(lease.instance));
      }
    },
  };
};
