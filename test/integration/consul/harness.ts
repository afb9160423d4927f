/**
 * Shared plumbing of the Consul integration tests: a discovery tuned for
 * tests, and raw writes through the agent API, as another stack would.
 */
import { consulDiscovery } from '../../../src/backends/consul/index.js';
import type { ConsulOptions } from '../../../src/backends/consul/options.js';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import type { Discovery, DiscoveryOptions } from '../../../src/core/discovery.js';
import type { ConsulAgent } from '../../servers/consul.js';

/** A discovery with short backoff and grace, for tests. */
export const testDiscovery = (
  url: string,
  options: DiscoveryOptions & ConsulOptions = {},
): Discovery =>
  consulDiscovery(url, {
    graceMs: 20,
    backoff: exponentialBackoff({ initialMs: 50, maxMs: 500 }),
    onProblem: () => undefined,
    waitMs: 30_000,
    requestTimeoutMs: 5000,
    ...options,
  });

/** An agent service as other stacks register it (no check unless given). */
export interface RawService {
  readonly id: string;
  readonly service: string;
  readonly host?: string;
  readonly port?: number;
  readonly metadata?: Record<string, string>;
  readonly tags?: readonly string[];
  readonly check?: Record<string, unknown>;
}

const ok = (r: { status: number; text: string }, what: string): void => {
  if (r.status !== 200) throw new Error(`${what}: Consul answered ${r.status} ${r.text}`);
};

/** Registers a service through the agent API behind rxdisco's back. */
export const registerRaw = async (agent: ConsulAgent, s: RawService): Promise<void> => {
  ok(
    await agent.api('PUT', '/v1/agent/service/register', {
      ID: s.id,
      Name: s.service,
      ...(s.host === undefined ? {} : { Address: s.host }),
      ...(s.port === undefined ? {} : { Port: s.port }),
      ...(s.metadata === undefined ? {} : { Meta: s.metadata }),
      ...(s.tags === undefined ? {} : { Tags: s.tags }),
      ...(s.check === undefined ? {} : { Check: s.check }),
    }),
    `register ${s.id}`,
  );
};

/** Deregisters an agent service behind rxdisco's back. */
export const deregisterRaw = async (agent: ConsulAgent, id: string): Promise<void> => {
  ok(
    await agent.api('PUT', `/v1/agent/service/deregister/${encodeURIComponent(id)}`),
    `deregister ${id}`,
  );
};

/** The ids of the agent services of `service`. */
export const agentServiceIds = async (agent: ConsulAgent, service: string): Promise<string[]> => {
  const r = await agent.api(
    'GET',
    `/v1/agent/services?filter=${encodeURIComponent(`Service == "${service}"`)}`,
  );
  ok(r, `list services of ${service}`);
  return Object.keys(JSON.parse(r.text) as Record<string, unknown>);
};

/** Deregisters every agent service of `service` (the registry forgets them). */
export const dropService = async (agent: ConsulAgent, service: string): Promise<void> => {
  for (const id of await agentServiceIds(agent, service)) await deregisterRaw(agent, id);
};
