/**
 * Where the API server is and how to authenticate to it, loaded with
 * `@kubernetes/client-node` (an optional peer dependency, imported on first
 * use): the in-cluster service account (token, CA, `KUBERNETES_SERVICE_HOST`)
 * when present and no `?context=` is asked, else the kubeconfig
 * (`KUBECONFIG`, `~/.kube/config`) and its current (or named) context.
 * client-node does only this: client certificates, bearer tokens and exec
 * plugins are applied by its `applyToHTTPSOptions` before every request;
 * the list+watch loop is rxdisco's own. The service account's token file
 * is rxdisco's too: checked before every request and read again as soon as
 * it changes (the kubelet rotates it), where client-node reads it again
 * only after 60 s.
 *
 * @module
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { ConfigError } from '../../core/errors.js';
import { formatHostPort } from '../../core/url.js';
import type { KubernetesConfig } from './url.js';

/** The slice of client-node's `KubeConfig` rxdisco uses. */
interface KubeConfigLike {
  loadFromDefault(): void;
  loadFromClusterAndUser(
    cluster: { name: string; server: string; caFile: string; skipTLSVerify: boolean },
    user: { name: string },
  ): void;
  getContexts(): ReadonlyArray<{ readonly name: string }>;
  setCurrentContext(context: string): void;
  getCurrentContext(): string;
  getContextObject(name: string): { readonly namespace?: string } | null;
  getCurrentCluster(): { readonly server: string } | null;
  applyToHTTPSOptions(opts: RequestOptions): Promise<void>;
}

/** The API server of a backend and the credentials of its requests. */
export interface KubernetesConnection {
  /** `https://host:port` of the API server. */
  readonly server: URL;
  /** The namespace of unqualified service names. */
  readonly namespace: string;
  /**
   * The TLS options and `Authorization` header of one request, freshly
   * applied (tokens rotate, exec plugins refresh).
   */
  requestOptions(): Promise<RequestOptions>;
}

/** Where Kubernetes mounts a Pod's service account. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The token in `file`, read again whenever the file changes (its mtime or
 * size), checked with one `stat` per call.
 */
export const tokenFile = (file: string): (() => string) => {
  let seen = '';
  let token = '';
  return () => {
    const st = statSync(file);
    const key = `${st.mtimeMs}:${st.size}:${st.ino}`;
    if (key !== seen) {
      token = readFileSync(file, 'utf8').trim();
      seen = key;
    }
    return token;
  };
};

/**
 * Loads the connection of `config`.
 *
 * @throws {ConfigError} naming `url.context` for a context the kubeconfig
 *   lacks, or `url` when there is neither a service account nor a kubeconfig cluster.
 */
export const loadConnection = async (
  config: KubernetesConfig,
  serviceAccountDir: string = SERVICE_ACCOUNT_DIR,
): Promise<KubernetesConnection> => {
  const SA_DIR = serviceAccountDir;
  const { KubeConfig } = (await import('@kubernetes/client-node')) as unknown as {
    KubeConfig: new () => KubeConfigLike;
  };
  const kc = new KubeConfig();
  const inCluster =
    config.context === undefined &&
    (process.env.KUBERNETES_SERVICE_HOST ?? '') !== '' &&
    existsSync(`${SA_DIR}/token`);
  let namespace = config.namespace;
  let token: (() => string) | undefined;
  if (inCluster) {
    const host = process.env.KUBERNETES_SERVICE_HOST ?? '';
    const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
    kc.loadFromClusterAndUser(
      {
        name: 'inCluster',
        server: `https://${formatHostPort(host, Number(port))}`,
        caFile: `${SA_DIR}/ca.crt`,
        skipTLSVerify: false,
      },
      { name: 'inClusterUser' },
    );
    token = tokenFile(`${SA_DIR}/token`);
    if (namespace === undefined && existsSync(`${SA_DIR}/namespace`)) {
      namespace = readFileSync(`${SA_DIR}/namespace`, 'utf8').trim();
    }
  } else {
    kc.loadFromDefault();
    if (config.context !== undefined) {
      const names = kc.getContexts().map((c) => c.name);
      if (!names.includes(config.context)) {
        throw new ConfigError(
          'url.context',
          `'${config.context}' is not a context of the kubeconfig`,
          names.length === 0
            ? 'set KUBECONFIG to a kubeconfig file'
            : `use one of ${names.join(', ')}`,
          { registry: config.url },
        );
      }
      kc.setCurrentContext(config.context);
    }
    namespace ??= kc.getContextObject(kc.getCurrentContext())?.namespace;
  }
  const cluster = kc.getCurrentCluster();
  const server =
    config.endpoint !== undefined
      ? new URL(`https://${formatHostPort(config.endpoint.host, config.endpoint.port)}`)
      : cluster !== null && cluster.server !== ''
        ? new URL(cluster.server)
        : undefined;
  if (server === undefined) {
    throw new ConfigError(
      'url',
      'names no API server and there is neither a service account nor a kubeconfig cluster',
      'write k8s://host:port, run in a Pod, or set KUBECONFIG',
      { registry: config.url },
    );
  }
  return {
    server,
    namespace: namespace === undefined || namespace === '' ? 'default' : namespace,
    requestOptions: async () => {
      const opts: RequestOptions = { headers: {} };
      await kc.applyToHTTPSOptions(opts);
      if (token !== undefined) {
        opts.headers = { ...opts.headers, authorization: `Bearer ${token()}` };
      }
      return opts;
    },
  };
};
