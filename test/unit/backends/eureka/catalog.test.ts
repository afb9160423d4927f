import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { eurekaCatalog } from '../../../../src/backends/eureka/catalog.js';
import {
  applyDelta,
  fullCopy,
  notice,
  type RegistryCopy,
} from '../../../../src/backends/eureka/registry-copy.js';
import type { CatalogEvent } from '../../../../src/core/catalog.js';
import { RegistryUnavailableError } from '../../../../src/core/errors.js';
import type { Instance } from '../../../../src/core/instance.js';
import { apps, ctx } from './fake-eureka.js';

const instance = (id: string, over: Record<string, unknown> = {}) => ({
  instanceId: id,
  hostName: '10.0.0.1',
  app: 'HELLO',
  status: 'UP',
  port: { $: 8080, '@enabled': 'true' },
  ...over,
});
const body = (items: Record<string, unknown[]>) => ({
  applications: {
    apps__hashcode: '',
    application: Object.entries(items).map(([name, instance]) => ({ name, instance })),
  },
});
const full = (items: Record<string, unknown[]>): RegistryCopy => fullCopy(apps(body(items)), ctx);
const delta = (copy: RegistryCopy, items: Record<string, unknown[]>): RegistryCopy =>
  applyDelta(copy, apps(body(items)), ctx);

/** A catalog session over a subject of copies, with every event it emitted. */
const session = () => {
  const copies = new Subject<RegistryCopy>();
  const events: CatalogEvent[] = [];
  const errors: unknown[] = [];
  const sub = eurekaCatalog(copies)(undefined).subscribe({
    next: (e) => events.push(e),
    error: (e: unknown) => errors.push(e),
  });
  return { copies, events, errors, sub };
};

const summary = (e: CatalogEvent | undefined) => {
  if (e === undefined || e.type === 'progress') return e;
  const skipped = (e.skipped ?? []).map((s) => s.key).sort();
  return e.type === 'snapshot'
    ? { type: e.type, instances: e.instances.map((i) => `${i.service}/${i.id}`).sort(), skipped }
    : {
        type: e.type,
        upserts: e.upserts.map((i) => `${i.service}/${i.id}:${i.port}:${i.status}`).sort(),
        removals: e.removals.map((r) => `${r.service}/${r.id}`).sort(),
        skipped,
      };
};

describe('the Eureka catalog source', () => {
  it('opens with a snapshot of every decoded instance, named after its application, the rest reported', () => {
    const s = session();
    s.copies.next(
      full({
        HELLO: [instance('a'), instance('bad', { port: { $: 99_999 } })],
        WORLD: [instance('w', { app: 'WORLD' }), { hostName: 'no-id' }],
      }),
    );
    expect(summary(s.events[0])).toEqual({
      type: 'snapshot',
      instances: ['hello/a', 'world/w'],
      skipped: ['HELLO/bad', 'WORLD/#1'],
    });
    s.sub.unsubscribe();
  });

  it('maps each new copy to the instances added, modified and removed, only in the applications that changed', () => {
    const s = session();
    let copy = full({ HELLO: [instance('a'), instance('b')], WORLD: [instance('w')] });
    s.copies.next(copy);
    copy = delta(copy, {
      HELLO: [
        { ...instance('b', { port: { $: 9090 } }), actionType: 'MODIFIED' },
        { ...instance('c', { status: 'OUT_OF_SERVICE' }), actionType: 'ADDED' },
        { ...instance('a'), actionType: 'DELETED' },
      ],
    });
    s.copies.next(copy);
    expect(summary(s.events[1])).toEqual({
      type: 'changes',
      upserts: ['hello/b:9090:UP', 'hello/c:8080:OUT_OF_SERVICE'],
      removals: ['hello/a'],
      skipped: [],
    });
    // the last instance of an application goes: every one of its instances is removed
    copy = delta(copy, { WORLD: [{ ...instance('w'), actionType: 'DELETED' }] });
    s.copies.next(copy);
    expect(summary(s.events[2])).toEqual({
      type: 'changes',
      upserts: [],
      removals: ['world/w'],
      skipped: [],
    });
    expect(s.events).toHaveLength(3);
    s.sub.unsubscribe();
  });

  it('says nothing for a copy equal in effect (a full fetch after a hashcode mismatch, a heartbeat)', () => {
    const s = session();
    // (a copy consumes its payload: a new payload each time)
    const items = () => ({ HELLO: [instance('a'), instance('bad', { port: { $: 99_999 } })] });
    s.copies.next(full(items()));
    // a full fetch again: every object is new, nothing changed, the bad one is not reported twice
    s.copies.next(full(items()));
    expect(s.events).toHaveLength(1);
    s.sub.unsubscribe();
  });

  it('removes an instance that stops decoding and reports it once; adds it back when it decodes again', () => {
    const s = session();
    let copy = full({ HELLO: [instance('a'), instance('b')] });
    s.copies.next(copy);
    copy = delta(copy, {
      HELLO: [{ ...instance('b', { port: { $: 99_999 } }), actionType: 'MODIFIED' }],
    });
    s.copies.next(copy);
    expect(summary(s.events[1])).toEqual({
      type: 'changes',
      upserts: [],
      removals: ['hello/b'],
      skipped: ['HELLO/b'],
    });
    copy = delta(copy, { HELLO: [{ ...instance('b'), actionType: 'MODIFIED' }] });
    s.copies.next(copy);
    expect(summary(s.events[2])).toEqual({
      type: 'changes',
      upserts: ['hello/b:8080:UP'],
      removals: [],
      skipped: [],
    });
    s.sub.unsubscribe();
  });

  it("hands over the copy's own Instance objects (one decode path with the per-service streams)", () => {
    const s = session();
    const copy = full({ HELLO: [instance('a', { metadata: { zone: 'z1', v: '2' } })] });
    s.copies.next(copy);
    const first = s.events[0] as Extract<CatalogEvent, { type: 'snapshot' }>;
    const held = copy.apps.get('HELLO')!.instances.get('a') as Instance;
    expect(first.instances[0]).toBe(held);
    expect(held).toMatchObject({ zone: 'z1', metadata: { v: '2' } });
    s.sub.unsubscribe();
  });

  it('reports a registry-wide notice once, and ends with the poller’s error', () => {
    const s = session();
    const copy = full({ HELLO: [instance('a')] });
    const problem = new RegistryUnavailableError('mismatch', ctx);
    s.copies.next({ ...copy, notice: notice(problem) });
    expect((s.events[0] as { problems?: unknown[] }).problems).toEqual([problem]);
    const error = new RegistryUnavailableError('every peer failed', ctx);
    s.copies.error(error);
    expect(s.errors).toEqual([error]);
  });
});
