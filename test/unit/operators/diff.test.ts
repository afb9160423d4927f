import { map, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  applyChanges,
  emptySet,
  type InstanceSet,
  instanceSet,
  restale,
} from '../../../src/core/instance-set.js';
import { diff, type SetDiff } from '../../../src/operators/diff.js';
import { ids, inst, REGISTRY, setOf, staleSince, testScheduler } from './fixtures.js';

const a = inst('a');
const b = inst('b');
const c = inst('c');
const d = inst('d');

/** A compact description of a diff for marble tests. */
const summary = (x: SetDiff): string =>
  `+${ids(x.added).sort().join(',')} -${ids(x.removed).sort().join(',')} ~${x.updated
    .map((u) => u.current.id)
    .sort()
    .join(',')}`;

/**
 * The same set, but reading its instances throws: proves that a code path
 * never walks the whole set.
 */
const untouchable = (set: InstanceSet): InstanceSet =>
  new Proxy(set, {
    get(target, property, receiver) {
      if (property === 'instances' || property === 'get' || property === 'size') {
        throw new Error(`diff() read set.${String(property)}: O(set) work`);
      }
      return Reflect.get(target, property, receiver);
    },
  });

const run = (sets: readonly InstanceSet[]): SetDiff[] => {
  const out: SetDiff[] = [];
  const input = new Subject<InstanceSet>();
  const sub = input.pipe(diff()).subscribe((x) => out.push(x));
  for (const s of sets) input.next(s);
  sub.unsubscribe();
  return out;
};

describe('diff()', () => {
  it('lists everything as added first, then one event per effective change', () => {
    const s0 = setOf(a, b);
    const s1 = applyChanges(s0, [c, inst('a', { port: 9000 })], ['b']);
    const s2 = restale(s1, staleSince(3)); // staleness only: nothing
    const s3 = applyChanges(s2, [d], [], staleSince(3));
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a-b-c-d-|', { a: s0, b: s1, c: s2, d: s3 });
      expectObservable(source.pipe(diff(), map(summary))).toBe('v-w---x-|', {
        v: '+a,b - ~',
        w: '+c -b ~a',
        x: '+d - ~',
      });
      expectSubscriptions(source.subscriptions).toBe('^-------!');
    });
  });

  it('emits the first set even when it is empty, and releases its source', () => {
    testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
      const source = hot('-a-b-', { a: emptySet('hello', REGISTRY), b: setOf(a) });
      expectObservable(source.pipe(diff(), map(summary)), '^--!').toBe('-v-', { v: '+ - ~' });
      expectSubscriptions(source.subscriptions).toBe('^--!');
    });
  });

  it('uses the delta when it starts from the previous set: O(changes)', () => {
    const big = instanceSet(
      'hello',
      REGISTRY,
      Array.from({ length: 1000 }, (_, k) => inst(`i${String(k).padStart(4, '0')}`)),
    );
    const next = applyChanges(big, [inst('x1'), inst('i0005', { weight: 3 })], ['i0500']);
    const out = run([big, untouchable(next)]);
    expect(out).toHaveLength(2);
    const change = out[1]!;
    expect(change.added).toBe(next.delta!.added); // passed through, not recomputed
    expect(ids(change.added)).toEqual(['x1']);
    expect(ids(change.removed)).toEqual(['i0500']);
    expect(change.updated.map((u) => [u.previous.weight, u.current.weight])).toEqual([[1, 3]]);
    expect(change.set.version).toBe(next.version);
  });

  it('compares in full when a set arrives without a matching delta', () => {
    const s0 = setOf(a, b, c);
    const s1 = applyChanges(s0, [d], []);
    const s2 = applyChanges(s1, [inst('b', { status: 'DOWN' })], ['a']); // delta from s1, not s0
    const rebuilt = instanceSet('hello', REGISTRY, [inst('b', { status: 'DOWN' }), c]); // no delta
    const out = run([s0, s2, rebuilt, setOf(a)]);
    expect(out.map(summary)).toEqual(['+a,b,c - ~', '+d -a ~b', '+ -d ~', '+a -b,c ~']);
    expect(out[1]!.added).not.toBe(s2.delta!.added); // the skipped s1 made the delta unusable
  });

  it('emits nothing for an equal set rebuilt from scratch', () => {
    const out = run([setOf(a, b), setOf(a, b), setOf(inst('a'), inst('b'))]);
    expect(out.map(summary)).toEqual(['+a,b - ~']);
  });

  it('passes errors and completion on', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('a#', { a: setOf(a) }).pipe(diff(), map(summary))).toBe('v#', {
        v: '+a - ~',
      });
      expectObservable(cold('a|', { a: setOf(a) }).pipe(diff(), map(summary))).toBe('v|', {
        v: '+a - ~',
      });
    });
  });
});
