// Multi-registry fallback: `hello` is registered in a primary and a backup
// registry. fallback() follows the primary, switches to the backup while the
// primary is down (its set turns stale) and back when it recovers.
// lastKnownGood() persists the last fresh set, so that a process starting
// while the registry is down still finds the instances (marked stale).
//
// Run: npx tsx docs/examples/fallback.ts
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom, type Observable, ReplaySubject, share } from 'rxjs';
import {
  fallback,
  type InstanceSet,
  lastKnownGood,
  memoryDiscovery,
  memoryRegistry,
} from '../../src/index.js';

const quiet = { onProblem: () => undefined }; // the outages below are on purpose
const primaryStore = memoryRegistry('primary');
const primary = memoryDiscovery(primaryStore, quiet);
const backup = memoryDiscovery(memoryRegistry('backup'), quiet);
const registrations = [
  primary.register({ id: 'a', service: 'hello', host: '10.0.0.1', port: 8080 }).subscribe(),
  backup.register({ id: 'z', service: 'hello', host: '10.9.0.1', port: 8080 }).subscribe(),
];

const show = (set: InstanceSet): string =>
  `${set.instances.map((i) => `${i.id} (${i.registry})`).join(', ')}${set.stale ? ' [stale]' : ''}`;

const hello$ = fallback([primary.instances$('hello'), backup.instances$('hello')], {
  onSwitch: (s) => console.log(`switch: source ${s.from ?? '-'} -> ${s.to} (${s.kind})`),
}).pipe(share({ connector: () => new ReplaySubject<InstanceSet>(1) })); // one fallback, many readers
let latest: InstanceSet | undefined;
const watching = hello$.subscribe((set) => {
  latest = set;
});
const until = (test: (set: InstanceSet) => boolean, source: Observable<InstanceSet> = hello$) =>
  firstValueFrom(source.pipe(filter(test)));

await until((set) => set.get('a') !== undefined && !set.stale);
console.log(`using: ${show(latest!)}`);

primaryStore.setAvailable(false);
await until((set) => set.get('z') !== undefined);
console.log(`primary down, using: ${show(latest!)}`);

primaryStore.setAvailable(true);
await until((set) => set.get('a') !== undefined && !set.stale);
console.log(`primary back, using: ${show(latest!)}`);
watching.unsubscribe();

// Last known good: persist the fresh set, then start "a new process" while
// the registry is down.
const dir = await mkdtemp(join(tmpdir(), 'rxdisco-example-'));
const file = join(dir, 'hello.json');
const persisted = primary.instances$('hello').pipe(lastKnownGood({ file }));
const saving = persisted.subscribe();
await until((set) => set.size === 1 && !set.stale, persisted);
saving.unsubscribe();

const coldStore = memoryRegistry('cold-start');
coldStore.setAvailable(false); // the registry is unreachable from the start
const cold = memoryDiscovery(coldStore, quiet);
// The file is written in the background: wait for it.
while (
  !(await access(file).then(
    () => true,
    () => false,
  ))
)
  await new Promise((r) => setImmediate(r));
const restored = await firstValueFrom(cold.instances$('hello').pipe(lastKnownGood({ file })));
console.log(`cold start while the registry is down: ${show(restored)}`);

for (const r of registrations) r.unsubscribe();
await Promise.all([primary.close(), backup.close(), cold.close()]);
await rm(dir, { recursive: true, force: true });
console.log('closed');
