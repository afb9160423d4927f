import { map } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { applyChanges, type InstanceSet, restale } from '../../../src/core/instance-set.js';
import { holdRemovals } from '../../../src/operators/hold-removals.js';
import { inst, setOf, shape, staleSince, testScheduler } from './fixtures.js';

const a = inst('a');
const b = inst('b');
const c = inst('c');

describe('holdRemovals()', () => {
  it('holds a removal for the probation period; a comeback within it shows nothing', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const s0 = setOf(a, b);
      const s1 = applyChanges(s0, [], ['b']);
      const s2 = applyChanges(s1, [b], []);
      const s3 = applyChanges(s2, [], ['b']);
      const sets = cold('x-y-z---w', { x: s0, y: s1, z: s2, w: s3 });
      expectObservable(sets.pipe(holdRemovals({ probationMs: 5 }), map(shape))).toBe('x 12ms r', {
        x: 'a,b',
        r: 'a',
      });
    });
  });

  it('passes additions and updates at once, and follows staleness', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const s0 = setOf(a);
      const s1 = applyChanges(s0, [c, inst('a', { status: 'DOWN' })], []);
      const s2 = restale(s1, staleSince(2));
      const sets = cold('xyz', { x: s0, y: s1, z: s2 });
      const statuses = (s: InstanceSet) => `${shape(s)} ${s.get('a')!.status}`;
      expectObservable(sets.pipe(holdRemovals({ probationMs: 5 }), map(statuses))).toBe('xyz', {
        x: 'a UP',
        y: 'a,c DOWN',
        z: 'a,c (stale) DOWN',
      });
    });
  });

  it('releases its timers on unsubscribe, and passes removals at once with probation 0', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const s0 = setOf(a, b);
      const s1 = applyChanges(s0, [], ['b']);
      const sets = cold('xy', { x: s0, y: s1 });
      expectObservable(sets.pipe(holdRemovals({ probationMs: 5 }), map(shape)), '^---!').toBe('x', {
        x: 'a,b',
      });
      expectObservable(sets.pipe(holdRemovals({ probationMs: 0 }), map(shape))).toBe('xy', {
        x: 'a,b',
        y: 'a',
      });
    });
    expect(() => holdRemovals({ probationMs: -1 })).toThrow(
      'probationMs must be a number of ms >= 0 (got -1); use e.g. 5000',
    );
    expect(() => holdRemovals({ probationMs: Infinity })).toThrow(/probationMs must be/);
  });
});
