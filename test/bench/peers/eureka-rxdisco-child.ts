/**
 * Child of `eureka-peer.bench.ts`: rxdisco's Eureka backend watching every
 * application of the bench registry (one poller: a full fetch, then deltas
 * with the hashcode check), in its own process. See `eureka-child-io.ts`.
 */
import { eurekaDiscovery } from '../../../src/backends/eureka/index.js';
import {
  childConfig,
  now,
  refreshed,
  seenReporter,
  send,
  serveCommands,
} from './eureka-child-io.js';

const config = childConfig();
const registry = eurekaDiscovery(config.url, {
  intervalMs: config.interval,
  onProblem: () => undefined,
  onRefresh: (r) => refreshed(r.kind),
});
const report = seenReporter();
const filled = new Set<string>();
let ready = false;
const subscriptions = config.apps.map((app) =>
  registry.instances$(app).subscribe((set) => {
    if (app === config.probe) report(set.instances.map((i) => i.id));
    else if (set.size > 0) filled.add(app);
    if (!ready && filled.size === config.apps.length - 1) {
      ready = true;
      send({ type: 'ready', at: now() });
    }
  }),
);
serveCommands(async () => {
  for (const s of subscriptions) s.unsubscribe();
  await registry.close();
});
