/**
 * What makes a {@link Discovery} a DNS one, whoever built it (`discovery(url)`
 * or `dnsDiscovery()`): the params of `instances$()` checked at the call
 * (the port of a `dns://` watch, from the watch or the URL), and
 * `register()` refused with a {@link ConfigError} that says where to
 * register instead. No resolver import.
 *
 * @module
 */
import { defer, type Observable } from 'rxjs';
import type { Discovery } from '../../core/discovery.js';
import { ConfigError } from '../../core/errors.js';
import type { RegistrationEvent } from '../../core/registration.js';
import { withWatchParams } from '../../core/watch-params.js';
import { type DnsConfig, type DnsSrvConfig, dnsSrvUrl, dnsUrl, watchPort } from './url.js';

/** The error of `register()` on a DNS registry: DNS is read, never written, by rxdisco. */
export const readOnlyError = (registry: string, scheme: string, service?: unknown): ConfigError =>
  new ConfigError(
    'registry',
    `is read-only: ${scheme}:// reads DNS records and cannot register instances`,
    'register in the registry that serves these records (consul:// for Consul DNS, or the zone of your DNS server) and watch them here',
    { registry, ...(typeof service === 'string' ? { service } : {}) },
  );

/** `discovery` with the DNS watch params checked at the call and `register()` refused. */
export const asDnsDiscovery = (
  config: DnsConfig | DnsSrvConfig,
  discovery: Discovery,
): Discovery => {
  const checked = withWatchParams(
    discovery,
    config.kind === 'dns'
      ? {
          kind: 'dns',
          watchParams: dnsUrl.watchParams,
          checkWatchParams: (params, context) => {
            watchPort(params, config.port, context);
          },
        }
      : dnsSrvUrl,
  );
  return {
    ...checked,
    register: (spec): Observable<RegistrationEvent> =>
      defer(() => {
        throw readOnlyError(discovery.registry, config.kind, spec?.service);
      }),
  };
};
