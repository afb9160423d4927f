/**
 * The grammar of `k8s://` URLs: `k8s://[host:port]?namespace=&context=`.
 * No client import: `discovery()` checks the URL without loading
 * `@kubernetes/client-node`.
 *
 * @module
 */
import type { WatchParams } from '../../core/discovery.js';
import { ConfigError, type ErrorContext } from '../../core/errors.js';
import {
  type Endpoint,
  noPath,
  parseEndpoint,
  type UrlCommon,
  type UrlGrammar,
  urlError,
} from '../../core/url.js';

/** A parsed `k8s://` URL. */
export interface KubernetesConfig extends UrlCommon {
  readonly kind: 'k8s';
  /**
   * The API server (always HTTPS). Absent: the in-cluster service account's
   * `KUBERNETES_SERVICE_HOST`, else the kubeconfig's current cluster.
   */
  readonly endpoint: Endpoint | undefined;
  /**
   * The namespace of `instances$('hello')` and `services$()`. Absent: the
   * kubeconfig context's namespace, the service account's, else `default`.
   */
  readonly namespace: string | undefined;
  /** The kubeconfig context to use. @default the current context */
  readonly context: string | undefined;
}

/** A DNS-1123 label: what a namespace, a Service name and a port name are. */
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** True for a DNS-1123 label of at most 63 characters (a namespace, a Service). */
export const isDnsLabel = (s: string): boolean => s.length <= 63 && LABEL.test(s);

/**
 * Checks the `port` watch param: a port name of the Service (a DNS-1123
 * label) or a port number.
 *
 * @throws {ConfigError} naming `params.port`.
 */
const checkPort = (params: WatchParams, context: ErrorContext): void => {
  const p = params.port;
  if (p === undefined) return;
  const ok =
    typeof p === 'number'
      ? Number.isInteger(p) && p >= 1 && p <= 65535
      : typeof p === 'string' && (isDnsLabel(p) || /^\d{1,5}$/.test(p));
  if (!ok) {
    throw new ConfigError(
      'params.port',
      `must be a port name of the Service or a number from 1 to 65535 (got ${JSON.stringify(p)})`,
      "pass { port: 'http' } with a name from the Service's ports",
      context,
    );
  }
};

/** The `k8s://` grammar. */
export const kubernetesUrl: UrlGrammar<KubernetesConfig> = {
  kind: 'k8s',
  what: 'a Kubernetes API server',
  schemes: {
    k8s: {
      tls: true,
      port: 443,
      params: ['namespace', 'context'],
      noUserinfo:
        'credentials come from the service account or the kubeconfig: remove user:password@',
    },
  },
  watchParams: ['port'],
  checkWatchParams: checkPort,
  parse: (parts) => {
    noPath(parts, 'write k8s://host:port?namespace=name (no path)');
    const endpoint =
      parts.authority === '' ? undefined : parseEndpoint(parts.raw, parts.authority, 443);
    const { namespace, context } = parts.common.params;
    if (namespace !== undefined && !isDnsLabel(namespace)) {
      urlError(
        parts.raw,
        'url.namespace',
        `must be a Kubernetes namespace name (lower-case letters, digits and '-', at most 63; got '${namespace}')`,
        'write ?namespace=my-namespace',
      );
    }
    if (context !== undefined && context.trim() === '') {
      urlError(
        parts.raw,
        'url.context',
        'is empty',
        'name a context of the kubeconfig, or remove ?context=',
      );
    }
    return { ...parts.common, kind: 'k8s', endpoint, namespace, context };
  },
};
