// Graceful shutdown: the registration ends on SIGINT / SIGTERM (Ctrl-C) or,
// so that this example ends by itself, when an AbortSignal fires after 2 s.
// Either way the instance is deregistered before the process exits.
//
// Run: npx tsx docs/examples/graceful-shutdown.ts   (Ctrl-C to stop it early)
import { fromEvent, map, merge, tap } from 'rxjs';
import { discovery, shutdownSignal } from '../../src/index.js';

const registry = discovery('memory://');

// What another process would see: the instances of `hello`.
const watcher = registry.instances$('hello').subscribe((set) => {
  console.log(`watcher: ${set.size} instance(s) ${set.instances.map((i) => i.id).join(' ')}`);
});

const timeUp = new AbortController();
const deadline = setTimeout(() => timeUp.abort(), 2000);

// `until` takes one Observable or one AbortSignal; merge to stop on either.
const until = merge(
  shutdownSignal(), // SIGINT / SIGTERM; its listeners go when it is unsubscribed
  fromEvent(timeUp.signal, 'abort').pipe(map(() => 'timeout')),
).pipe(tap((why) => console.log(`stopping: ${why}`)));

registry
  .register(
    { service: 'hello', host: '127.0.0.1', port: 8080 },
    { ttlMs: 3000, until }, // renewed every second (ttlMs / 3)
  )
  .subscribe({
    next: (event) => console.log(`registration: ${event.type} ${event.instance.id}`),
    error: (e: unknown) => console.error('registration failed:', e),
    complete: async () => {
      // `deregistered` was emitted: the instance is gone from the registry.
      clearTimeout(deadline);
      watcher.unsubscribe();
      await registry.close();
      console.log('closed; exiting');
    },
  });
