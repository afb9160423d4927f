// Prints what diff() reports as instances of `hello` register, change and
// leave, and that an outage (the set turning stale) reports nothing.
//
// Run: npx tsx docs/examples/diff.ts
import { filter, firstValueFrom } from 'rxjs';
import {
  diff,
  type InstanceSet,
  type InstanceSpec,
  memoryDiscovery,
  memoryRegistry,
} from '../../src/index.js';

const store = memoryRegistry('diff-example'); // the store behind memory://diff-example
const registry = memoryDiscovery(store, {
  // Problems (here: the outage) are printed rather than left to process warnings.
  onProblem: (p) => console.log(`  problem: ${p.name}, retryable=${p.retryable}`),
});
const hello$ = registry.instances$('hello');

const changes = hello$.pipe(diff()).subscribe(({ set, added, removed, updated }) => {
  const parts = [
    ...added.map((i) => `+${i.id}`),
    ...removed.map((i) => `-${i.id}`),
    ...updated.map((u) => `~${u.current.id} (${u.previous.status} -> ${u.current.status})`),
  ];
  console.log(`  diff: ${parts.join(' ') || '(empty first set)'}  [size ${set.size}]`);
});

/** Resolves with the first set (of the shared watch) that satisfies `test`. */
const until = (test: (set: InstanceSet) => boolean): Promise<InstanceSet> =>
  firstValueFrom(hello$.pipe(filter(test)));
const register = (spec: Omit<InstanceSpec, 'service' | 'host'>) =>
  registry.register({ service: 'hello', host: '127.0.0.1', ...spec }).subscribe();

await until(() => true);

console.log('register a and b');
const a = register({ id: 'a', port: 8081 });
const b = register({ id: 'b', port: 8082 });
await until((set) => set.size === 2);

console.log('b re-registers as DOWN (same id: an update)');
const bDown = register({ id: 'b', port: 8082, status: 'DOWN' });
await until((set) => set.get('b')?.status === 'DOWN');
b.unsubscribe(); // its lease no longer holds `b`: no change

console.log('outage: the set turns stale, diff() prints nothing');
store.setAvailable(false);
const stale = await until((set) => set.stale);
console.log(`  set: stale=${stale.stale} size=${stale.size}`);
store.setAvailable(true);
await until((set) => !set.stale);
console.log('  set: fresh again');

console.log('a deregisters');
a.unsubscribe();
await until((set) => set.get('a') === undefined);

changes.unsubscribe();
bDown.unsubscribe();
await registry.close();
console.log('closed');
