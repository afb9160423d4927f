import { NEVER, Observable, Subject, VirtualAction, VirtualTimeScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { CatalogEvent } from '../../../src/core/catalog.js';
import { type Backend, createDiscovery } from '../../../src/core/discovery.js';
import { ConfigError, RegistryUnavailableError } from '../../../src/core/errors.js';
import { createInstance, type Instance } from '../../../src/core/instance.js';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import type { SourceEvent } from '../../../src/core/watch.js';
import { REGISTRY } from './fixtures.js';

const at = (service: string, n: number): Instance =>
  createInstance({ id: String(n), service, host: `10.0.0.${n}`, port: 8080 }, REGISTRY);

/** A backend with a catalog session the test drives, counting what is opened. */
const setup = (catalogViewsPast: number) => {
  const calls = { instances: 0, catalogSessions: 0, open: 0 };
  const catalog = new Subject<CatalogEvent>();
  const time = new VirtualTimeScheduler(VirtualAction, 60_000);
  const backend: Backend = {
    instances: (service) => () => {
      calls.instances++;
      return new Observable<SourceEvent>((s) => {
        s.next({ type: 'snapshot', instances: [at(service, 9)] });
      });
    },
    services: () => () => NEVER,
    catalog: () => () =>
      new Observable<CatalogEvent>((s) => {
        calls.catalogSessions++;
        calls.open++;
        const sub = catalog.subscribe(s);
        return () => {
          calls.open--;
          sub.unsubscribe();
        };
      }),
    registrar: undefined,
    close: async () => undefined,
  };
  const d = createDiscovery(REGISTRY, async () => backend, {
    catalogViewsPast,
    graceMs: 0,
    scheduler: time,
    onProblem: () => undefined,
  });
  return { calls, catalog, d, time };
};

/** Lets the backend's load promise settle. */
const loaded = () => new Promise<void>((r) => queueMicrotask(() => queueMicrotask(r)));

describe('instances$() as views of the catalog', () => {
  it('past the threshold, new watches share the one catalog session and get their own service', async () => {
    const { calls, catalog, d } = setup(2);
    const seen = new Map<string, InstanceSet[]>();
    const subs = ['a', 'b', 'c', 'd'].map((s) => {
      seen.set(s, []);
      return d.instances$(s).subscribe((set) => seen.get(s)!.push(set));
    });
    await loaded();
    await loaded();
    // a and b: their own watches; c and d: views of one catalog session
    expect(calls.instances).toBe(2);
    expect(calls.catalogSessions).toBe(1);
    catalog.next({ type: 'snapshot', instances: [at('c', 1), at('x', 1)] });
    expect(seen.get('c')!.map((s) => s.size)).toEqual([1]);
    expect(seen.get('d')!.map((s) => s.size)).toEqual([0]); // no instance yet: an empty set
    // a change to x reaches no view; a change to d reaches only d
    catalog.next({ type: 'changes', upserts: [at('x', 2)], removals: [] });
    catalog.next({ type: 'changes', upserts: [at('d', 1)], removals: [] });
    expect(seen.get('c')).toHaveLength(1);
    expect(seen.get('d')!.map((s) => s.size)).toEqual([0, 1]);
    for (const s of subs) s.unsubscribe();
    expect(calls.open).toBe(0);
  });

  it('several views of one service: a late one gets the set at once, one leaving keeps the others, the last ends the session', async () => {
    const { calls, catalog, d } = setup(0);
    const seen: number[][] = [[], [], []];
    const first = d.instances$('c').subscribe((s) => seen[0]!.push(s.size));
    const second = d.instances$('c').subscribe((s) => seen[1]!.push(s.size));
    await loaded();
    await loaded();
    catalog.next({ type: 'snapshot', instances: [at('c', 1)] });
    const third = d.instances$('c').subscribe((s) => seen[2]!.push(s.size));
    expect(seen).toEqual([[1], [1], [1]]);
    first.unsubscribe();
    catalog.next({ type: 'changes', upserts: [at('c', 2)], removals: [] });
    expect(seen).toEqual([[1], [1, 2], [1, 2]]);
    second.unsubscribe();
    catalog.next({ type: 'changes', upserts: [at('c', 3)], removals: [] });
    expect(seen).toEqual([[1], [1, 2], [1, 2, 3]]);
    expect(calls.open).toBe(1);
    third.unsubscribe();
    expect(calls.open).toBe(0);
    expect(calls.catalogSessions).toBe(1);
  });

  it('a released watch leaves nothing behind: it no longer counts toward catalogViewsPast', async () => {
    const { calls, d } = setup(2);
    const own = ['a', 'b'].map((s) => d.instances$(s).subscribe());
    await loaded();
    await loaded();
    expect(calls.instances).toBe(2);
    for (const s of own) s.unsubscribe(); // graceMs 0: released (and forgotten) at once
    // Two watches again: below the threshold, so each has its own upstream, not a view.
    const again = ['c', 'd'].map((s) => d.instances$(s).subscribe());
    await loaded();
    await loaded();
    expect(calls.instances).toBe(4);
    expect(calls.catalogSessions).toBe(0);
    for (const s of again) s.unsubscribe();
  });

  it('a view is stale while the catalog is, with its error, even for a service with no instance', async () => {
    const { catalog, d, time } = setup(0);
    const sets: InstanceSet[] = [];
    const absent: InstanceSet[] = [];
    const sub = d.instances$('c').subscribe((s) => sets.push(s));
    sub.add(d.instances$('z').subscribe((s) => absent.push(s)));
    await loaded();
    await loaded();
    catalog.next({ type: 'snapshot', instances: [at('c', 1)] });
    catalog.error(new RegistryUnavailableError('down', { registry: REGISTRY }));
    expect(sets.map((s) => s.stale)).toEqual([false, true]);
    expect(sets[1]!.error).toBeInstanceOf(RegistryUnavailableError);
    expect(sets[1]!.size).toBe(1);
    expect(absent.map((s) => [s.size, s.stale])).toEqual([
      [0, false],
      [0, true],
    ]);
    sub.unsubscribe();
    time.flush();
  });

  it('a view errors with the catalog\u2019s permanent error', async () => {
    const { catalog, d } = setup(0);
    let error: unknown;
    d.instances$('c').subscribe({ error: (e: unknown) => (error = e) });
    await loaded();
    await loaded();
    catalog.error(new ConfigError('x', 'is bad', 'fix it'));
    expect(error).toBeInstanceOf(ConfigError);
  });

  it('below the threshold (the default 64), every watch has its own upstream', async () => {
    const { calls, d } = setup(64);
    const subs = ['a', 'b', 'c'].map((s) => d.instances$(s).subscribe());
    await loaded();
    await loaded();
    expect(calls.instances).toBe(3);
    expect(calls.catalogSessions).toBe(0);
    for (const s of subs) s.unsubscribe();
  });

  it('checks catalogViewsPast with the one validator wording', () => {
    expect(() =>
      createDiscovery(REGISTRY, async () => ({}) as Backend, { catalogViewsPast: -1 }),
    ).toThrow(/catalogViewsPast must be/);
    expect(() =>
      createDiscovery(REGISTRY, async () => ({}) as Backend, { catalogViewsPast: Infinity }),
    ).not.toThrow();
  });
});
