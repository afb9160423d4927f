import { map } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { emptySet } from '../../../src/core/instance-set.js';
import { type PanicRefusal, panicGuard } from '../../../src/operators/panic-guard.js';
import {
  inst,
  REGISTRY,
  setOf,
  shape,
  staleSince,
  testScheduler,
  unhandledDuring,
} from './fixtures.js';

const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => inst(id)) as [
  ReturnType<typeof inst>,
  ReturnType<typeof inst>,
  ReturnType<typeof inst>,
  ReturnType<typeof inst>,
];

describe('panicGuard()', () => {
  it('refuses an update that drops too many at once, keeps the set and reports why', () => {
    testScheduler().run(({ cold, expectObservable, flush }) => {
      const refusals: PanicRefusal[] = [];
      const sets = cold('x-e-y', {
        x: setOf(a, b, c, d),
        e: emptySet('hello', REGISTRY),
        y: setOf(a, b, c),
      });
      expectObservable(
        sets.pipe(
          panicGuard({ maxDropRatio: 0.5, onRefused: (r) => refusals.push(r) }),
          map(shape),
        ),
      ).toBe('x---y', { x: 'a,b,c,d', y: 'a,b,c' });
      flush();
      expect(refusals).toHaveLength(1);
      expect(refusals[0]).toMatchObject({ dropped: 4 });
      expect(refusals[0]!.reason).toMatch(/drops 4 of 4 instances/);
    });
  });

  it('accepts the drop when the source still says so after holdMs', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const sets = cold('x-y', { x: setOf(a, b, c, d), y: setOf(a) });
      expectObservable(
        sets.pipe(panicGuard({ holdMs: 10, onRefused: () => undefined }), map(shape)),
      ).toBe('x 11ms y', { x: 'a,b,c,d', y: 'a' });
    });
  });

  it('follows the staleness of a refused update, and leaves small sets alone', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const big = setOf(a, b, c, d);
      const sets = cold('x-y', { x: big, y: emptySet('hello', REGISTRY, staleSince(1)) });
      expectObservable(
        sets.pipe(panicGuard({ holdMs: Infinity, onRefused: () => undefined }), map(shape)),
      ).toBe('x-y', { x: 'a,b,c,d', y: 'a,b,c,d (stale)' });
      const small = cold('x-y', { x: setOf(a, b), y: setOf(a) });
      expectObservable(small.pipe(panicGuard({ onRefused: () => undefined }), map(shape))).toBe(
        'x-y',
        { x: 'a,b', y: 'a' },
      );
    });
    expect(() => panicGuard({ maxDropRatio: 1.5 })).toThrow(/maxDropRatio/);
  });

  it('errors the stream with what a throwing onRefused throws, never the process', () => {
    const boom = new Error('onRefused failed');
    const unhandled = unhandledDuring(() =>
      testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
        const sets = cold('x-e-y', {
          x: setOf(a, b, c, d),
          e: emptySet('hello', REGISTRY),
          y: setOf(a, b, c),
        });
        const guarded = sets.pipe(
          panicGuard({
            onRefused: () => {
              throw boom;
            },
          }),
          map(shape),
        );
        expectObservable(guarded).toBe('x-#', { x: 'a,b,c,d' }, boom);
        expectSubscriptions(sets.subscriptions).toBe('^-!');
      }),
    );
    expect(unhandled).toEqual([]);
  });

  it('validates its options with one wording', () => {
    expect(() => panicGuard({ maxDropRatio: -0.1 })).toThrow(
      'maxDropRatio must be a number from 0 to 1 (got -0.1)',
    );
    expect(() => panicGuard({ minSize: 2.5 })).toThrow('minSize must be an integer >= 0 (got 2.5)');
    expect(() => panicGuard({ holdMs: Number.NaN })).toThrow('holdMs must be a number of ms >= 0');
  });
});
