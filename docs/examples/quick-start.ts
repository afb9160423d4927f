// Quick start: register two instances of `hello` in the in-process registry,
// then pick from them in round robin.
//
// Run: npx tsx docs/examples/quick-start.ts
import { filter, firstValueFrom } from 'rxjs';
import { discovery, healthy, live, roundRobin } from '../../src/index.js';

const registry = discovery('memory://');

// Subscribing registers (and keeps alive); unsubscribing deregisters.
const registrations = [8080, 8081].map((port) =>
  registry.register({ service: 'hello', host: '127.0.0.1', port }).subscribe(),
);

const hello = live(registry.instances$('hello').pipe(healthy(), roundRobin()));

// pickAsync() waits for the first set only: wait until both are registered.
await firstValueFrom(registry.instances$('hello').pipe(filter((set) => set.size === 2)));

const first = await hello.pickAsync();
console.log(`pickAsync -> ${first.id}`);
for (let n = 0; n < 4; n++) {
  const target = hello.pick(); // synchronous: Instance | undefined
  console.log(`pick      -> ${target ? `http://${target.host}:${target.port}` : 'none'}`);
}

hello.close();
console.log(`after close: pick() -> ${String(hello.pick())}`);
for (const r of registrations) r.unsubscribe();
await registry.close(); // waits for the deregistrations
console.log('closed');
