/**
 * `rxdisco/eureka`: the Eureka backend (`eureka://` and `eurekas://` URLs)
 * over `node:http`. One registry poller per backend (full fetch, then deltas with a
 * hashcode check) shared by every service stream; registration with
 * heartbeats; Eureka's status override through {@link setEurekaStatus}.
 * Service `hello` is Eureka application `HELLO`; instances keep the
 * service name you asked for.
 *
 * @module
 */
import {
  type Backend,
  createDiscovery,
  type Discovery,
  type DiscoveryOptions,
} from '../../core/discovery.js';
import { ConfigError } from '../../core/errors.js';
import { INSTANCE_STATUSES } from '../../core/instance.js';
import { configOfKind } from '../../core/url.js';
import {
  type EurekaClient,
  type EurekaConfig,
  type EurekaOptions,
  eurekaClient,
  resolveEurekaOptions,
} from './client.js';
import { appName, type EurekaStatus } from './codecs.js';
import { type RefreshReport, registryPoller } from './poller.js';
import { eurekaRegistrar, leaseKey, putStatus, type StatusOverrides } from './registrar.js';
import { eurekaServices, eurekaSource } from './source.js';

/** Options of {@link eurekaBackend}. */
export interface EurekaBackendOptions extends EurekaOptions {
  /** @internal Called after every registry request of the poller (tests, benchmarks). */
  readonly onRefresh?: (report: RefreshReport) => void;
}

interface LiveBackend {
  readonly client: EurekaClient;
  readonly overrides: StatusOverrides;
}

/** Backends not yet closed, by redacted registry URL: how {@link setEurekaStatus} finds them. */
const live = new Map<string, Set<LiveBackend>>();

/**
 * The Eureka {@link Backend} for a parsed `eureka://` / `eurekas://` URL.
 * Nothing is contacted until a watch or registration starts.
 */
export const eurekaBackend = (
  config: EurekaConfig,
  options: EurekaBackendOptions = {},
): Backend => {
  const resolved = resolveEurekaOptions(config, options);
  const client = eurekaClient(config, resolved);
  const registry = config.url;
  const copies = registryPoller(client, {
    interval: resolved.interval,
    ...(options.onRefresh === undefined ? {} : { onRefresh: options.onRefresh }),
  });
  const overrides: StatusOverrides = new Map();
  const self: LiveBackend = { client, overrides };
  let set = live.get(registry);
  if (set === undefined) {
    set = new Set();
    live.set(registry, set);
  }
  set.add(self);
  return {
    instances: (service) => eurekaSource(copies, service, registry),
    services: () => eurekaServices(copies),
    registrar: eurekaRegistrar(client, resolved, overrides),
    close: async () => {
      const s = live.get(registry);
      s?.delete(self);
      if (s?.size === 0) live.delete(registry);
      client.close();
    },
  };
};

const configs = new WeakMap<Discovery, { config: EurekaConfig; options: EurekaOptions }>();

const asEureka = (url: string | EurekaConfig): EurekaConfig =>
  configOfKind(url, 'eureka', 'a Eureka');

/**
 * A {@link Discovery} over Eureka.
 *
 * @param url - `eureka://host:port[,host:port...]/eureka`,
 *   `eurekas://user:password@host:port/eureka?ca=/ca.pem`, or a parsed config.
 * @example
 * ```ts
 * import { eurekaDiscovery } from 'rxdisco/eureka';
 * const registry = eurekaDiscovery('eureka://127.0.0.1:8761/eureka', { interval: 5000 });
 * registry.instances$('hello').subscribe((set) => console.log(set.instances));
 * ```
 */
export const eurekaDiscovery = (
  url: string | EurekaConfig,
  options: DiscoveryOptions & EurekaBackendOptions = {},
): Discovery => {
  const config = asEureka(url);
  const d = createDiscovery(config.url, async () => eurekaBackend(config, options), options);
  configs.set(d, { config, options });
  return d;
};

/**
 * Sets the Eureka status of a registered instance (`UP`, `DOWN`,
 * `OUT_OF_SERVICE`, `STARTING`) through Eureka's status override
 * (`PUT /eureka/apps/{APP}/{ID}/status?value=...`): every Eureka client,
 * rxdisco's included, sees the new status at its next refresh, and
 * `healthy()` drops an instance that is not UP. The status is kept across
 * heartbeats and, for an instance registered through the same discovery,
 * across re-registrations (a restarted server).
 *
 * @param target - the discovery the instance was registered with (from
 *   {@link eurekaDiscovery}, or `discovery('eureka://...')` once it has
 *   registered something), or a Eureka URL.
 * @param service - the service as registered (`hello`, application `HELLO`).
 * @param instanceId - the instance id.
 * @throws {ConfigError} when the instance is not registered or the target is not Eureka.
 * @example
 * ```ts
 * const registry = eurekaDiscovery('eureka://127.0.0.1:8761/eureka');
 * registry.register({ service: 'hello', host: '10.0.0.5', port: 8080, id: 'hello-1' }).subscribe();
 * await setEurekaStatus(registry, 'hello', 'hello-1', 'OUT_OF_SERVICE'); // drain
 * await setEurekaStatus(registry, 'hello', 'hello-1', 'UP');
 * ```
 */
export const setEurekaStatus = async (
  target: Discovery | string,
  service: string,
  instanceId: string,
  status: EurekaStatus,
): Promise<void> => {
  if (!INSTANCE_STATUSES.includes(status) || status === ('UNKNOWN' as string)) {
    throw new ConfigError(
      'status',
      `must be UP, DOWN, STARTING or OUT_OF_SERVICE (got ${String(status)})`,
      'pass one of those',
      { service },
    );
  }
  const registry = typeof target === 'string' ? asEureka(target).url : target.registry;
  const backends = [...(live.get(registry) ?? [])];
  const key = leaseKey(appName(service), instanceId);
  let client = backends[0]?.client;
  let temporary: EurekaClient | undefined;
  if (client === undefined) {
    const known = typeof target === 'string' ? undefined : configs.get(target);
    if (typeof target !== 'string' && known === undefined) {
      throw new ConfigError(
        'discovery',
        `${registry} has no Eureka backend loaded`,
        'call it after register() started, or pass the Eureka URL instead',
        { registry, service },
      );
    }
    const config = known?.config ?? asEureka(target as string);
    temporary = eurekaClient(config, resolveEurekaOptions(config, known?.options ?? {}));
    client = temporary;
  }
  try {
    await putStatus(client, service, instanceId, status);
    for (const b of backends) b.overrides.set(key, status);
  } finally {
    temporary?.close();
  }
};

export type { EurekaConfig, EurekaOptions } from './client.js';
export {
  appName,
  decodeInstanceInfo,
  type EurekaStatus,
  encodeInstanceInfo,
  reconcileHashcode,
} from './codecs.js';
export type { RefreshReport } from './poller.js';
export type { EurekaLease } from './registrar.js';
