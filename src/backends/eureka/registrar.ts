/**
 * The Eureka registrar: `POST /apps/{APP}` with a complete InstanceInfo,
 * one heartbeat `PUT /apps/{APP}/{ID}` per `renew` (a 404 means the server
 * forgot us: {@link RegistrationLostError}), `DELETE /apps/{APP}/{ID}` to
 * deregister. The core owns the timers. A status set with
 * `setEurekaStatus` is remembered here and registered again with the
 * instance after a loss, so a restarted server does not make an instance
 * taken out of service come back UP.
 *
 * @module
 */
import {
  AuthenticationError,
  ConfigError,
  type ErrorContext,
  RegistrationLostError,
  RegistryUnavailableError,
} from '../../core/errors.js';
import type { Instance } from '../../core/instance.js';
import type { Registrar } from '../../core/registration.js';
import type { EurekaClient, ResolvedEurekaOptions } from './client.js';
import { appName, type EurekaStatus, encodeInstanceInfo } from './codecs.js';

/** One registration. */
export interface EurekaLease {
  readonly app: string;
  readonly id: string;
  readonly instance: Instance;
}

/** Statuses set through `setEurekaStatus`, by `APP/id`, shared by a backend's registrar. */
export type StatusOverrides = Map<string, EurekaStatus>;

/** `APP/id` of an instance. */
export const leaseKey = (app: string, id: string): string => `${app}/${id}`;

const pathOf = (app: string, id: string): string =>
  `/apps/${encodeURIComponent(app)}/${encodeURIComponent(id)}`;

/** Throws the error an unexpected answer means. */
export const failure = (
  what: string,
  status: number,
  text: string,
  context: ErrorContext,
): never => {
  const detail = `${what} answered ${status}${text.trim() === '' ? '' : `: ${text.trim().slice(0, 200)}`}`;
  if (status === 403) throw new AuthenticationError(detail, context);
  if (status >= 400 && status < 500 && status !== 404 && status !== 408 && status !== 429) {
    throw new ConfigError(
      'instance',
      `was refused: ${detail}`,
      'check the instance fields',
      context,
    );
  }
  throw new RegistryUnavailableError(detail, context);
};

/** The registrar of a Eureka backend. */
export const eurekaRegistrar = (
  client: EurekaClient,
  options: ResolvedEurekaOptions,
  overrides: StatusOverrides,
): Registrar<EurekaLease> => ({
  register: async (instance, ttlMs, renewEveryMs) => {
    const app = appName(instance.service);
    const context = { registry: client.registry, service: instance.service };
    const status = overrides.get(leaseKey(app, instance.id));
    const body = encodeInstanceInfo(instance, {
      durationInSecs: Math.max(1, Math.ceil(ttlMs / 1000)),
      // Announce the interval the core renews at.
      renewalIntervalInSecs: Math.max(1, Math.round(renewEveryMs / 1000)),
      dirtyAt: Date.now(),
      ...(status === undefined ? {} : { status }),
      ...(options.pages === undefined ? {} : { pages: options.pages(instance) }),
    });
    const res = await client.request({
      method: 'POST',
      path: `/apps/${encodeURIComponent(app)}`,
      json: body,
      context,
    });
    if (res.status !== 204 && res.status !== 200) {
      failure(`POST /apps/${app}`, res.status, res.text, context);
    }
    return { app, id: instance.id, instance };
  },

  renew: async (lease) => {
    const context = { registry: client.registry, service: lease.instance.service };
    const res = await client.request({ method: 'PUT', path: pathOf(lease.app, lease.id), context });
    if (res.status === 200) return;
    if (res.status === 404) {
      throw new RegistrationLostError(
        lease.id,
        'the Eureka server answered 404 to the heartbeat',
        context,
      );
    }
    failure(`PUT /apps/${lease.app}/${lease.id}`, res.status, res.text, context);
  },

  deregister: async (lease) => {
    const context = { registry: client.registry, service: lease.instance.service };
    overrides.delete(leaseKey(lease.app, lease.id));
    const res = await client.request({
      method: 'DELETE',
      path: pathOf(lease.app, lease.id),
      context,
    });
    // 404: already gone (evicted, or deleted by someone else): done all the same.
    if (res.status === 200 || res.status === 404) return;
    failure(`DELETE /apps/${lease.app}/${lease.id}`, res.status, res.text, context);
  },
});

/** `PUT /apps/{APP}/{ID}/status?value=STATUS`: Eureka's status override. */
export const putStatus = async (
  client: EurekaClient,
  service: string,
  id: string,
  status: EurekaStatus,
): Promise<void> => {
  const app = appName(service);
  const context = { registry: client.registry, service };
  const res = await client.request({
    method: 'PUT',
    path: `${pathOf(app, id)}/status`,
    searchParams: { value: status },
    context,
  });
  if (res.status === 200) return;
  if (res.status === 404) {
    throw new ConfigError(
      'instanceId',
      `'${id}' is not registered in Eureka application ${app}`,
      'register it first, with the same service and id',
      context,
    );
  }
  failure(`PUT /apps/${app}/${id}/status`, res.status, res.text, context);
};
