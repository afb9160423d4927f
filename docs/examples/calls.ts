// Calls that survive failures: three HTTP servers register as `hello`; one
// of them is dead (its port refuses connections) but still registered.
// call() retries on another instance and the outlier detector ejects the
// dead one; kyFor() does the same for ky requests, balanced by ewma().
//
// Run: npx tsx docs/examples/calls.ts
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { filter, firstValueFrom } from 'rxjs';
import { kyFor } from '../../src/http/index.js';
import {
  baseUrl,
  call,
  createOutlierDetector,
  ewma,
  healthy,
  isCallError,
  live,
  memoryDiscovery,
  memoryRegistry,
  retryBudget,
  roundRobin,
} from '../../src/index.js';

const serve = async (name: string): Promise<Server> => {
  const server = createServer((_req, res) => res.end(JSON.stringify({ from: name })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
};
const close = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

const servers = await Promise.all(['a', 'b', 'c'].map(serve));
const registry = memoryDiscovery(memoryRegistry('calls-example'));
const registrations = servers.map((server, k) =>
  registry
    .register({
      id: ['a', 'b', 'c'][k],
      service: 'hello',
      host: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
    })
    .subscribe(),
);
const hello$ = registry.instances$('hello');
const b = (await firstValueFrom(hello$.pipe(filter((set) => set.size === 3)))).get('b')!;
await close(servers[1]!); // b dies without deregistering
console.log('b is down but still registered');

// Outlier ejection sits before the balancer; call() reports every attempt to it.
const outliers = createOutlierDetector({ consecutiveFailures: 2, baseEjectionMs: 30_000 });
const ejections = outliers.events$.subscribe((e) =>
  console.log(`outliers: ${e.type} ${e.instance.id}`),
);
// start: 'first' makes this output the same every run.
const hello = live(hello$.pipe(healthy(), outliers.operator(), roundRobin({ start: 'first' })));
const budget = retryBudget({ ratio: 0.2, minPerSecond: 10 });

let failed = 0;
const answers = new Set<string>();
for (let n = 0; n < 30; n++) {
  try {
    const body = await call(
      hello,
      async (instance, { signal }) => {
        const response = await fetch(`${baseUrl(instance)}/hello`, { signal });
        return (await response.json()) as { from: string };
      },
      { detector: outliers, retry: { budget }, attemptTimeoutMs: 2000 },
    );
    answers.add(body.from);
  } catch {
    failed++;
  }
}
console.log(`call(): 30 calls, ${failed} failed, answered by ${[...answers].sort().join(',')}`);
console.log(
  `b ejected: ${outliers.isEjected(b)}, picking from ${hello.set!.instances.map((i) => i.id).join(',')}`,
);

// When every attempt fails, the error names the service and each attempt.
try {
  await call(
    hello,
    async () => {
      throw new Error('always fails');
    },
    { retry: { attempts: 2, budget: false } },
  );
} catch (e) {
  if (isCallError(e)) {
    console.log(`CallError: ${e.reason}, ${e.attempts.length} attempts, service ${e.service}`);
  }
}

// ky: requests go to picked instances, retried elsewhere, outcomes fed back.
const api = kyFor(hello$.pipe(healthy(), outliers.operator(), ewma()), {
  detector: outliers,
  ky: { prefixUrl: 'http://hello/' },
});
const viaKy = await Promise.all(
  Array.from({ length: 10 }, () => api.get('hello').json<{ from: string }>()),
);
console.log(
  `kyFor(): 10 requests answered by ${[...new Set(viaKy.map((r) => r.from))].sort().join(',')}`,
);

api.close();
hello.close();
ejections.unsubscribe();
for (const r of registrations) r.unsubscribe();
await registry.close();
await Promise.all([servers[0]!, servers[2]!].map(close));
console.log('closed');
