import { map, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  applyChanges,
  type InstanceSet,
  instanceSet,
  restale,
} from '../../../src/core/instance-set.js';
import { healthy } from '../../../src/operators/healthy.js';
import { ids, inst, REGISTRY, setOf, shape, staleSince, testScheduler } from './fixtures.js';

const a = inst('a');
const bDown = inst('b', { status: 'DOWN' });
const bUp = inst('b');
const cStarting = inst('c', { status: 'STARTING' });
const cDown = inst('c', { status: 'DOWN' });

describe('healthy()', () => {
  it('keeps UP instances, skips changes outside the view, keeps staleness', () => {
    const s0 = setOf(a, bDown);
    const s1 = applyChanges(s0, [bUp], []); // b comes up: view changes
    const s2 = applyChanges(s1, [cStarting], []); // c starting: view unchanged
    const s3 = applyChanges(s2, [cDown], []); // c down: view unchanged
    const s4 = restale(s3, staleSince(1000)); // registry away: view goes stale
    const s5 = applyChanges(s4, [], ['a'], staleSince(1000)); // a removed while stale
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a-b-c-d-e-f-|', { a: s0, b: s1, c: s2, d: s3, e: s4, f: s5 });
      expectObservable(source.pipe(healthy(), map(shape))).toBe('v-w-----x-y-|', {
        v: 'a',
        w: 'a,b',
        x: 'a,b (stale)',
        y: 'b (stale)',
      });
      expectSubscriptions(source.subscriptions).toBe('^-----------!');
    });
  });

  it('unsubscribes from its source when unsubscribed, and passes errors on', () => {
    const s0 = setOf(a, bDown);
    testScheduler().run(({ hot, cold, expectObservable, expectSubscriptions }) => {
      const source = hot('-a--b--', { a: s0, b: applyChanges(s0, [bUp], []) });
      expectObservable(source.pipe(healthy(), map(shape)), '^---!').toBe('-v---', { v: 'a' });
      expectSubscriptions(source.subscriptions).toBe('^---!');
      const failing = cold('a-#', { a: s0 }, new Error('boom'));
      expectObservable(failing.pipe(healthy(), map(shape))).toBe(
        'v-#',
        { v: 'a' },
        new Error('boom'),
      );
    });
  });

  it('emits views derived from each other, so the next operator can use their delta', () => {
    const s0 = setOf(a, bDown);
    const s1 = applyChanges(s0, [bUp], []);
    const s2 = applyChanges(s1, [], ['a']);
    const views: InstanceSet[] = [];
    const input = new Subject<InstanceSet>();
    const sub = input.pipe(healthy()).subscribe((v) => views.push(v));
    for (const s of [s0, s1, s2]) input.next(s);
    sub.unsubscribe();
    expect(views.map(shape)).toEqual(['a', 'a,b', 'b']);
    expect(views[1]!.delta?.from).toBe(views[0]!.version);
    expect(ids(views[1]!.delta!.added)).toEqual(['b']);
    expect(views[2]!.delta?.from).toBe(views[1]!.version);
    expect(ids(views[2]!.delta!.removed)).toEqual(['a']);
    expect(input.observed).toBe(false);
  });

  it('rebuilds the view when a set arrives without a matching delta', () => {
    const s0 = setOf(a, bDown);
    const rebuiltSame = instanceSet('hello', REGISTRY, [a, cDown]); // no delta; view still {a}
    const rebuiltNew = instanceSet('hello', REGISTRY, [bUp, cDown]); // no delta; view {b}
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('a-b-c|', { a: s0, b: rebuiltSame, c: rebuiltNew });
      expectObservable(source.pipe(healthy(), map(shape))).toBe('v---w|', { v: 'a', w: 'b' });
    });
  });
});
