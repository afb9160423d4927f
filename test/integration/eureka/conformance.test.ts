/**
 * The conformance suite against a real Eureka server (our Spring Cloud
 * Netflix server, started once for this file). The outage stops the server
 * process and recovery starts it again on the same port; Eureka keeps its
 * registry in memory only, so recovery re-posts what the harness wrote
 * while the restarted server still refuses reads (its warm-up), the way
 * the other Eureka clients of a real deployment would re-register.
 */
import { afterAll, beforeAll, vi } from 'vitest';
import { appName } from '../../../src/backends/eureka/index.js';
import { conformance } from '../../conformance/suite.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import { type EurekaServer, rawRequest, startEureka } from '../../servers/eureka.js';
import { until } from '../../servers/process.js';
import {
  deleteInstance,
  postInstance,
  type RawRecord,
  rawInstanceInfo,
  serverIds,
  testDiscovery,
} from './harness.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });
expectNoLeakedHandles();

let server: EurekaServer;
/** What the harness wrote and did not delete: re-posted after a restart. */
const written = new Map<string, unknown>();
const keyOf = (service: string, id: string): string => `${appName(service)}/${id}`;

beforeAll(async () => {
  server = await startEureka({ warmupMs: 3000 });
  await until(
    async () => (await rawRequest('GET', `${server.base}/apps`)).status === 200,
    30_000,
    'the server to serve reads',
  );
});

afterAll(async () => {
  await server?.stop();
});

const write = async (service: string, id: string, body: unknown): Promise<void> => {
  await postInstance(server.base, appName(service), body);
  written.set(keyOf(service, id), body);
};

/** Resolves when the server records a new heartbeat of `app/id`. */
const nextHeartbeat = async (app: string, id: string): Promise<void> => {
  const renewedAt = async (): Promise<number | undefined> => {
    const res = await rawRequest('GET', `${server.base}/apps/${app}/${encodeURIComponent(id)}`);
    if (res.status !== 200) return undefined;
    return (JSON.parse(res.text) as { instance: { leaseInfo: { lastRenewalTimestamp: number } } })
      .instance.leaseInfo.lastRenewalTimestamp;
  };
  const first = await renewedAt();
  await until(async () => (await renewedAt()) !== first, 30_000, `a heartbeat of ${app}/${id}`);
};

conformance(
  'eureka://',
  () => ({
    discovery: () => testDiscovery(server.url),
    writeRaw: (r: RawRecord) => write(r.service, r.id, rawInstanceInfo(r)),
    deleteRaw: async (service, id) => {
      written.delete(keyOf(service, id));
      await deleteInstance(server.base, appName(service), id);
    },
    writeMalformed: async (service, id) => {
      // Eureka stores any integer as a port; rxdisco's codec refuses 99999.
      const body = rawInstanceInfo({ service, id, host: '127.0.0.1', port: 8080 });
      body.instance.port = { $: 99_999, '@enabled': 'true' };
      await write(service, id, body);
    },
    dropRegistrations: async (service) => {
      const app = appName(service);
      for (const id of await serverIds(server.base, app)) {
        if (written.has(`${app}/${id}`)) continue;
        // Delete right after a heartbeat, so that the next one (the one that
        // gets the 404) comes a whole renewal later: a poller then sees the
        // instance gone before it is registered again, as the suite expects.
        await nextHeartbeat(app, id);
        await deleteInstance(server.base, app, id);
      }
    },
    outage: () => server.stop(),
    recover: async () => {
      await server.start();
      for (const [key, body] of written) await postInstance(server.base, key.split('/')[0]!, body);
    },
    ttlMs: 15_000,
    patience: 15_000,
  }),
  { catalog: true },
);
