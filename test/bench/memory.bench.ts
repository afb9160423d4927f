/**
 * Memory: the heap held by one subscription to a 10,000-instance service of
 * the memory registry (decoded instances, the sorted set, the watch).
 * Target: < 10 MB.
 */
import { firstValueFrom, type Subscription } from 'rxjs';
import { filter, take } from 'rxjs/operators';
import { MemoryRegistry, memoryDiscovery } from '../../src/backends/memory/index.js';
import type { InstanceSet } from '../../src/core/instance-set.js';
import { settledHeap, verdict } from './heap.js';

const SIZE = 10_000;
const SERVICE = 'bench';

export async function run(): Promise<void> {
  const store = new MemoryRegistry('bench');
  for (let k = 0; k < SIZE; k++) {
    const id = `i${String(k).padStart(6, '0')}`;
    store.put(SERVICE, id, {
      id,
      service: SERVICE,
      host: `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`,
      port: 8080,
      status: 'UP',
      weight: 1,
      zone: `zone-${k % 3}`,
      tags: ['v1', 'primary'],
      metadata: { version: '1.4.2' },
    });
  }
  const registry = memoryDiscovery(store, { graceMs: 0 });
  const set$ = registry.instances$(SERVICE);

  const before = settledHeap();
  let held: InstanceSet | undefined;
  const subscription: Subscription = set$.subscribe((set) => {
    held = set;
  });
  await firstValueFrom(
    set$.pipe(
      filter((s) => s.size === SIZE),
      take(1),
    ),
  );
  const after = settledHeap();
  const mb = (after - before) / (1024 * 1024);
  console.log(
    `memory: one stream holding ${held?.size ?? 0} instances: ${mb.toFixed(2)} MB of heap, ${((after - before) / SIZE).toFixed(0)} bytes/instance (target < 10 MB) ${verdict(mb < 10)}`,
  );
  subscription.unsubscribe();
  await registry.close();
}
