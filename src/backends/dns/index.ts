/**
 * `rxdisco/dns`: the DNS backends, read-only. `dns+srv://[resolver:port]/`
 * watches SRV names (`_http._tcp.hello.example`, Consul's
 * `hello.service.consul`); `dns://[resolver:port]/?port=8080` watches the
 * A/AAAA records of host names. Each watch resolves its name again at the
 * TTL of the answer (bounded by `minTtlMs` and `maxTtlMs`), over UDP with a
 * deadline and over TCP when the answer is truncated. Messages are decoded
 * by `dns-packet` (an optional peer dependency, loaded with the backend,
 * not with this module) and checked by io-ts before they become instances.
 *
 * @module
 */
import { asyncScheduler, type SchedulerLike, throwError } from 'rxjs';
import {
  type Backend,
  createDiscovery,
  type Discovery,
  type DiscoveryOptions,
} from '../../core/discovery.js';
import { ConfigError } from '../../core/errors.js';
import { parseUrlWith, redactUrl } from '../../core/url.js';
import { dnsClient, type PacketCodec, systemResolvers } from './client.js';
import { asDnsDiscovery } from './dns-discovery.js';
import { type DnsOptions, resolveDnsOptions } from './options.js';
import { resolveHost, resolveSrv } from './resolve.js';
import { dnsSource } from './source.js';
import { type DnsConfig, type DnsSrvConfig, dnsSrvUrl, dnsUrl, watchPort } from './url.js';

/** Options of {@link dnsBackend}. */
export interface DnsBackendOptions extends DnsOptions {
  /**
   * Scheduler of the re-resolution waits and query deadlines.
   * @default asyncScheduler
   */
  readonly scheduler?: SchedulerLike;
}

/**
 * The DNS {@link Backend} for a parsed `dns+srv://` or `dns://` URL, with
 * `packet` the codec of DNS messages (`dns-packet`'s `encode`/`decode`).
 * Read-only: no registrar, and no service list (DNS cannot enumerate
 * names). Nothing is sent until a watch starts.
 *
 * @throws {ConfigError} for an option out of range.
 */
export const dnsBackend = (
  config: DnsSrvConfig | DnsConfig,
  packet: PacketCodec,
  options: DnsBackendOptions = {},
): Backend => {
  const resolved = resolveDnsOptions(options, config);
  const scheduler = options.scheduler ?? asyncScheduler;
  const resolvers = config.resolvers.length > 0 ? config.resolvers : systemResolvers();
  if (resolvers.length === 0) {
    throw new ConfigError(
      'url.host',
      'is missing and the system names no resolver (/etc/resolv.conf)',
      `write ${config.kind}://resolver:port/`,
      { registry: config.url },
    );
  }
  const client = dnsClient({ packet, resolvers, options: resolved, scheduler });
  const deps = { client, options: resolved, registry: config.url, secure: config.secure };
  return {
    instances: (service, params) => {
      if (config.kind === 'dns+srv') return dnsSource(() => resolveSrv(deps, service), scheduler);
      const port = watchPort(params, config.port, { registry: config.url, service });
      return dnsSource(() => resolveHost(deps, service, port), scheduler);
    },
    services: () => () =>
      throwError(
        () =>
          new ConfigError(
            'services$()',
            `is not available on ${config.kind}:// (DNS cannot list the names it serves)`,
            'watch each service by its name with instances$(name)',
            { registry: config.url },
          ),
      ),
    registrar: undefined,
    close: async () => undefined,
  };
};

/**
 * Loads `dns-packet` (an optional peer dependency) and makes the backend: what
 * `discovery('dns+srv://...')` calls on first subscribe. A missing
 * `dns-packet` rejects with the error the core turns into a
 * {@link ConfigError} naming the package to install.
 */
export const loadDnsBackend = async (
  config: DnsSrvConfig | DnsConfig,
  options: DnsBackendOptions = {},
): Promise<Backend> => {
  const { encode, decode } = await import('dns-packet');
  return dnsBackend(
    config,
    { encode: (p) => encode(p), decode: (b) => decode(Buffer.from(b)) },
    options,
  );
};

/**
 * A read-only {@link Discovery} over DNS. Options are checked now, and the
 * params of `instances$()` when it is called; `register()` errors with a
 * {@link ConfigError} naming where to register instead.
 *
 * @param url - `dns+srv://127.0.0.1:8600/?minTtl=1s&maxTtl=1m`,
 *   `dns://10.0.0.2/?port=8080`, `dns+srv://` (the system's resolvers), or a parsed config.
 * @throws {ConfigError} for a bad URL or an option out of range.
 * @example
 * ```ts
 * import { dnsDiscovery } from 'rxdisco/dns';
 * const consul = dnsDiscovery('dns+srv://127.0.0.1:8600/');
 * consul.instances$('hello.service.consul').subscribe((set) => console.log(set.instances));
 * const hosts = dnsDiscovery('dns://', { minTtlMs: 5000 });
 * hosts.instances$('hello.internal', { port: 8080 });
 * ```
 */
export const dnsDiscovery = (
  url: string | DnsSrvConfig | DnsConfig,
  options: DiscoveryOptions & DnsBackendOptions = {},
): Discovery => {
  const config = typeof url === 'string' ? parseDnsUrl(url) : url;
  resolveDnsOptions(options, config);
  const d = createDiscovery(config.url, () => loadDnsBackend(config, options), options);
  return asDnsDiscovery(config, d);
};

const parseDnsUrl = (url: string): DnsSrvConfig | DnsConfig => {
  const m = /^\s*([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  const scheme = m?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== 'dns' && scheme !== 'dns+srv') {
    throw new ConfigError(
      'url.scheme',
      `'${redactUrl(url.trim())}' is not a DNS URL`,
      'use dns+srv:// or dns://',
      {
        registry: redactUrl(url.trim()),
      },
    );
  }
  return parseUrlWith<DnsSrvConfig | DnsConfig>(url, [dnsSrvUrl, dnsUrl] as never);
};

export type { PacketCodec } from './client.js';
export type { DnsOptions } from './options.js';
export type { DnsCommonConfig, DnsConfig, DnsSrvConfig } from './url.js';
