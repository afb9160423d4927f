import { afterAll, beforeAll } from 'vitest';
import { conformance } from '../../conformance/suite.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import { type ConsulAgent, ensureConsul, startConsul } from '../../servers/consul.js';
import { deregisterRaw, dropService, registerRaw, testDiscovery } from './harness.js';

expectNoLeakedHandles();

let agent: ConsulAgent;

beforeAll(async () => {
  await ensureConsul();
  // A persistent server: an outage must keep the data (a -dev agent forgets
  // everything on restart; that case has its own test in restart.test.ts).
  agent = await startConsul({ dev: false });
}, 15 * 60_000);

afterAll(async () => {
  await agent?.destroy();
});

conformance(
  'consul://',
  () => ({
    discovery: () => testDiscovery(agent.url),
    writeRaw: (r) => registerRaw(agent, r),
    deleteRaw: (_service, id) => deregisterRaw(agent, id),
    // Consul stores a service without a port (Port 0, as JSON: no Port at all);
    // an instance needs one from 1 to 65535.
    writeMalformed: (service, id) =>
      registerRaw(agent, { id, service, host: '127.0.0.1', port: 0 }),
    dropRegistrations: (service) => dropService(agent, service),
    outage: () => agent.kill(),
    recover: () => agent.start(),
    ttlMs: 2000,
    patience: 15_000,
  }),
  { catalog: true },
);
