/**
 * Shared pieces of the Eureka integration tests: discovery clients with
 * test tuning, and raw REST calls that act behind rxdisco's back as
 * another Eureka client would.
 */
import {
  type EurekaBackendOptions,
  encodeInstanceInfo,
  eurekaDiscovery,
} from '../../../src/backends/eureka/index.js';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import type { Discovery, DiscoveryOptions } from '../../../src/core/discovery.js';
import type { RxdiscoError } from '../../../src/core/errors.js';
import { createInstance } from '../../../src/core/instance.js';
import { rawRequest } from '../../servers/eureka.js';

/** Poll interval of test clients, ms. */
export const INTERVAL = 100;

/** A client with test tuning: fast polls, short grace and backoff, problems collected. */
export const testDiscovery = (
  url: string,
  problems: RxdiscoError[] = [],
  extra: DiscoveryOptions & EurekaBackendOptions = {},
): Discovery =>
  eurekaDiscovery(url, {
    graceMs: 20,
    backoff: exponentialBackoff({ initialMs: 50, maxMs: 500 }),
    onProblem: (p) => problems.push(p),
    intervalMs: INTERVAL,
    timeoutMs: 3000,
    peerCooldownMs: 1000,
    ...extra,
  });

/** A raw record as the conformance suite writes it. */
export interface RawRecord {
  id: string;
  service: string;
  host: string;
  port: number;
  metadata?: Record<string, string>;
}

/** The InstanceInfo body of a raw record, with a lease long enough never to expire in a test. */
export const rawInstanceInfo = (r: RawRecord) =>
  encodeInstanceInfo(createInstance(r, 'eureka://'), {
    durationInSecs: 3600,
    renewalIntervalInSecs: 30,
    dirtyAt: Date.now(),
  });

/** POSTs an InstanceInfo body to `base` (`http://127.0.0.1:port/eureka`). */
export const postInstance = async (base: string, app: string, body: unknown): Promise<void> => {
  const res = await rawRequest('POST', `${base}/apps/${app}`, body);
  if (res.status !== 204) throw new Error(`POST /apps/${app} answered ${res.status}: ${res.text}`);
};

/** DELETEs one instance; 200 or 404 are fine. */
export const deleteInstance = async (base: string, app: string, id: string): Promise<void> => {
  const res = await rawRequest('DELETE', `${base}/apps/${app}/${encodeURIComponent(id)}`);
  if (res.status !== 200 && res.status !== 404)
    throw new Error(`DELETE /apps/${app}/${id} answered ${res.status}`);
};

/** The raw `GET /apps` body. */
export const getApps = async (
  base: string,
): Promise<{
  applications: {
    apps__hashcode: string;
    application: { name: string; instance: Record<string, unknown>[] }[];
  };
}> => {
  const res = await rawRequest('GET', `${base}/apps`);
  if (res.status !== 200) throw new Error(`GET /apps answered ${res.status}`);
  return JSON.parse(res.text);
};

/** The instance ids of one application as the server lists them (empty when unknown). */
export const serverIds = async (base: string, app: string): Promise<string[]> => {
  const res = await rawRequest('GET', `${base}/apps/${app}`);
  if (res.status === 404) return [];
  if (res.status !== 200) throw new Error(`GET /apps/${app} answered ${res.status}`);
  const body = JSON.parse(res.text) as { application: { instance: { instanceId: string }[] } };
  return body.application.instance.map((i) => i.instanceId).sort();
};
