// An API gateway over a registry: two HTTP servers register as `hello`;
// the gateway routes /hello/<path> to them in turn, answers a JSON 404 for
// a service nobody registered, routes a service the moment it registers,
// and a 503 once its only instance is gone.
//
// Run: npx tsx docs/examples/gateway.ts
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { filter, firstValueFrom } from 'rxjs';
import { gateway } from '../../src/gateway/index.js';
import { memoryDiscovery, memoryRegistry } from '../../src/index.js';

const serve = async (name: string): Promise<Server> => {
  const server = createServer((req, res) => res.end(`${name} answered ${req.method} ${req.url}`));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
};
const portOf = (server: Server): number => (server.address() as AddressInfo).port;
const close = (server: Server): Promise<void> =>
  new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });

const upstreams = await Promise.all(['a', 'b'].map(serve));
const registry = memoryDiscovery(memoryRegistry('gateway-example'));
const register = (id: string, service: string, server: Server) =>
  registry.register({ id, service, host: '127.0.0.1', port: portOf(server) }).subscribe();
const hello = [register('a', 'hello', upstreams[0]!), register('b', 'hello', upstreams[1]!)];
await firstValueFrom(registry.instances$('hello').pipe(filter((set) => set.size === 2)));

// The gateway is a request listener; its other listeners go on the server's other events.
const gw = gateway(registry, { balancer: 'round-robin', timeoutMs: 5000 });
const server = createServer(gw)
  .on('checkContinue', gw)
  .on('upgrade', gw.upgrade)
  .on('clientError', gw.clientError);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const base = `http://127.0.0.1:${portOf(server)}`;

const show = async (path: string): Promise<void> => {
  const res = await fetch(`${base}${path}`);
  console.log(`GET ${path} -> ${res.status} ${await res.text()}`.trim());
};

const answers = new Set<string>();
for (let i = 0; i < 4; i++) {
  const res = await fetch(`${base}/hello/greet?n=${i}`);
  answers.add((await res.text()).split(' ')[0]!);
}
console.log(`4 GETs of /hello/greet answered by ${[...answers].sort().join(' and ')}`);
await show('/billing/invoices');

// A new service is routable as soon as it registers.
const billing = register('c', 'billing', upstreams[0]!);
await firstValueFrom(registry.instances$('billing').pipe(filter((set) => set.size === 1)));
await show('/billing/invoices?month=1');

const stats = gw.status.stats('billing', 'c');
console.log(`billing/c: ${stats?.picks} pick, ${stats?.inFlight} in flight`);
await show('/-/healthy');

// Its instance marked DOWN: the service is still registered, nothing to pick.
billing.unsubscribe();
const down = registry
  .register({
    id: 'c',
    service: 'billing',
    host: '127.0.0.1',
    port: portOf(upstreams[0]!),
    status: 'DOWN',
  })
  .subscribe();
await firstValueFrom(
  registry.instances$('billing').pipe(filter((set) => set.instances[0]?.status === 'DOWN')),
);
const res = await fetch(`${base}/billing/invoices`);
console.log(
  `GET /billing/invoices -> ${res.status}, Retry-After: ${res.headers.get('retry-after')}`,
);
await res.text();

server.close();
server.closeAllConnections();
await gw.close();
for (const s of [...hello, down]) s.unsubscribe();
await registry.close();
await Promise.all(upstreams.map(close));
console.log('closed');
