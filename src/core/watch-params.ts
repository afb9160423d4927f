/**
 * The one check of `instances$(service, params)` params: every backend
 * declares the params it accepts in its light `url.ts` grammar (and may check
 * their values there), and its discovery rejects any other at call time,
 * before the backend is loaded.
 *
 * @module
 */
import type { Observable } from 'rxjs';
import type { Discovery, WatchParams } from './discovery.js';
import { ConfigError, type ErrorContext } from './errors.js';
import type { InstanceSet } from './instance-set.js';
import type { UrlCommon, UrlGrammar } from './url.js';

/**
 * The watch params a backend takes: its scheme's kind, the param names and,
 * optionally, a check of their values. A backend's {@link UrlGrammar} is one.
 *
 * @example
 * ```ts
 * const spec: WatchParamsSpec = { kind: 'my', watchParams: [] }; // my:// watches take no params
 * ```
 */
export type WatchParamsSpec = Pick<
  UrlGrammar<UrlCommon & { readonly kind: string }>,
  'kind' | 'watchParams' | 'checkWatchParams'
>;

/**
 * Throws when `params` has a param that `spec` does not take, or (when
 * `spec` checks them) a bad value.
 *
 * @throws {ConfigError} naming `params.<name>` and the accepted params.
 * @example
 * ```ts
 * checkWatchParams({ tag: 'v2' }, etcdUrl, { registry: 'etcd://h:2379/', service: 'hello' });
 * // ConfigError: ... params.tag is not a param of etcd:// watches; etcd:// watches take no params: remove it
 * ```
 */
export const checkWatchParams = (
  params: WatchParams,
  spec: WatchParamsSpec,
  context: ErrorContext,
): void => {
  const scheme = `${spec.kind}://`;
  const accepted = spec.watchParams;
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
  spec.checkWatchParams?.(params, context);
};

/**
 * `discovery` whose `instances$(service, params)` throws a {@link ConfigError}
 * at once for a param `spec` does not take or a bad value.
 *
 * @example
 * ```ts
 * const registry = withWatchParams(createDiscovery('my://', load), { kind: 'my', watchParams: [] });
 * registry.instances$('hello', { tag: 'v2' }); // ConfigError: params.tag is not a param of my:// watches; ...
 * ```
 */
export const withWatchParams = (discovery: Discovery, spec: WatchParamsSpec): Discovery => ({
  ...discovery,
  instances$: (service: string, params: WatchParams = {}): Observable<InstanceSet> => {
    checkWatchParams(params, spec, { registry: discovery.registry, service });
    return discovery.instances$(service, params);
  },
});
