import { Observable, Subject, VirtualAction, VirtualTimeScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { type Catalog, type CatalogEvent, watchCatalog } from '../../../src/core/catalog.js';
import { RegistryUnavailableError } from '../../../src/core/errors.js';
import { createInstance, type Instance } from '../../../src/core/instance.js';
import { REGISTRY } from './fixtures.js';

const at = (service: string, n: number, port = 8080): Instance =>
  createInstance({ id: String(n), service, host: `10.0.0.${n}`, port }, REGISTRY);

/** A catalog stream over sessions the test drives by hand. */
const driven = () => {
  const sessions: Subject<CatalogEvent<number>>[] = [];
  const resumes: (number | undefined)[] = [];
  const seen: Catalog[] = [];
  const time = new VirtualTimeScheduler(VirtualAction, 60_000);
  const sub = watchCatalog<number>(
    REGISTRY,
    (resume) =>
      new Observable<CatalogEvent<number>>((s) => {
        resumes.push(resume);
        const session = new Subject<CatalogEvent<number>>();
        sessions.push(session);
        return session.subscribe(s);
      }),
    { scheduler: time, report: () => undefined },
  ).subscribe((c) => seen.push(c));
  return { sessions, resumes, seen, sub, time, last: () => seen[seen.length - 1]! };
};

describe('watchCatalog', () => {
  it('emits the whole registry first, naming every service as changed', () => {
    const d = driven();
    d.sessions[0]!.next({
      type: 'snapshot',
      instances: [at('b', 1), at('a', 1), at('a', 2)],
      cursor: 5,
    });
    const c = d.last();
    expect(c.names()).toEqual(['a', 'b']);
    expect(c.changed).toEqual(['a', 'b']);
    expect(c.size).toBe(2);
    expect(c.instanceCount).toBe(3);
    expect(c.get('a')!.instances.map((i) => i.id)).toEqual(['1', '2']);
    expect(c.stale).toBe(false);
    d.sub.unsubscribe();
  });

  it('one change names only its service and keeps every other set as the same object', () => {
    const d = driven();
    d.sessions[0]!.next({ type: 'snapshot', instances: [at('a', 1), at('b', 1)], cursor: 1 });
    const first = d.last();
    d.sessions[0]!.next({ type: 'changes', upserts: [at('b', 2)], removals: [], cursor: 2 });
    const second = d.last();
    expect(second.changed).toEqual(['b']);
    expect(second.get('a')).toBe(first.get('a'));
    expect(second.get('b')!.size).toBe(2);
    // The earlier catalog is unchanged.
    expect(first.get('b')!.size).toBe(1);
    d.sub.unsubscribe();
  });

  it('a service whose last instance goes leaves the catalog', () => {
    const d = driven();
    d.sessions[0]!.next({ type: 'snapshot', instances: [at('a', 1), at('b', 1)], cursor: 1 });
    d.sessions[0]!.next({
      type: 'changes',
      upserts: [],
      removals: [{ service: 'b', id: '1' }],
      cursor: 2,
    });
    expect(d.last().names()).toEqual(['a']);
    expect(d.last().has('b')).toBe(false);
    expect(d.last().changed).toEqual(['b']);
    expect(d.last().size).toBe(1);
    d.sub.unsubscribe();
  });

  it('never emits twice the same catalog (an upsert equal to what is known, a progress)', () => {
    const d = driven();
    d.sessions[0]!.next({ type: 'snapshot', instances: [at('a', 1)], cursor: 1 });
    d.sessions[0]!.next({ type: 'changes', upserts: [at('a', 1)], removals: [], cursor: 2 });
    d.sessions[0]!.next({ type: 'progress', cursor: 3 });
    d.sessions[0]!.next({ type: 'snapshot', instances: [at('a', 1)], cursor: 4 });
    expect(d.seen).toHaveLength(1);
    d.sub.unsubscribe();
  });

  it('a fault marks the catalog and every set in it stale, and the session resumes from the cursor', () => {
    const d = driven();
    d.sessions[0]!.next({ type: 'snapshot', instances: [at('a', 1), at('b', 1)], cursor: 7 });
    d.sessions[0]!.error(new RegistryUnavailableError('down', { registry: REGISTRY }));
    d.time.flush();
    const stale = d.last();
    expect(stale.stale).toBe(true);
    expect(stale.error).toBeInstanceOf(RegistryUnavailableError);
    expect(stale.get('a')!.stale).toBe(true);
    expect(stale.get('b')!.stale).toBe(true);
    expect(d.resumes).toEqual([undefined, 7]);
    d.sessions[1]!.next({ type: 'progress', cursor: 8 });
    expect(d.last().stale).toBe(false);
    expect(d.last().get('a')!.stale).toBe(false);
    d.sub.unsubscribe();
  });

  it('a snapshot after a re-read removes the services that went meanwhile', () => {
    const d = driven();
    d.sessions[0]!.next({ type: 'snapshot', instances: [at('a', 1), at('b', 1)], cursor: 1 });
    d.sessions[0]!.next({ type: 'snapshot', instances: [at('b', 1), at('c', 1)], cursor: 9 });
    expect(d.last().names()).toEqual(['b', 'c']);
    expect(d.last().changed).toEqual(['a', 'c']);
    d.sub.unsubscribe();
  });

  it('many single changes keep every read right, and the catalogs before them unchanged', () => {
    const d = driven();
    const n = 500;
    d.sessions[0]!.next({
      type: 'snapshot',
      instances: Array.from({ length: n }, (_, i) => at(`s${i}`, 1)),
      cursor: 1,
    });
    const first = d.last();
    for (let i = 0; i < n; i++) {
      if (i % 2 === 0)
        d.sessions[0]!.next({ type: 'changes', upserts: [at(`s${i}`, 2)], removals: [] });
      else
        d.sessions[0]!.next({
          type: 'changes',
          upserts: [],
          removals: [{ service: `s${i}`, id: '1' }],
        });
    }
    const c = d.last();
    expect(c.size).toBe(n / 2);
    expect(c.instanceCount).toBe(n);
    for (let i = 0; i < n; i++) {
      if (i % 2 === 0) expect(c.get(`s${i}`)!.size).toBe(2);
      else expect(c.has(`s${i}`)).toBe(false);
      expect(first.get(`s${i}`)!.size).toBe(1);
    }
    expect(c.names()).toHaveLength(n / 2);
    expect([...c.entries()].map(([k]) => k)).toEqual(c.names());
    d.sub.unsubscribe();
  });
  it('a catalog that grows 100x one service at a time, then shrinks back, reads right at every size', () => {
    const d = driven();
    d.sessions[0]!.next({ type: 'snapshot', instances: [at('s0', 1)], cursor: 1 });
    const kept: Catalog[] = [];
    const n = 3000;
    for (let i = 1; i < n; i++) {
      d.sessions[0]!.next({ type: 'changes', upserts: [at(`s${i}`, 1)], removals: [] });
      if (i % 500 === 0) kept.push(d.last());
    }
    expect(d.last().size).toBe(n);
    for (let i = 0; i < n; i++) expect(d.last().get(`s${i}`)?.size).toBe(1);
    for (let i = 10; i < n; i++) {
      d.sessions[0]!.next({
        type: 'changes',
        upserts: [],
        removals: [{ service: `s${i}`, id: '1' }],
      });
    }
    const small = d.last();
    expect(small.size).toBe(10);
    expect(small.names()).toEqual(Array.from({ length: 10 }, (_, i) => `s${i}`).sort());
    expect(small.has(`s${n - 1}`)).toBe(false);
    // the catalogs taken on the way up still read as they were
    kept.forEach((c, k) => {
      const size = (k + 1) * 500 + 1;
      expect(c.size).toBe(size);
      expect(c.names()).toHaveLength(size);
      expect(c.get(`s${size - 1}`)?.size).toBe(1);
      expect(c.has(`s${size}`)).toBe(false);
    });
    d.sub.unsubscribe();
  });
});
