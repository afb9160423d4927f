import fc from 'fast-check';
import { map } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { isConfigError } from '../../../src/core/errors.js';
import { applyChanges, instanceSet, restale } from '../../../src/core/instance-set.js';
import { subset } from '../../../src/operators/subset.js';
import { ids, inst, REGISTRY, setOf, shape, staleSince, testScheduler } from './fixtures.js';

/** The ids of the subset `clientId` gets of the instances with `instanceIds`. */
const subsetOf = (clientId: string, size: number, instanceIds: readonly string[]): string[] => {
  let out: string[] = [];
  const set = instanceSet(
    'hello',
    REGISTRY,
    instanceIds.map((id) => inst(id)),
  );
  testScheduler().run(({ cold }) => {
    cold('a', { a: set })
      .pipe(subset({ size, clientId }))
      .subscribe((s) => {
        out = ids(s.instances);
      });
  });
  return out;
};

const fleet = (n: number): string[] => Array.from({ length: n }, (_, k) => `i-${k}`);

describe('subset()', () => {
  it('gives each client `size` instances, the same ones for the same client id', () => {
    const all = fleet(50);
    const one = subsetOf('client-1', 5, all);
    expect(one).toHaveLength(5);
    expect(subsetOf('client-1', 5, all)).toEqual(one);
    expect(subsetOf('client-2', 5, all)).not.toEqual(one);
    for (const id of one) expect(all).toContain(id);
  });

  it('passes a set of at most `size` instances whole', () => {
    expect(subsetOf('c', 5, fleet(5))).toEqual(fleet(5).sort());
    expect(subsetOf('c', 5, fleet(2))).toEqual(fleet(2).sort());
  });

  it('does not depend on the order the registry lists the instances in (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 60 }),
        fc.string({ minLength: 1 }),
        fc.integer({ min: 1, max: 20 }),
        fc.infiniteStream(fc.integer()),
        (instanceIds, client, size, noise) => {
          const shuffled = [...instanceIds]
            .map((id) => ({ id, k: noise.next().value }))
            .sort((x, y) => x.k - y.k)
            .map((x) => x.id);
          expect(subsetOf(client, size, shuffled)).toEqual(subsetOf(client, size, instanceIds));
        },
      ),
    );
  });

  it('moves only the clients that had an instance that leaves, by that one instance (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 80 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.string({ minLength: 1 }),
        (n, size, pick, client) => {
          const all = fleet(n);
          const gone = all[pick % n]!;
          const before = subsetOf(client, size, all);
          const after = subsetOf(
            client,
            size,
            all.filter((id) => id !== gone),
          );
          if (!before.includes(gone)) {
            expect(after).toEqual(before);
          } else {
            const kept = before.filter((id) => id !== gone);
            expect(after.filter((id) => kept.includes(id))).toEqual(kept);
            expect(after).toHaveLength(Math.min(size, n - 1));
          }
        },
      ),
    );
  });

  it('follows the set over time: emits when its subset changed, keeps staleness', () => {
    const s0 = setOf(...fleet(6).map((id) => inst(id)));
    const chosen = subsetOf('c', 3, fleet(6));
    const outside = fleet(6).find((id) => !chosen.includes(id))!;
    const inside = chosen[0]!;
    const s1 = applyChanges(s0, [], [outside]); // not in the subset: no emission
    const s2 = applyChanges(s1, [], [inside]); // in it: one replaced
    const s3 = restale(s2, staleSince(3));
    const replaced = subsetOf(
      'c',
      3,
      fleet(6).filter((id) => id !== outside && id !== inside),
    );
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('a-b-c-d', { a: s0, b: s1, c: s2, d: s3 });
      expectObservable(source.pipe(subset({ size: 3, clientId: 'c' }), map(shape))).toBe(
        'x---y-z',
        {
          x: chosen.join(','),
          y: replaced.join(','),
          z: `${replaced.join(',')} (stale)`,
        },
      );
    });
  });

  it('checks its options with the one wording', () => {
    expect(() => subset({ size: 0, clientId: 'c' })).toThrow(
      /size must be an integer >= 1 \(got 0\)/,
    );
    const e = (() => {
      try {
        subset({ clientId: '' });
      } catch (error) {
        return error;
      }
    })();
    expect(isConfigError(e)).toBe(true);
    expect((e as Error).message).toContain('clientId must be a non-empty string');
  });
});
