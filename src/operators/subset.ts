import type { MonoTypeOperatorFunction } from 'rxjs';
import { ConfigError } from '../core/errors.js';
import type { Instance } from '../core/instance.js';
import {
  compareIds,
  type InstanceSet,
  instanceSet,
  replaceAll,
  stalenessOf,
} from '../core/instance-set.js';
import { numberOption } from '../core/options.js';
import { hashString, mix32 } from './balancers/hash.js';
import { lazyNote, noteSet } from './explain.js';
import { operate } from './operate.js';

/** Options of {@link subset}. */
export interface SubsetOptions {
  /**
   * How many instances each client uses; a set of fewer gives all of them.
   * @default 20
   */
  readonly size?: number;
  /**
   * What tells this client from the others of the same service (a pod
   * name, a host name and a process role): the same id always gets the same
   * subset of the same instances.
   * @default the `HOSTNAME` environment variable (the pod name in
   *   Kubernetes); without it, `clientId` must be given
   */
  readonly clientId?: string;
}

/**
 * The rendezvous score of an instance for a client: highest random weight
 * (Thaler and Ravishankar), from the two 32-bit hashes.
 *
 * @example
 * ```ts
 * rendezvousScore(hashString('client-7'), 'i-0af3'); // an integer in [0, 2^32)
 * ```
 */
export const rendezvousScore = (clientHash: number, id: string): number =>
  mix32(mix32(hashString(id) ^ clientHash) + Math.imul(clientHash, 0x9e3779b1));

/**
 * The `size` instances of `instances` with the highest rendezvous scores
 * for `clientHash`, ties broken by id (internal; O(n log n)).
 */
export const rendezvousTop = (
  instances: readonly Instance[],
  clientHash: number,
  size: number,
): Instance[] => {
  const scored = instances.map((i) => ({ i, score: rendezvousScore(clientHash, i.id) }));
  scored.sort((a, b) => b.score - a.score || compareIds(a.i.id, b.i.id));
  return scored.slice(0, size).map((s) => s.i);
};

/**
 * Deterministic subsetting by rendezvous hashing: each client uses only the
 * `size` instances that score highest for its `clientId`, so that 1,000
 * clients of 300 instances do not each keep 300 connections. The subset is
 * a pure function of the client id and the instances' ids: the order in
 * which a registry lists them does not matter; one instance leaving moves
 * only the clients that had it (each takes its next best instance), one
 * joining moves only the clients it now scores in for. A set of at most
 * `size` instances is passed through whole. Each client's share of the
 * instances is random, not coordinated: the number of clients per
 * instance varies as a binomial law does (mean `clients × size / instances`).
 *
 * Place it before `healthy()`, so that an instance going down and up does
 * not reshuffle subsets; the output keeps the staleness of its input and
 * emits only when the subset changed in effect.
 *
 * @throws {ConfigError} when `size` is not an integer >= 1, or `clientId`
 *   is empty (or not given and `HOSTNAME` is not set).
 * @example
 * ```ts
 * registry.instances$('hello').pipe(
 *   subset({ size: 20, clientId: process.env.POD_NAME }),
 *   healthy(),
 *   leastRequest(),
 * );
 * ```
 */
export const subset = (options: SubsetOptions = {}): MonoTypeOperatorFunction<InstanceSet> => {
  const size = numberOption('size', options.size, 20, {
    integer: true,
    min: 1,
    fix: 'use e.g. 20',
  });
  const clientId = options.clientId ?? process.env.HOSTNAME;
  if (typeof clientId !== 'string' || clientId === '') {
    throw new ConfigError(
      'clientId',
      `must be a non-empty string (got ${JSON.stringify(clientId)})`,
      'pass what tells this client from the others, such as its pod name (HOSTNAME is not set)',
    );
  }
  const clientHash = hashString(clientId);
  return operate((out) => ({
    next: (set) => {
      if (set.size <= size) {
        out.emit(
          out.last === undefined ? set : replaceAll(out.last, set.instances, stalenessOf(set)),
        );
        return;
      }
      const chosen = rendezvousTop(set.instances, clientHash, size);
      const before = out.last;
      const next =
        before === undefined
          ? instanceSet(set.service, set.registry, chosen, stalenessOf(set))
          : replaceAll(before, chosen, stalenessOf(set));
      const of = set.size;
      // For explain(): which subset, of how many.
      noteSet(
        next,
        lazyNote('subset', () => ({ clientId, size, of })),
      );
      out.emit(next);
    },
  }));
};
