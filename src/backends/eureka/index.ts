/**
 * `rxdisco/eureka`: the Eureka backend (`eureka://` and `eurekas://` URLs)
 * over `node:http`. One registry poller per backend (full fetch, then deltas with a
 * hashcode check) shared by every service stream and by the catalog
 * (`catalog$()`, and the per-service views of it); registration with
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
import { configOf } from '../../core/url.js';
import { withWatchParams } from '../../core/watch-params.js';
import { eurekaCatalog } from './catalog.js';
import {
  type EurekaClient,
  type EurekaOptions,
  eurekaClient,
  resolveEurekaOptions,
} from './client.js';
import { appName, type EurekaStatus, serviceName } from './codecs.js';
import { attachEurekaHandle, type EurekaHandle, eurekaHandle, eurekaHandleOf } from './handle.js';
import { type RefreshReport, registryPoller } from './poller.js';
import { eurekaRegistrar, leaseKey, putStatus } from './registrar.js';
import { eurekaServices, eurekaSource } from './source.js';
import { type EurekaConfig, eurekaUrl } from './url.js';

/** Options of {@link eurekaBackend}. */
export interface EurekaBackendOptions extends EurekaOptions {
  /** @internal Called after every registry request of the poller (tests, benchmarks). */
  readonly onRefresh?: (report: RefreshReport) => void;
}

/**
 * The Eureka {@link Backend} for a parsed `eureka://` / `eurekas://` URL.
 * Nothing is contacted until a watch or registration starts.
 *
 * @param handle - the handle of the discovery it serves (its status
 *   overrides; the backend lends it its client while open).
 * @throws {ConfigError} for an option out of range.
 */
export const eurekaBackend = (
  config: EurekaConfig,
  options: EurekaBackendOptions = {},
  handle: EurekaHandle = eurekaHandle(config, options),
): Backend => {
  const resolved = resolveEurekaOptions(config, options);
  const client = eurekaClient(config, resolved);
  const registry = config.url;
  const copies = registryPoller(client, {
    intervalMs: resolved.intervalMs,
    ...(options.onRefresh === undefined ? {} : { onRefresh: options.onRefresh }),
  });
  handle.client = client;
  return {
    instances: (service) => eurekaSource(copies, service, registry),
    services: () => eurekaServices(copies),
    catalog: () => eurekaCatalog(copies),
    // The catalog names application HELLO `hello`: a watch of `Hello` keeps its own stream.
    catalogLists: (service) => service === serviceName(appName(service)),
    registrar: eurekaRegistrar(client, resolved, handle.overrides),
    close: async () => {
      if (handle.client === client) handle.client = undefined;
      client.close();
    },
  };
};

/**
 * A {@link Discovery} over Eureka. Options are checked now.
 *
 * @param url - `eureka://host:port[,host:port...]/eureka?interval=30s`,
 *   `eurekas://user:password@host:port/eureka?ca=/ca.pem`, or a parsed config.
 * @throws {ConfigError} for a bad URL or an option out of range.
 * @example
 * ```ts
 * import { eurekaDiscovery } from 'rxdisco/eureka';
 * const registry = eurekaDiscovery('eureka://127.0.0.1:8761/eureka', { intervalMs: 5000 });
 * registry.instances$('hello').subscribe((set) => console.log(set.instances));
 * ```
 */
export const eurekaDiscovery = (
  url: string | EurekaConfig,
  options: DiscoveryOptions & EurekaBackendOptions = {},
): Discovery => {
  const config = configOf(eurekaUrl, url);
  resolveEurekaOptions(config, options);
  const handle = eurekaHandle(config, options);
  const d = createDiscovery(
    config.url,
    async () => eurekaBackend(config, options, handle),
    options,
  );
  return attachEurekaHandle(withWatchParams(d, eurekaUrl), handle);
};

/**
 * Sets the Eureka status of a registered instance (`UP`, `DOWN`,
 * `OUT_OF_SERVICE`, `STARTING`) through Eureka's status override
 * (`PUT /eureka/apps/{APP}/{ID}/status?value=...`): every Eureka client,
 * rxdisco's included, sees the new status at its next refresh, and
 * `healthy()` drops an instance that is not UP. The status is kept across
 * heartbeats and, for an instance registered through the discovery passed
 * (and only that one), across re-registrations (a restarted server).
 *
 * @param target - the discovery the instance was registered with (from
 *   {@link eurekaDiscovery} or `discovery('eureka://...')`), or a Eureka
 *   URL (a one-off call: no discovery remembers the status).
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
  let handle: EurekaHandle | undefined;
  if (typeof target !== 'string') {
    handle = eurekaHandleOf(target);
    if (handle === undefined) {
      throw new ConfigError(
        'discovery',
        `${target.registry} is not a Eureka discovery`,
        "pass the discovery from eurekaDiscovery() or discovery('eureka://...'), or a Eureka URL",
        { registry: target.registry, service },
      );
    }
  }
  const config = handle?.config ?? configOf(eurekaUrl, target as string);
  let client = handle?.client;
  let temporary: EurekaClient | undefined;
  if (client === undefined) {
    temporary = eurekaClient(config, resolveEurekaOptions(config, handle?.options ?? {}));
    client = temporary;
  }
  try {
    await putStatus(client, service, instanceId, status);
    handle?.overrides.set(leaseKey(appName(service), instanceId), status);
  } finally {
    temporary?.close();
  }
};

export {
  type AnswerLimits,
  AnswerTooLargeError,
  isAnswerTooLargeError,
} from '../transport.js';
export type { EurekaOptions } from './client.js';
export {
  appName,
  decodeInstanceInfo,
  type EurekaStatus,
  encodeInstanceInfo,
  reconcileHashcode,
} from './codecs.js';
export {
  HashcodeMismatchError,
  isHashcodeMismatchError,
  type RefreshReport,
} from './poller.js';
export type { EurekaLease } from './registrar.js';
export type { EurekaConfig } from './url.js';
