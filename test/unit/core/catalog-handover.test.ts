import { NEVER, Observable, Subject, VirtualAction, VirtualTimeScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { CatalogEvent } from '../../../src/core/catalog.js';
import { type Backend, createDiscovery } from '../../../src/core/discovery.js';
import { ConfigError, RegistryUnavailableError } from '../../../src/core/errors.js';
import { createInstance, type Instance } from '../../../src/core/instance.js';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import type { SourceEvent } from '../../../src/core/watch.js';
import { REGISTRY } from './fixtures.js';

const at = (service: string, n: number, extra: { weight?: number } = {}): Instance =>
  createInstance({ id: String(n), service, host: `10.0.0.${n}`, port: 8080, ...extra }, REGISTRY);

/**
 * A backend whose per-service sessions and catalog session the test drives
 * (a Subject each), counting the sessions open.
 */
const setup = (catalogViewsPast: number, lists: (service: string) => boolean = () => true) => {
  const open = { own: new Map<string, number>(), catalog: 0 };
  const own = new Map<string, Subject<SourceEvent>>();
  const ownOf = (service: string): Subject<SourceEvent> => {
    let s = own.get(service);
    if (s === undefined) {
      s = new Subject<SourceEvent>();
      own.set(service, s);
    }
    return s;
  };
  // Each catalog session a Subject of its own, the latest one driven.
  let session = new Subject<CatalogEvent>();
  const catalog = {
    next: (e: CatalogEvent) => session.next(e),
    error: (e: unknown) => session.error(e),
  };
  const time = new VirtualTimeScheduler(VirtualAction, 60_000);
  const backend: Backend = {
    instances: (service) => () =>
      new Observable<SourceEvent>((s) => {
        open.own.set(service, (open.own.get(service) ?? 0) + 1);
        const sub = ownOf(service).subscribe(s);
        return () => {
          open.own.set(service, open.own.get(service)! - 1);
          sub.unsubscribe();
        };
      }),
    services: () => () => NEVER,
    catalog: () => () =>
      new Observable<CatalogEvent>((s) => {
        open.catalog++;
        session = new Subject<CatalogEvent>();
        const sub = session.subscribe(s);
        return () => {
          open.catalog--;
          sub.unsubscribe();
        };
      }),
    catalogLists: lists,
    registrar: undefined,
    close: async () => undefined,
  };
  const d = createDiscovery(REGISTRY, async () => backend, {
    catalogViewsPast,
    graceMs: 0,
    scheduler: time,
    onProblem: () => undefined,
  });
  return { open, ownOf, catalog, d, time };
};

/** Lets the backend's load promise settle. */
const loaded = async (): Promise<void> => {
  for (let i = 0; i < 4; i++) await new Promise<void>((r) => queueMicrotask(r));
};

/** What a subscriber saw: each set's instance ids and weights, and its staleness. */
const record = () => {
  const sets: InstanceSet[] = [];
  const ends: string[] = [];
  const observer = {
    next: (s: InstanceSet) => sets.push(s),
    error: (e: unknown) => ends.push(`error ${(e as Error).name}`),
    complete: () => ends.push('complete'),
  };
  const shown = () =>
    sets.map((s) => `${s.stale ? 'stale ' : ''}${s.instances.map((i) => `${i.id}w${i.weight}`)}`);
  return { sets, ends, observer, shown };
};

describe('own watches hand over to their catalog views', () => {
  it('once the catalog opens, an own watch switches to its view at an equal set and releases its session: no extra emission, no gap', async () => {
    const { open, ownOf, catalog, d, time } = setup(1);
    const a = record();
    const sub = d.instances$('a').subscribe(a.observer);
    await loaded();
    ownOf('a').next({ type: 'snapshot', instances: [at('a', 1)] });
    expect(open.own.get('a')).toBe(1);
    // The second watch is past the threshold: a view, which opens the catalog.
    sub.add(d.instances$('b').subscribe());
    await loaded();
    time.flush();
    expect(open.catalog).toBe(1);
    expect(open.own.get('a')).toBe(1); // nothing to compare with yet
    catalog.next({ type: 'snapshot', instances: [at('a', 1), at('b', 1)] });
    // The view showed the same set: the own session is released, nothing emitted.
    expect(open.own.get('a')).toBe(0);
    expect(a.shown()).toEqual(['1w1']);
    // From now on a's subscriber sees the catalog's sets.
    catalog.next({ type: 'changes', upserts: [at('a', 2)], removals: [] });
    catalog.next({ type: 'changes', upserts: [at('b', 2)], removals: [] });
    expect(a.shown()).toEqual(['1w1', '1w1,2w1']);
    expect(a.sets[1]).toBe((await firstOf(d.catalog$())).get('a'));
    // The watch entry is gone too: a new subscriber is a view itself, the catalog's own set.
    const late: InstanceSet[] = [];
    sub.add(d.instances$('a').subscribe((s) => late.push(s)));
    expect(late[0]).toBe(a.sets[1]);
    // Stale with the catalog, as any view.
    catalog.error(new RegistryUnavailableError('down', { registry: REGISTRY }));
    expect(a.shown()).toEqual(['1w1', '1w1,2w1', 'stale 1w1,2w1']);
    expect(a.ends).toEqual([]);
    sub.unsubscribe();
    expect(open.catalog).toBe(0);
    expect(open.own.get('a')).toBe(0);
  });

  it('waits while the two differ: a later own set equal to the view hands over, and content counts, not ids alone', async () => {
    const { open, ownOf, catalog, d, time } = setup(1);
    const a = record();
    const sub = d.instances$('a').subscribe(a.observer);
    await loaded();
    ownOf('a').next({ type: 'snapshot', instances: [at('a', 1)] });
    sub.add(d.catalog$().subscribe()); // catalog$() opens the upstream too
    await loaded();
    time.flush();
    // The catalog has a newer a/1 (another weight): same ids, other content.
    catalog.next({ type: 'snapshot', instances: [at('a', 1, { weight: 5 })] });
    expect(open.own.get('a')).toBe(1);
    expect(a.shown()).toEqual(['1w1']);
    // The own watch catches up: its set is emitted, then the switch.
    ownOf('a').next({ type: 'changes', upserts: [at('a', 1, { weight: 5 })], removals: [] });
    expect(a.shown()).toEqual(['1w1', '1w5']);
    expect(open.own.get('a')).toBe(0);
    catalog.next({ type: 'changes', upserts: [], removals: [{ service: 'a', id: '1' }] });
    expect(a.shown()).toEqual(['1w1', '1w5', '']);
    sub.unsubscribe();
  });

  it('a catalog that goes stale or fails permanently before the switch leaves the own watch as it was, until the catalog opens again', async () => {
    const { open, ownOf, catalog, d, time } = setup(1);
    const a = record();
    const sub = d.instances$('a').subscribe(a.observer);
    await loaded();
    ownOf('a').next({ type: 'snapshot', instances: [at('a', 1)] });
    const b = record();
    sub.add(d.instances$('b').subscribe(b.observer));
    await loaded();
    time.flush();
    // The catalog has no a, then goes stale; a's own set empties: a stale
    // empty view is no match for it.
    catalog.next({ type: 'snapshot', instances: [at('b', 1)] });
    catalog.error(new RegistryUnavailableError('down', { registry: REGISTRY }));
    expect(b.sets.map((s) => s.stale)).toEqual([false, true]);
    ownOf('a').next({ type: 'changes', upserts: [], removals: ['1'] });
    expect(open.own.get('a')).toBe(1);
    expect(a.shown()).toEqual(['1w1', '']);
    // Then it fails for good: the view errors, the own watch goes on.
    time.flush(); // the catalog's retry
    await loaded();
    expect(open.catalog).toBe(1);
    catalog.error(new ConfigError('x', 'is bad', 'fix it'));
    expect(b.ends).toEqual(['error ConfigError']);
    ownOf('a').next({ type: 'changes', upserts: [at('a', 2)], removals: [] });
    expect(a.shown()).toEqual(['1w1', '', '2w1']);
    expect(a.ends).toEqual([]);
    expect(open.own.get('a')).toBe(1);
    // The catalog opened again later (catalog$() subscribed): the handover is tried again.
    sub.add(d.catalog$().subscribe({ error: () => undefined }));
    await loaded();
    time.flush();
    catalog.next({ type: 'snapshot', instances: [at('a', 2)] });
    expect(open.own.get('a')).toBe(0);
    expect(a.shown()).toEqual(['1w1', '', '2w1']);
    sub.unsubscribe();
    expect(open.own.get('a')).toBe(0);
  });

  it('keeps its own watch where a view cannot stand for it: params, catalogLists false, catalogViewsPast Infinity', async () => {
    for (const [past, lists, params] of [
      [1, () => true, { zone: 'x' }],
      [1, (s: string) => s !== 'a', {}],
      [Number.POSITIVE_INFINITY, () => true, {}],
    ] as const) {
      const { open, ownOf, catalog, d, time } = setup(past, lists);
      const a = record();
      const sub = d.instances$('a', params).subscribe(a.observer);
      await loaded();
      ownOf('a').next({ type: 'snapshot', instances: [at('a', 1)] });
      sub.add(d.catalog$().subscribe());
      await loaded();
      time.flush();
      catalog.next({ type: 'snapshot', instances: [at('a', 1)] });
      expect(open.own.get('a')).toBe(1);
      expect(a.shown()).toEqual(['1w1']);
      sub.unsubscribe();
    }
  });
});

/** The current value of a replaying stream. */
const firstOf = <T>(o: Observable<T>): Promise<T> =>
  new Promise<T>((resolve) => {
    const s = o.subscribe((v) => {
      resolve(v);
      queueMicrotask(() => s.unsubscribe());
    });
  });
