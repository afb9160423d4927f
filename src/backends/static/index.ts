import { concat, NEVER, of } from 'rxjs';
import {
  type Backend,
  createDiscovery,
  type Discovery,
  type DiscoveryOptions,
} from '../../core/discovery.js';
import { createInstance, type InstanceSpec } from '../../core/instance.js';
import { type Endpoint, formatHostPort } from '../../core/url.js';
import { withWatchParams } from '../../core/watch-params.js';
import { staticUrl } from './url.js';

/** What a static registry lists: endpoints for every service, or instances per service. */
export type StaticEntries =
  | readonly Endpoint[]
  | Readonly<Record<string, readonly Omit<InstanceSpec, 'service'>[]>>;

const isEndpointList = (entries: StaticEntries): entries is readonly Endpoint[] =>
  Array.isArray(entries);

/**
 * The static backend: a fixed list, read-only. Every entry is validated now,
 * so a bad list is a {@link ConfigError} at once, not a stream fault.
 */
export const staticBackend = (
  entries: StaticEntries,
  registry: string,
  secure = false,
): Backend => {
  const specsFor = (service: string): readonly InstanceSpec[] =>
    isEndpointList(entries)
      ? entries.map((e) => ({ service, host: e.host, port: e.port, secure }))
      : (entries[service] ?? []).map((s) => ({ ...s, service }));
  const services = isEndpointList(entries) ? [] : Object.keys(entries);
  for (const service of isEndpointList(entries) ? ['static'] : services) {
    for (const spec of specsFor(service)) createInstance(spec, registry);
  }
  return {
    // A static list never changes: one snapshot, then the session stays open.
    instances: (service) => () =>
      concat(
        of({
          type: 'snapshot' as const,
          instances: specsFor(service).map((s) => createInstance(s, registry)),
        }),
        NEVER,
      ),
    services: () => () => concat(of({ names: services }), NEVER),
    registrar: undefined,
    close: async () => undefined,
  };
};

/**
 * A read-only {@link Discovery} over a fixed list. With a list of endpoints,
 * every service name resolves to it (what `static://h:p,h:p` means); with a
 * record, each service has its own instances.
 *
 * @throws {ConfigError} for an invalid entry (empty host, bad port, negative weight...).
 * @example
 * ```ts
 * const registry = staticDiscovery({ hello: [{ host: '10.0.0.1', port: 8080, weight: 2 }] });
 * ```
 */
export const staticDiscovery = (
  entries: StaticEntries,
  options: DiscoveryOptions & { readonly secure?: boolean } = {},
): Discovery => {
  const registry = isEndpointList(entries)
    ? `static://${entries.map((e) => formatHostPort(e.host, e.port)).join(',')}`
    : 'static://';
  const backend = staticBackend(entries, registry, options.secure);
  const d = createDiscovery(registry, async () => backend, options);
  return withWatchParams(d, staticUrl);
};
