// fetch() and undici through discovery: two HTTP servers register as
// `hello`; requests for http://hello/... go to them in turn, through one
// keep-alive pool per instance. A dead instance (still registered) costs a
// retry on the other one, never a failed GET; a service with no instance
// fails at once with a NoInstanceError.
//
// Run: npx tsx docs/examples/fetch.ts
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { filter, firstValueFrom } from 'rxjs';
import { request } from 'undici';
import {
  healthy,
  isNoInstanceError,
  memoryDiscovery,
  memoryRegistry,
  roundRobin,
} from '../../src/index.js';
import { discoveryDispatcher } from '../../src/undici/index.js';

const serve = async (name: string): Promise<Server> => {
  const server = createServer((req, res) => res.end(`${name} answered ${req.method} ${req.url}`));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
};
const close = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

const servers = await Promise.all(['a', 'b'].map(serve));
const registry = memoryDiscovery(memoryRegistry('fetch-example'));
const registrations = servers.map((server, k) =>
  registry
    .register({
      id: ['a', 'b'][k],
      service: 'hello',
      host: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
    })
    .subscribe(),
);
await firstValueFrom(registry.instances$('hello').pipe(filter((set) => set.size === 2)));

// Any rxdisco balancer; start: 'first' makes this output the same every run.
const dispatcher = discoveryDispatcher(registry, {
  balancer: (instances$) => instances$.pipe(healthy(), roundRobin({ start: 'first' })),
});

// Node's global fetch takes the dispatcher (its RequestInit types name its own undici's).
const init = { dispatcher } as unknown as RequestInit;
for (const path of ['/one', '/two']) {
  const res = await fetch(`http://hello${path}`, init);
  console.log(`fetch ${path}: ${res.status} ${await res.text()}`);
}

// undici.request, the same dispatcher
const res = await request('http://hello/three?x=1', { dispatcher });
console.log(`request /three: ${res.statusCode} ${await res.body.text()}`);

// b dies without deregistering: GETs are retried on a, none fails
await close(servers[1]!);
const answers: string[] = [];
for (let k = 0; k < 4; k++) {
  const r = await fetch(`http://hello/after/${k}`, init);
  answers.push((await r.text()).split(' ')[0]!);
}
console.log(`b down: 4 GETs answered by ${[...new Set(answers)].join(',')}`);

// nobody registered as `nobody`: fails at once
try {
  await request('http://nobody/', { dispatcher });
} catch (e) {
  console.log(
    `nobody: ${isNoInstanceError(e) ? 'NoInstanceError' : 'other error'}, service ${(e as { service?: string }).service}`,
  );
}

await dispatcher.close();
for (const r of registrations) r.unsubscribe();
await registry.close();
await close(servers[0]!);
console.log('closed');
