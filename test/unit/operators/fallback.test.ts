import fc from 'fast-check';
import { map, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createInstance, type Instance } from '../../../src/core/instance.js';
import {
  emptySet,
  type InstanceSet,
  instanceSet,
  restale,
} from '../../../src/core/instance-set.js';
import { type FallbackSwitch, fallback } from '../../../src/operators/fallback.js';
import {
  inst,
  REGISTRY,
  setOf,
  shape,
  staleSince,
  testScheduler,
  unhandledDuring,
} from './fixtures.js';

const a = inst('a');
const b = inst('b');
const x = inst('x');
const y = inst('y');
const empty = emptySet('hello', REGISTRY);
const staleEmpty = emptySet('hello', REGISTRY, staleSince(1));

describe('fallback()', () => {
  it('uses the primary while it is fresh and non-empty, switches on stale or empty, and back', () => {
    testScheduler().run(({ hot, expectObservable }) => {
      const p0 = setOf(a, b);
      const primary = hot('p--s--e--q', {
        p: p0,
        s: restale(p0, staleSince(3)),
        e: empty,
        q: setOf(a),
      });
      const secondary = hot('x---------', { x: setOf(x, y) });
      expectObservable(fallback([primary, secondary]).pipe(map(shape))).toBe('p--x-----q', {
        p: 'a,b',
        x: 'x,y',
        q: 'a',
      });
    });
  });

  it('switches when the primary fails and fails only when every source failed', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const primary = cold('p--#', { p: setOf(a) });
      const secondary = cold('x-----#', { x: setOf(x) });
      expectObservable(fallback([primary, secondary]).pipe(map(shape))).toBe('p--x--#', {
        p: 'a',
        x: 'x',
      });
    });
  });

  it('prefers stale instances to nothing, and waits for every source before an empty set', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const primary = cold('e----', { e: staleEmpty });
      const secondary = cold('--s--', { s: restale(setOf(x), staleSince(0)) });
      expectObservable(fallback([primary, secondary]).pipe(map(shape))).toBe('--s', {
        s: 'x (stale)',
      });
    });
    testScheduler().run(({ cold, expectObservable }) => {
      const primary = cold('e---', { e: empty });
      const secondary = cold('--f', { f: empty });
      expectObservable(fallback([primary, secondary]).pipe(map(shape))).toBe('--f', { f: '' });
    });
  });

  it('completes when every source has ended', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const primary = cold('p-q|', { p: setOf(a, b), q: setOf(a) });
      const secondary = cold('x|', { x: setOf(x) });
      expectObservable(fallback([primary, secondary]).pipe(map(shape))).toBe('p-q|', {
        p: 'a,b',
        q: 'a',
      });
    });
  });

  it('reports switches', () => {
    const switches: FallbackSwitch[] = [];
    const p = new Subject<InstanceSet>();
    const s = new Subject<InstanceSet>();
    const seen: InstanceSet[] = [];
    fallback([p, s], { onSwitch: (c) => switches.push(c) }).subscribe((set) => seen.push(set));
    p.next(setOf(a));
    s.next(setOf(x));
    p.next(restale(setOf(a), staleSince(0)));
    p.next(setOf(a, b));
    expect(switches).toEqual([
      { to: 0, from: undefined, kind: 'fresh' },
      { to: 1, from: 0, kind: 'fresh' },
      { to: 0, from: 1, kind: 'fresh' },
    ]);
    expect(seen[1]!.delta).toMatchObject({ from: seen[0]!.version });
    expect(() => fallback([])).toThrow(/non-empty array of sources/);
  });

  it('errors the stream with what a throwing onSwitch throws, never the process', () => {
    const boom = new Error('onSwitch failed');
    const unhandled = unhandledDuring(() =>
      testScheduler().run(({ hot, expectObservable, expectSubscriptions }) => {
        const primary = hot('p--s', { p: setOf(a), s: restale(setOf(a), staleSince(3)) });
        const secondary = hot('x---', { x: setOf(x) });
        let calls = 0;
        const out = fallback([primary, secondary], {
          onSwitch: () => {
            if (++calls === 2) throw boom; // the switch to the secondary
          },
        });
        expectObservable(out.pipe(map(shape))).toBe('p--#', { p: 'a' }, boom);
        expectSubscriptions(primary.subscriptions).toBe('^--!');
        expectSubscriptions(secondary.subscriptions).toBe('^--!');
      }),
    );
    expect(unhandled).toEqual([]);
  });

  it('property: never emits an empty set while some source has instances', () => {
    const pool: Instance[] = Array.from({ length: 6 }, (_, k) =>
      createInstance({ id: `i${k}`, service: 'hello', host: `h${k}`, port: 80 }, REGISTRY),
    );
    const event = fc.record({
      source: fc.nat({ max: 2 }),
      kind: fc.constantFrom('set', 'set', 'set', 'error'),
      members: fc.subarray(pool),
      stale: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(event, { maxLength: 40 }), (events) => {
        const subjects = [0, 1, 2].map(() => new Subject<InstanceSet>());
        const latest: (InstanceSet | undefined)[] = [undefined, undefined, undefined];
        const failed = [false, false, false];
        let out: InstanceSet | undefined;
        let ok = true;
        fallback(subjects).subscribe({
          next: (set) => {
            out = set;
          },
          error: () => undefined,
        });
        for (const e of events) {
          if (failed[e.source]) continue;
          if (e.kind === 'error') {
            failed[e.source] = true;
            subjects[e.source]!.error(new Error('gone'));
          } else {
            const set = instanceSet(
              'hello',
              REGISTRY,
              e.members,
              e.stale ? staleSince(1) : { stale: false },
            );
            latest[e.source] = set;
            subjects[e.source]!.next(set);
          }
          const someHave = latest.some((s, k) => !failed[k] && s !== undefined && s.size > 0);
          if (someHave && out !== undefined && out.size === 0) ok = false;
          // a fresh non-empty source is always used when there is one
          const firstFresh = latest.findIndex(
            (s, k) => !failed[k] && s !== undefined && !s.stale && s.size > 0,
          );
          if (firstFresh >= 0 && (out === undefined || out.stale)) ok = false;
        }
        return ok;
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});
