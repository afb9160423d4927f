import fc from 'fast-check';
import { VirtualTimeScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { reconcileHashcode } from '../../../../src/backends/eureka/codecs.js';
import { parsePayload } from '../../../../src/backends/eureka/payload.js';
import {
  applyDelta,
  applyDeltaSliced,
  copyHashcode,
  fullCopy,
  fullCopySliced,
  type RegistryCopy,
} from '../../../../src/backends/eureka/registry-copy.js';
import type { Instance } from '../../../../src/core/instance.js';
import { SLICE } from '../../../../src/core/slices.js';
import { apps, clone, ctx, fixture } from './fake-eureka.js';

const ids = (copy: RegistryCopy, app: string): string[] =>
  [...(copy.apps.get(app)?.instances.keys() ?? [])].sort();
const portOf = (copy: RegistryCopy, app: string, id: string): unknown =>
  (copy.apps.get(app)!.instances.get(id) as Instance).port;

const instance = (id: string, status = 'UP', port = 8080) => ({
  instanceId: id,
  hostName: '10.0.0.1',
  app: 'HELLO',
  status,
  port: { $: port, '@enabled': 'true' },
});
const body = (hashcode: string, items: Record<string, unknown[]>) => ({
  applications: {
    apps__hashcode: hashcode,
    application: Object.entries(items).map(([name, instance]) => ({ name, instance })),
  },
});

describe('the unfiltered registry copy', () => {
  it('holds every instance of a full fetch, malformed ones included, and matches the server hashcode', () => {
    const copy = fullCopy(apps(fixture('full.json')), ctx);
    expect(ids(copy, 'GREETER')).toEqual(['greeter-java-1']);
    expect(ids(copy, 'HELLO')).toEqual(['hello-1', 'hello-2', 'hello-3', 'hello-4']);
    expect(copyHashcode(copy)).toBe('STARTING_1_UP_4_');
  });

  it('property: after any deltas, the hashcode counts exactly the statuses of the instances held', () => {
    const statuses = ['UP', 'DOWN', 'STARTING', 'OUT_OF_SERVICE'] as const;
    const change = fc.record({
      app: fc.constantFrom('HELLO', 'WORLD'),
      id: fc.constantFrom('a', 'b', 'c', 'd'),
      status: fc.constantFrom(...statuses),
      action: fc.constantFrom('ADDED', 'MODIFIED', 'DELETED'),
      port: fc.constantFrom(8080, 8081),
    });
    fc.assert(
      fc.property(fc.array(fc.array(change, { maxLength: 5 }), { maxLength: 8 }), (deltas) => {
        let copy = fullCopy(apps(body('', { HELLO: [instance('a'), instance('b', 'DOWN')] })), ctx);
        for (const changes of deltas) {
          const items: Record<string, unknown[]> = {};
          for (const c of changes) {
            const list = items[c.app] ?? [];
            items[c.app] = list;
            list.push({ ...instance(c.id, c.status, c.port), app: c.app, actionType: c.action });
          }
          copy = applyDelta(copy, apps(body('', items)), ctx);
        }
        const held = [...copy.apps.values()].flatMap((a) =>
          [...a.instances.values()].map((i) => i.status),
        );
        return copyHashcode(copy) === reconcileHashcode(held);
      }),
      { numRuns: 300, seed: 11 },
    );
  });

  it('applies a recorded delta (ADDED, MODIFIED, DELETED) to exactly the instances it names', () => {
    const before = fullCopy(apps(fixture('full.json')), ctx);
    const delta = apps(fixture('delta.json'));
    const after = applyDelta(before, delta, ctx);
    const truth = fullCopy(apps(fixture('full-after.json')), ctx);
    expect(ids(after, 'HELLO')).toEqual(ids(truth, 'HELLO'));
    expect(portOf(after, 'HELLO', 'hello-2')).toBe(9090);
    expect(after.apps.get('HELLO')!.instances.get('hello-4')!.status).toBe('OUT_OF_SERVICE');
    expect(copyHashcode(after)).toBe(delta.hashcode);
    expect(copyHashcode(after)).toBe(copyHashcode(truth));
    // the application the delta only repeated keeps its object: its views have nothing to do
    expect(after.apps.get('GREETER')).toBe(before.apps.get('GREETER'));
    expect(after.version).toBeGreaterThan(before.version);
  });

  it('modifies the instance the delta names and no other (eureka-js-client edits the wrong one)', () => {
    const before = fullCopy(
      apps(body('UP_3_', { HELLO: [instance('a'), instance('b'), instance('c')] })),
      ctx,
    );
    const after = applyDelta(
      before,
      apps(body('UP_3_', { HELLO: [{ ...instance('b', 'UP', 9999), actionType: 'MODIFIED' }] })),
      ctx,
    );
    const b = before.apps.get('HELLO')!.instances;
    const a = after.apps.get('HELLO')!.instances;
    expect(portOf(after, 'HELLO', 'b')).toBe(9999);
    expect(a.get('a')).toBe(b.get('a'));
    expect(a.get('c')).toBe(b.get('c'));
    expect(ids(after, 'HELLO')).toEqual(['a', 'b', 'c']);
  });

  it('returns the same copy when a delta changes nothing, and drops applications left empty', () => {
    const before = fullCopy(
      apps(body('UP_2_', { HELLO: [instance('a')], OTHER: [instance('o')] })),
      ctx,
    );
    const same = applyDelta(
      before,
      apps(
        body('UP_2_', {
          HELLO: [{ ...instance('a'), actionType: 'ADDED', lastUpdatedTimestamp: '2' }],
          OTHER: [{ ...instance('zz'), actionType: 'DELETED' }],
        }),
      ),
      ctx,
    );
    expect(same).toBe(before);
    const gone = applyDelta(
      before,
      apps(body('UP_1_', { HELLO: [{ ...instance('a'), actionType: 'DELETED' }] })),
      ctx,
    );
    expect([...gone.apps.keys()]).toEqual(['OTHER']);
    expect(copyHashcode(gone)).toBe('UP_1_');
  });

  it('replaces a repeated instance only when what it decodes to differs', () => {
    const rich = (over: Record<string, unknown> = {}) => ({
      ...instance('a'),
      metadata: { zone: 'z1', tags: 'x' },
      dataCenterInfo: { name: 'MyOwn', extra: [1, { deep: true }] },
      leaseInfo: { renewalIntervalInSecs: 30, lastRenewalTimestamp: 1 },
      ...over,
    });
    const before = fullCopy(apps(body('UP_1_', { HELLO: [rich()] })), ctx);
    const again = (over: Record<string, unknown>) =>
      applyDelta(
        before,
        apps(body('UP_1_', { HELLO: [{ ...rich(over), actionType: 'MODIFIED' }] })),
        ctx,
      );
    // heartbeats and replication touch only volatile fields: nothing to do
    expect(
      again({
        leaseInfo: { renewalIntervalInSecs: 30, lastRenewalTimestamp: 2 },
        lastUpdatedTimestamp: 9,
      }),
    ).toBe(before);
    expect(again({ metadata: { tags: 'x', zone: 'z1' } })).toBe(before); // key order does not matter
    // fields no Instance holds: the copy keeps the instance (views have nothing to emit)
    for (const unread of [
      { dataCenterInfo: { name: 'MyOwn', extra: [1, { deep: false }] } },
      { vipAddress: 'hello' },
    ]) {
      expect(again(unread), JSON.stringify(unread)).toBe(before);
    }
    for (const changed of [
      { metadata: { zone: 'z2', tags: 'x' } },
      { metadata: { zone: 'z1' } },
      { metadata: { zone: 'z1', tags: 'x', more: 'y' } },
      { hostName: '10.0.0.2' },
      { status: 'DOWN' },
      { port: { $: 8081, '@enabled': 'true' } },
    ]) {
      expect(again(changed), JSON.stringify(changed)).not.toBe(before);
    }
  });

  it('keys only what has an instanceId; the rest is reported per application', () => {
    const copy = fullCopy(apps(body('UP_2_', { HELLO: [instance('a'), { hostName: 'x' }] })), ctx);
    expect(ids(copy, 'HELLO')).toEqual(['a']);
    const errors = copy.unkeyed.get('HELLO')!;
    expect(errors).toHaveLength(1);
    expect(errors[0]!.key).toBe('HELLO/#1');
    expect(errors[0]!.problems.join()).toContain('instanceId');
  });

  it('does not mutate the previous copy', () => {
    const raw = body('UP_1_', { HELLO: [instance('a')] });
    const before = fullCopy(apps(clone(raw)), ctx);
    applyDelta(
      before,
      apps(body('UP_2_', { HELLO: [{ ...instance('b'), actionType: 'ADDED' }] })),
      ctx,
    );
    expect(ids(before, 'HELLO')).toEqual(['a']);
  });
});

describe('the registry copy in slices', () => {
  const many = (n: number) =>
    body(`UP_${n}_`, {
      HELLO: Array.from({ length: n }, (_, i) => ({ ...instance(`h-${i}`), actionType: 'ADDED' })),
    });

  it('builds a full copy a slice per macrotask, equal to the copy made at once', async () => {
    const scheduler = new VirtualTimeScheduler();
    const n = SLICE.entries * 2 + 1;
    let done = false;
    const sliced = fullCopySliced(apps(many(n)), ctx, scheduler).then((c) => {
      done = true;
      return c;
    });
    await Promise.resolve();
    expect(done).toBe(false);
    expect(scheduler.actions).toHaveLength(1); // the next slice waits for the scheduler
    scheduler.flush();
    const copy = await sliced;
    // A big payload waits a macrotask before its first slice too: 3 slices, 3 macrotasks.
    expect(scheduler.index + 1).toBe(3);
    const whole = fullCopy(apps(many(n)), ctx);
    expect(ids(copy, 'HELLO')).toEqual(ids(whole, 'HELLO'));
    expect([...copy.apps.get('HELLO')!.instances.values()]).toEqual([
      ...whole.apps.get('HELLO')!.instances.values(),
    ]);
    expect(copyHashcode(copy)).toBe(`UP_${n}_`);
  });

  it('applies a big delta in slices, as applyDelta does', async () => {
    const scheduler = new VirtualTimeScheduler();
    const before = fullCopy(apps(body('UP_1_', { HELLO: [instance('a')] })), ctx);
    const sliced = applyDeltaSliced(before, apps(many(SLICE.entries + 5)), ctx, scheduler);
    scheduler.flush();
    const after = await sliced;
    expect(after.apps.get('HELLO')!.instances.size).toBe(SLICE.entries + 6);
    expect(copyHashcode(after)).toBe(
      copyHashcode(applyDelta(before, apps(many(SLICE.entries + 5)), ctx)),
    );
  });

  it('stops between two slices when aborted', async () => {
    const scheduler = new VirtualTimeScheduler();
    const ctl = new AbortController();
    const sliced = fullCopySliced(apps(many(SLICE.entries + 1)), ctx, scheduler, ctl.signal);
    ctl.abort();
    await expect(sliced).rejects.toThrow(/aborted/);
    expect(scheduler.actions).toHaveLength(0);
  });
});

describe('the registry copy in slices, by size', () => {
  it('ends a slice after SLICE.chars characters of instances, however few', async () => {
    const scheduler = new VirtualTimeScheduler();
    const big = (id: string) => ({
      ...instance(id),
      metadata: { pad: 'x'.repeat(Math.ceil(SLICE.chars * 0.6)) },
    });
    const text = JSON.stringify(body('UP_3_', { HELLO: [big('a'), big('b'), big('c')] }));
    let done = false;
    const sliced = fullCopySliced(apps(parsePayload(text, 'GET /apps')), ctx, scheduler).then(
      (c) => {
        done = true;
        return c;
      },
    );
    await Promise.resolve();
    expect(done).toBe(false);
    expect(scheduler.actions).toHaveLength(1); // a and b in the first slice; c waits for a macrotask
    scheduler.flush();
    expect(ids(await sliced, 'HELLO')).toEqual(['a', 'b', 'c']);
  });
});
