/**
 * Every registry URL `discovery()` and the CLI take, parsed by the grammar
 * its scheme belongs to (each backend's light `url.ts`):
 * `memory://`, `static://h:p,h:p`, `etcd[s]://h:p[,h:p]/prefix/`,
 * `consul[s]://h:p`, `eureka[s]://h:p[,h:p]/eureka`, `k8s://[h:p]?namespace=`, `dns+srv://[resolver:port]/`,
 * `dns://[resolver:port]/?port=8080`.
 *
 * @module
 */
import { type ConsulConfig, consulUrl } from './backends/consul/url.js';
import { type DnsConfig, type DnsSrvConfig, dnsSrvUrl, dnsUrl } from './backends/dns/url.js';
import { type EtcdConfig, etcdUrl } from './backends/etcd/url.js';
import { type EurekaConfig, eurekaUrl } from './backends/eureka/url.js';
import { type KubernetesConfig, kubernetesUrl } from './backends/kubernetes/url.js';
import { type MemoryConfig, memoryUrl } from './backends/memory/url.js';
import { type StaticConfig, staticUrl } from './backends/static/url.js';
import { type ZookeeperConfig, zookeeperUrl } from './backends/zookeeper/url.js';
import { parseUrlWith, type UrlGrammar } from './core/url.js';

/** A parsed registry URL. Narrow on `kind`. */
export type RegistryConfig =
  | MemoryConfig
  | StaticConfig
  | EtcdConfig
  | ConsulConfig
  | EurekaConfig
  | KubernetesConfig
  | ZookeeperConfig
  | DnsSrvConfig
  | DnsConfig;

/** The schemes `discovery()` understands. */
export type RegistryScheme =
  | 'memory'
  | 'static'
  | 'etcd'
  | 'etcds'
  | 'consul'
  | 'consuls'
  | 'eureka'
  | 'eurekas'
  | 'k8s'
  | 'zk'
  | 'dns+srv'
  | 'dns';

/** The grammar of each kind of registry. */
export const GRAMMARS: {
  readonly [K in RegistryConfig['kind']]: UrlGrammar<Extract<RegistryConfig, { kind: K }>>;
} = {
  memory: memoryUrl,
  static: staticUrl,
  etcd: etcdUrl,
  consul: consulUrl,
  eureka: eurekaUrl,
  k8s: kubernetesUrl,
  zookeeper: zookeeperUrl,
  'dns+srv': dnsSrvUrl,
  dns: dnsUrl,
};

const ALL = Object.values(GRAMMARS) as readonly UrlGrammar<RegistryConfig>[];

/**
 * Parses and checks a registry URL.
 *
 * @throws {ConfigError} naming the part that is wrong (`url.scheme`,
 *   `url.port`, `url.host`, `url.format`, an unknown query parameter...).
 * @example
 * ```ts
 * parseRegistryUrl('etcd://127.0.0.1:2379/services/?format=gokit');
 * // { kind: 'etcd', endpoints: [{ host: '127.0.0.1', port: 2379 }], prefix: '/services/', format: 'gokit', ... }
 * ```
 */
export const parseRegistryUrl = (url: string): RegistryConfig => parseUrlWith(url, ALL);
