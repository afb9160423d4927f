/**
 * The Consul registrar: `PUT /v1/agent/service/register` with a TTL check
 * (or the HTTP / TCP check of the options) and
 * `DeregisterCriticalServiceAfter`; one renewal = one
 * `PUT /v1/agent/check/update/<check>` to passing (for HTTP / TCP checks, a
 * `GET /v1/agent/service/<id>` that proves the agent still knows it); a 404
 * means the agent forgot the service (restarted, deregistered behind our
 * back): {@link RegistrationLostError}, and the core registers again.
 * Deregister = `PUT /v1/agent/service/deregister/<id>`.
 *
 * @module
 */
import { type ErrorContext, RegistrationLostError } from '../../core/errors.js';
import type { Instance } from '../../core/instance.js';
import type { Registrar } from '../../core/registration.js';
import { consulDuration } from './blocking.js';
import type { ConsulClient } from './client.js';
import { WEIGHT_META } from './codecs.js';
import { encodeGoMicroTags } from './gomicro.js';
import type { ConsulCheck, ResolvedConsulOptions } from './options.js';

/** One registration with the agent. */
export interface ConsulLease {
  /** The Consul service ID (= the instance id). */
  readonly id: string;
  /** The TTL check rxdisco passes; undefined for HTTP / TCP checks. */
  readonly checkId: string | undefined;
  readonly instance: Instance;
}

/** What the registrar needs from its backend. */
export interface RegistrarDeps {
  readonly client: ConsulClient;
  readonly options: ResolvedConsulOptions;
  readonly registry: string;
}

/** The check ID rxdisco gives the TTL check of service `id` (Consul's own convention). */
export const ttlCheckId = (id: string): string => `service:${id}`;

const seconds = (s: number): string => consulDuration(Math.round(s * 1000));

const checkBody = (
  check: ConsulCheck,
  instance: Instance,
  ttl: number,
  deregisterAfter: number,
): Record<string, unknown> => {
  const common = {
    CheckID: ttlCheckId(instance.id),
    Name: `Service '${instance.service}' check`,
    DeregisterCriticalServiceAfter: seconds(deregisterAfter),
  };
  switch (check.type) {
    case 'ttl':
      return {
        ...common,
        TTL: seconds(ttl),
        // A non-UP instance starts critical, so that it is never in the
        // passing set, not even before maintenance mode is on.
        Status: instance.status === 'UP' ? 'passing' : 'critical',
        Notes: 'passed by rxdisco every renewal',
      };
    case 'http':
      return {
        ...common,
        HTTP: check.url,
        Interval: consulDuration(check.intervalMs ?? 10_000),
        Timeout: consulDuration(check.timeoutMs ?? 5000),
        ...(check.tlsSkipVerify ? { TLSSkipVerify: true } : {}),
      };
    case 'tcp':
      return {
        ...common,
        TCP: check.address ?? `${instance.host}:${instance.port}`,
        Interval: consulDuration(check.intervalMs ?? 10_000),
        Timeout: consulDuration(check.timeoutMs ?? 5000),
      };
  }
};

/**
 * The body of `PUT /v1/agent/service/register` for an instance: tags, meta
 * (plus `zone`, `secure` = "true" and `rxdisco-weight` when Consul's integer
 * `Weights` cannot hold the weight), weights and the check. The metadata is
 * written twice, for the two kinds of Consul clients: in `Meta` (Spring
 * Cloud Consul, Consul's UI and API) and as go-micro's tags, one `t-` tag
 * per pair and a `v-` tag for `metadata.version` (go-micro reads metadata
 * and version from its tags only). rxdisco reads the tags back into the
 * same metadata, not as tags.
 */
export const registrationBody = (
  instance: Instance,
  ttl: number,
  check: ConsulCheck,
  deregisterAfter: number,
): Record<string, unknown> => {
  const integral = Number.isInteger(instance.weight) && instance.weight >= 1;
  const meta: Record<string, string> = {
    ...instance.metadata,
    ...(instance.zone === undefined ? {} : { zone: instance.zone }),
    ...(instance.secure ? { secure: 'true' } : {}),
    ...(integral ? {} : { [WEIGHT_META]: String(instance.weight) }),
  };
  // go-micro keeps the version apart from the node metadata (Service.Version).
  const { version, ...pairs } = meta;
  return {
    ID: instance.id,
    Name: instance.service,
    Address: instance.host,
    Port: instance.port,
    Tags: [...instance.tags, ...encodeGoMicroTags(pairs, version)],
    Meta: meta,
    Weights: { Passing: integral ? instance.weight : 1, Warning: 1 },
    Check: checkBody(check, instance, ttl, deregisterAfter),
  };
};

const segment = (s: string): string => encodeURIComponent(s);

/** The registrar of a Consul backend. */
export const consulRegistrar = (deps: RegistrarDeps): Registrar<ConsulLease> => {
  const timeout = deps.options.blocking.requestTimeoutMs;
  const contextOf = (i: Instance): ErrorContext => ({
    registry: deps.registry,
    service: i.service,
  });
  const lost = (lease: ConsulLease, what: string): RegistrationLostError =>
    new RegistrationLostError(
      lease.instance.id,
      `the Consul agent no longer knows ${what}`,
      contextOf(lease.instance),
    );

  return {
    register: async (instance, ttlMs) => {
      const check = deps.options.check(instance);
      const context = contextOf(instance);
      await deps.client.request({
        method: 'PUT',
        path: '/v1/agent/service/register',
        searchParams: [['replace-existing-checks', 'true']],
        json: registrationBody(instance, ttlMs / 1000, check, deps.options.deregisterCriticalAfter),
        timeout,
        context,
      });
      if (instance.status !== 'UP') {
        // Consul has no status of its own for a service: maintenance mode
        // keeps it out of the passing set (read back as OUT_OF_SERVICE).
        await deps.client.request({
          method: 'PUT',
          path: `/v1/agent/service/maintenance/${segment(instance.id)}`,
          searchParams: [
            ['enable', 'true'],
            ['reason', `registered by rxdisco with status ${instance.status}`],
          ],
          timeout,
          context,
        });
      }
      return {
        id: instance.id,
        checkId: check.type === 'ttl' ? ttlCheckId(instance.id) : undefined,
        instance,
      };
    },

    renew: async (lease) => {
      const context = contextOf(lease.instance);
      if (lease.checkId !== undefined) {
        const answer = await deps.client.request({
          method: 'PUT',
          path: `/v1/agent/check/update/${segment(lease.checkId)}`,
          json: { Status: 'passing', Output: 'passed by rxdisco' },
          timeout,
          context,
          accept: [404],
        });
        if (answer.status === 404) throw lost(lease, `the check '${lease.checkId}'`);
        return;
      }
      const answer = await deps.client.request({
        method: 'GET',
        path: `/v1/agent/service/${segment(lease.id)}`,
        timeout,
        context,
        accept: [404],
      });
      if (answer.status === 404) throw lost(lease, `the service '${lease.id}'`);
    },

    deregister: async (lease) => {
      await deps.client.request({
        method: 'PUT',
        path: `/v1/agent/service/deregister/${segment(lease.id)}`,
        timeout,
        context: contextOf(lease.instance),
        accept: [404],
      });
    },
  };
};
