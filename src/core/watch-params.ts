/**
 * The one check of `instances$(service, params)` params: every backend
 * declares the params it accepts (in its light `url.ts`), and its discovery
 * rejects any other at call time, before the backend is loaded.
 *
 * @module
 */
import type { Observable } from 'rxjs';
import type { Discovery, WatchParams } from './discovery.js';
import { ConfigError, type ErrorContext } from './errors.js';
import type { InstanceSet } from './instance-set.js';

/**
 * Throws when `params` has a param that is not in `accepted`.
 *
 * @param scheme - for the message: `etcd://`.
 * @throws {ConfigError} naming `params.<name>` and the accepted params.
 * @example
 * ```ts
 * checkWatchParams({ tag: 'v2' }, [], { registry: 'etcd://h:2379/', service: 'hello' }, 'etcd://');
 * // ConfigError: ... params.tag is not a param of etcd:// watches; etcd:// watches take no params
 * ```
 */
export const checkWatchParams = (
  params: WatchParams,
  accepted: readonly string[],
  context: ErrorContext,
  scheme: string,
): void => {
  for (const k of Object.keys(params)) {
    if (!accepted.includes(k)) {
      throw new ConfigError(
        `params.${k}`,
        `is not a param of ${scheme} watches`,
        accepted.length === 0
          ? `${scheme} watches take no params: remove it`
          : `use ${accepted.join(', ')}`,
        context,
      );
    }
  }
};

/**
 * `discovery` whose `instances$(service, params)` throws a {@link ConfigError}
 * at once for a param not in `accepted`.
 *
 * @param scheme - for the message: `etcd://`.
 */
export const withWatchParams = (
  discovery: Discovery,
  accepted: readonly string[],
  scheme: string,
): Discovery => ({
  ...discovery,
  instances$: (service: string, params: WatchParams = {}): Observable<InstanceSet> => {
    checkWatchParams(params, accepted, { registry: discovery.registry, service }, scheme);
    return discovery.instances$(service, params);
  },
});
