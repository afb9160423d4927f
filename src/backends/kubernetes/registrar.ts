/**
 * Registration on Kubernetes, the way it documents the endpoints of a
 * Service without a selector: the instance becomes one endpoint of the
 * EndpointSlice `<service>-rxdisco-<family>-<port>` (labelled
 * `kubernetes.io/service-name` and `endpointslice.kubernetes.io/managed-by:
 * rxdisco`, created when missing), beside the other instances registered
 * there, with its record in its own annotation (see `managed.ts`).
 *
 * - register: read the slice, add or replace the endpoint, write it back
 *   with the resourceVersion read; a conflict (another registrant wrote
 *   first) reads again, so no one's endpoint is lost.
 * - renew: a merge patch of the endpoint's own annotation with the time
 *   (no resourceVersion needed: registrants touch different keys); the
 *   slice or the endpoint gone is a {@link RegistrationLostError}.
 * - deregister: remove the endpoint and its annotation the same way, and
 *   delete the slice (with the resourceVersion read as precondition) when
 *   it was the last.
 *
 * A Service with a selector refuses: its Pods are its endpoints. The API
 * server's 422 (it refuses a loopback or link-local address in a slice) is
 * a permanent {@link ConfigError} naming the field.
 *
 * @module
 */
import { isIP } from 'node:net';
import {
  ConfigError,
  type ErrorContext,
  RegistrationLostError,
  RegistryUnavailableError,
} from '../../core/errors.js';
import type { Instance, InstanceStatus } from '../../core/instance.js';
import type { Registrar } from '../../core/registration.js';
import { type KubernetesClient, type RequestPurpose, statusError } from './client.js';
import {
  endpointAnnotation,
  isManaged,
  MANAGED_BY,
  type ManagedRecord,
  managedSliceName,
  RXDISCO_MANAGER,
} from './managed.js';
import { serviceRef } from './source.js';

/** One registration: where its endpoint is. */
export interface KubernetesLease {
  readonly namespace: string;
  readonly service: string;
  /** The EndpointSlice holding the endpoint. */
  readonly slice: string;
  /** The endpoint's annotation in it. */
  readonly annotation: string;
  readonly instance: Instance;
  readonly ttlMs: number;
}

/** What the registrar needs. */
export interface KubernetesRegistrarDeps {
  readonly client: KubernetesClient;
  readonly namespace: string;
  readonly registry: string;
  /** Create a Service without a selector when the one registered to is missing. */
  readonly createService: boolean;
  readonly requestTimeoutMs: number;
  /** The clock of the renewal times. */
  readonly now: () => number;
}

/** Read-modify-write rounds before a registration gives up on conflicts (then retried with backoff). */
const MAX_ROUNDS = 16;

const SLICES = 'endpointslices.discovery.k8s.io';

/** The conditions of an endpoint that read back as `status` (see `endpointStatus`). */
const conditionsOf = (
  status: InstanceStatus,
): { ready: boolean; serving: boolean; terminating: boolean } => {
  switch (status) {
    case 'UP':
      return { ready: true, serving: true, terminating: false };
    case 'OUT_OF_SERVICE':
      return { ready: false, serving: true, terminating: true };
    case 'DOWN':
      return { ready: false, serving: false, terminating: true };
    default:
      return { ready: false, serving: false, terminating: false };
  }
};

const familyOf = (host: string): 'IPv4' | 'IPv6' | 'FQDN' =>
  isIP(host) === 6 ? 'IPv6' : isIP(host) === 4 ? 'IPv4' : 'FQDN';

interface SliceObject {
  metadata: {
    name: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  addressType: string;
  ports?: unknown[];
  endpoints?: Array<{ addresses?: string[] } & Record<string, unknown>>;
}

/**
 * The 422 of the API server as a {@link ConfigError} naming the field it
 * refused (`host` for an address, else the slice's field path).
 */
const invalid = (text: string, context: ErrorContext): ConfigError => {
  let message = text.slice(0, 300);
  let field = 'EndpointSlice';
  try {
    const body = JSON.parse(text) as {
      message?: string;
      details?: { causes?: Array<{ field?: string; message?: string }> };
    };
    message = body.message ?? message;
    const cause = body.details?.causes?.[0]?.field;
    if (cause !== undefined) {
      field = /addresses/.test(cause) ? 'host' : /ports/.test(cause) ? 'port' : cause;
    }
  } catch {
    // not JSON: the text is the message
  }
  return new ConfigError(
    field,
    `was refused by the API server (422: ${message})`,
    field === 'host'
      ? 'register an address a Pod could have (the API server refuses loopback and link-local addresses in EndpointSlices)'
      : 'fix the instance so that Kubernetes accepts it',
    context,
  );
};

/** The registrar of a backend. */
export const kubernetesRegistrar = (deps: KubernetesRegistrarDeps): Registrar<KubernetesLease> => {
  const { client, registry } = deps;
  const ok = (status: number): boolean => status >= 200 && status < 300;
  const purpose = (
    verb: string,
    resource: string,
    ns: string,
    c: ErrorContext,
  ): RequestPurpose => ({
    verb,
    resource,
    namespace: ns,
    context: c,
  });
  const slicesPath = (ns: string): string =>
    `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`;
  const contextOf = (instance: Instance): ErrorContext => ({ registry, service: instance.service });

  /** The port name to write: the Service's port for the instance's port, else its only one. */
  const ensureService = async (
    service: string,
    ns: string,
    instance: Instance,
    context: ErrorContext,
  ): Promise<string> => {
    const fallback = instance.secure ? 'https' : 'http';
    const get = purpose('get', 'services', ns, context);
    const r = await client.send(
      'GET',
      `/api/v1/namespaces/${ns}/services/${service}`,
      get,
      deps.requestTimeoutMs,
    );
    if (r.status === 404) {
      if (!deps.createService) {
        throw new ConfigError(
          'service',
          `'${service}' is not a Service of namespace ${ns}`,
          'create a Service without a selector for it, or pass createService: true',
          context,
        );
      }
      const create = purpose('create', 'services', ns, context);
      const c = await client.send(
        'POST',
        `/api/v1/namespaces/${ns}/services`,
        create,
        deps.requestTimeoutMs,
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: service, labels: { [MANAGED_BY]: RXDISCO_MANAGER } },
          spec: { ports: [{ name: fallback, port: instance.port, targetPort: instance.port }] },
        },
      );
      if (c.status === 422) throw invalid(c.text, context);
      if (!ok(c.status) && c.status !== 409) throw statusError(c.status, c.text, create);
      return fallback;
    }
    if (!ok(r.status)) throw statusError(r.status, r.text, get);
    const spec = (
      r.body as { spec?: { selector?: Record<string, string>; ports?: unknown[] } } | undefined
    )?.spec;
    if (spec?.selector != null && Object.keys(spec.selector).length > 0) {
      throw new ConfigError(
        'service',
        `'${service}' in namespace ${ns} has a selector: the Pods it selects are its endpoints, and Kubernetes manages its EndpointSlices`,
        'register into a Service without a selector (rxdisco adds its own EndpointSlice), or run the instance as a Pod the selector matches',
        context,
      );
    }
    const ports = (spec?.ports ?? []) as Array<{
      name?: string;
      port?: number;
      targetPort?: unknown;
    }>;
    const same = ports.find((p) => p.targetPort === instance.port || p.port === instance.port);
    return (same ?? (ports.length === 1 ? ports[0] : undefined))?.name || fallback;
  };

  const recordOf = (lease: KubernetesLease): string => {
    const i = lease.instance;
    const record: ManagedRecord = {
      id: i.id,
      renewedAt: deps.now(),
      ttlMs: lease.ttlMs,
      ...(i.tags.length > 0 ? { tags: [...i.tags] } : {}),
      ...(i.weight !== 1 ? { weight: i.weight } : {}),
      ...(Object.keys(i.metadata).length > 0 ? { metadata: { ...i.metadata } } : {}),
    };
    return JSON.stringify(record);
  };

  const endpointOf = (i: Instance): Record<string, unknown> => ({
    addresses: [i.host],
    conditions: conditionsOf(i.status),
    ...(i.zone === undefined ? {} : { zone: i.zone }),
  });

  /**
   * Reads the slice, changes it with `edit` (undefined: delete it) and
   * writes it back under the resourceVersion read, again on a conflict.
   */
  const readModifyWrite = async (
    lease: KubernetesLease,
    edit: (slice: SliceObject | undefined) => SliceObject | undefined | 'unchanged',
  ): Promise<void> => {
    const context = contextOf(lease.instance);
    const path = `${slicesPath(lease.namespace)}/${lease.slice}`;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const get = purpose('get', SLICES, lease.namespace, context);
      const r = await client.send('GET', path, get, deps.requestTimeoutMs);
      if (r.status !== 404 && !ok(r.status)) throw statusError(r.status, r.text, get);
      const current = r.status === 404 ? undefined : (r.body as SliceObject);
      if (current !== undefined && !isManaged(current.metadata.labels)) {
        throw new ConfigError(
          'service',
          `has an EndpointSlice ${lease.slice} that rxdisco does not manage`,
          `delete it, or register the instance on another port`,
          context,
        );
      }
      const next = edit(current);
      if (next === 'unchanged') return;
      let w: { status: number; text: string };
      let p: RequestPurpose;
      if (next === undefined) {
        if (current === undefined) return;
        p = purpose('delete', SLICES, lease.namespace, context);
        w = await client.send('DELETE', path, p, deps.requestTimeoutMs, {
          apiVersion: 'v1',
          kind: 'DeleteOptions',
          preconditions: { resourceVersion: current.metadata.resourceVersion },
        });
        if (w.status === 404) return;
      } else if (current === undefined) {
        p = purpose('create', SLICES, lease.namespace, context);
        w = await client.send('POST', slicesPath(lease.namespace), p, deps.requestTimeoutMs, next);
      } else {
        p = purpose('update', SLICES, lease.namespace, context);
        w = await client.send('PUT', path, p, deps.requestTimeoutMs, next);
      }
      if (ok(w.status)) return;
      // Someone wrote (or created, or deleted) the slice since we read it: read again.
      if (w.status === 409 || w.status === 404) continue;
      if (w.status === 422) throw invalid(w.text, context);
      throw statusError(w.status, w.text, p);
    }
    throw new RegistryUnavailableError(
      `EndpointSlice ${lease.slice} changed under ${MAX_ROUNDS} writes in a row: retrying`,
      context,
    );
  };

  return {
    register: async (instance, ttlMs) => {
      const context = contextOf(instance);
      const { service, namespace } = serviceRef(instance.service, deps.namespace, context);
      const portName = await ensureService(service, namespace, instance, context);
      const family = familyOf(instance.host);
      const lease: KubernetesLease = {
        namespace,
        service,
        slice: managedSliceName(service, family, instance.port),
        annotation: endpointAnnotation(instance.host),
        instance,
        ttlMs,
      };
      await readModifyWrite(lease, (current) => {
        const others = (current?.endpoints ?? []).filter(
          (e) => !(e.addresses ?? []).includes(instance.host),
        );
        return {
          apiVersion: 'discovery.k8s.io/v1',
          kind: 'EndpointSlice',
          metadata: {
            ...(current?.metadata ?? {}),
            name: lease.slice,
            labels: {
              ...(current?.metadata.labels ?? {}),
              'kubernetes.io/service-name': service,
              [MANAGED_BY]: RXDISCO_MANAGER,
            },
            annotations: {
              ...(current?.metadata.annotations ?? {}),
              [lease.annotation]: recordOf(lease),
            },
          },
          addressType: family,
          ports: [{ name: portName, port: instance.port, protocol: 'TCP' }],
          endpoints: [...others, endpointOf(instance)],
        } as SliceObject;
      });
      return lease;
    },
    renew: async (lease) => {
      const context = contextOf(lease.instance);
      const patch = purpose('patch', SLICES, lease.namespace, context);
      const r = await client.send(
        'PATCH',
        `${slicesPath(lease.namespace)}/${lease.slice}`,
        patch,
        deps.requestTimeoutMs,
        { metadata: { annotations: { [lease.annotation]: recordOf(lease) } } },
        'application/merge-patch+json',
      );
      const lost = (why: string): RegistrationLostError =>
        new RegistrationLostError(lease.instance.id, why, context);
      if (r.status === 404) {
        throw lost(`its EndpointSlice ${lease.slice} is gone from namespace ${lease.namespace}`);
      }
      if (!ok(r.status)) throw statusError(r.status, r.text, patch);
      const endpoints = (r.body as SliceObject | undefined)?.endpoints ?? [];
      if (!endpoints.some((e) => (e.addresses ?? []).includes(lease.instance.host))) {
        throw lost(`its endpoint ${lease.instance.host} is gone from EndpointSlice ${lease.slice}`);
      }
    },
    deregister: async (lease) => {
      await readModifyWrite(lease, (current) => {
        if (current === undefined) return 'unchanged';
        const endpoints = (current.endpoints ?? []).filter(
          (e) => !(e.addresses ?? []).includes(lease.instance.host),
        );
        const annotations = { ...(current.metadata.annotations ?? {}) };
        const had = lease.annotation in annotations;
        delete annotations[lease.annotation];
        if (endpoints.length === (current.endpoints ?? []).length && !had) return 'unchanged';
        if (endpoints.length === 0) return undefined;
        return { ...current, metadata: { ...current.metadata, annotations }, endpoints };
      });
    },
  };
};
