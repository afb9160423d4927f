import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyChanges, emptySet } from '../../../../src/core/instance-set.js';
import { consistentHash, ringPoints } from '../../../../src/operators/balancers/consistent-hash.js';
import { hashString } from '../../../../src/operators/balancers/hash.js';
import { inst, mulberry32, REGISTRY, setOf, tally } from '../fixtures.js';
import { drive } from './helpers.js';

const KEYS = Array.from({ length: 20_000 }, (_, k) => `user-${k}`);

const owners = (lb: { pick(key?: string): { id: string } | undefined }): string[] =>
  KEYS.map((k) => lb.pick(k)?.id ?? '-');

const moved = (before: string[], after: string[]): number => {
  let n = 0;
  for (let k = 0; k < before.length; k++) if (before[k] !== after[k]) n++;
  return n / before.length;
};

describe('hashString()', () => {
  it('is a stable 32-bit unsigned hash that spreads similar keys', () => {
    expect(hashString('user-1')).toBe(hashString('user-1'));
    expect(hashString('user-1')).not.toBe(hashString('user-2'));
    const h = hashString('');
    expect(Number.isInteger(h) && h >= 0 && h < 2 ** 32).toBe(true);
    // buckets of the top 4 bits are roughly uniform over sequential keys
    const buckets = new Array(16).fill(0);
    for (const k of KEYS) buckets[hashString(k) >>> 28]++;
    for (const n of buckets)
      expect(Math.abs(n - KEYS.length / 16)).toBeLessThan(KEYS.length / 16 / 5);
  });
});

describe('consistentHash()', () => {
  const ten = Array.from({ length: 10 }, (_, k) => inst(`i${k}`));

  it('maps a key to the same instance every time, and spreads keys evenly', () => {
    const lb = drive(consistentHash()).push(setOf(...ten));
    expect(lb.pick('user-7')).toBe(lb.pick('user-7'));
    const counts = tally(
      (() => {
        let k = 0;
        return () => lb.pick(KEYS[k++]!);
      })(),
      KEYS.length,
    );
    for (const i of ten) expect(counts[i.id]! / KEYS.length).toBeGreaterThan(0.06);
    for (const i of ten) expect(counts[i.id]! / KEYS.length).toBeLessThan(0.14);
  });

  it('moves only the keys of an instance that leaves, and about 1/N when one joins', () => {
    const driver = drive(consistentHash());
    const s0 = setOf(...ten);
    const before = owners(driver.push(s0));
    const afterLeave = owners(driver.push(applyChanges(s0, [], ['i3'])));
    for (let k = 0; k < KEYS.length; k++) {
      if (before[k] !== 'i3') expect(afterLeave[k]).toBe(before[k]);
    }
    const s1 = applyChanges(s0, [inst('i10')], []);
    const afterJoin = owners(driver.push(s1));
    const share = moved(before, afterJoin);
    expect(share).toBeGreaterThan(0.5 / 11);
    expect(share).toBeLessThan(1.3 / 11);
    for (let k = 0; k < KEYS.length; k++) {
      if (afterJoin[k] !== before[k]) expect(afterJoin[k]).toBe('i10');
    }
  });

  it('property: one instance joining or leaving moves about 1/N of the keys, only to or from it', () => {
    const keys = KEYS.slice(0, 4000);
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z0-9]{1,12}$/), { minLength: 3, maxLength: 24 }),
        fc.nat(),
        (ids, which) => {
          const instances = ids.map((id) => inst(id));
          const full = setOf(...instances);
          const gone = instances[which % instances.length]!.id;
          const without = applyChanges(full, [], [gone]);
          const a = drive(consistentHash()).push(full);
          const b = drive(consistentHash()).push(without);
          let movedKeys = 0;
          for (const key of keys) {
            const x = a.pick(key)!.id;
            const y = b.pick(key)!.id;
            if (x !== y) {
              movedKeys++;
              if (x !== gone) return false; // only the leaver's keys move
            }
          }
          const n = ids.length;
          // 160 points per instance: the leaver's share stays within ~2.2x of 1/N
          return movedKeys / keys.length < 2.2 / n && movedKeys > 0;
        },
      ),
      { numRuns: 40, seed: 42 },
    );
  });

  it('property: pick(key) is the owner of the first ring point at or after the key’s hash, wrapping', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.stringMatching(/^[a-z0-9]{1,8}$/), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 6 }),
        fc.array(fc.nat({ max: 2 ** 32 - 1 }), { minLength: 1, maxLength: 40 }),
        (ids, virtualNodes, hashes) => {
          // The ring, the slow way: every point with its owner, sorted.
          const ring = ids
            .flatMap((id) => [...ringPoints(id, virtualNodes)].map((point) => ({ point, id })))
            .sort((x, y) => x.point - y.point || (x.id < y.id ? -1 : 1));
          // Hashes on, just before and just after ring points, and the ends.
          const probes = [0, 2 ** 32 - 1, ...hashes];
          for (const { point } of ring.slice(0, 8))
            probes.push(point, Math.max(0, point - 1), Math.min(2 ** 32 - 1, point + 1));
          let h = 0;
          const lb = drive(consistentHash({ virtualNodes, hash: () => h })).push(
            setOf(...ids.map((id) => inst(id))),
          );
          return probes.every((probe) => {
            h = probe;
            const owner = ring.find((p) => p.point >= probe) ?? ring[0]!;
            return lb.pick('any')!.id === owner.id;
          });
        },
      ),
      { numRuns: 300, seed: 7 },
    );
  });

  it('respects weights and never picks weight 0', () => {
    const lb = drive(consistentHash()).push(
      setOf(inst('a', { weight: 3 }), inst('b', { weight: 1 }), inst('z', { weight: 0 })),
    );
    expect(lb.size).toBe(2);
    const counts: Record<string, number> = {};
    for (const k of KEYS) {
      const id = lb.pick(k)!.id;
      counts[id] = (counts[id] ?? 0) + 1;
    }
    expect(counts.z).toBeUndefined();
    expect(counts.a! / KEYS.length).toBeGreaterThan(0.68);
    expect(counts.a! / KEYS.length).toBeLessThan(0.82);
  });

  it('a weight change rebuilds only that instance’s points', () => {
    const driver = drive(consistentHash());
    const s0 = setOf(...ten);
    const before = owners(driver.push(s0));
    const after = owners(driver.push(applyChanges(s0, [inst('i0', { weight: 2 })], [])));
    for (let k = 0; k < KEYS.length; k++) if (after[k] !== before[k]) expect(after[k]).toBe('i0');
    expect(moved(before, after)).toBeGreaterThan(0.04);
  });

  it('without a key picks a random point; empty sets pick undefined; bad options throw', () => {
    const lb = drive(consistentHash({ random: mulberry32(3) })).push(setOf(...ten));
    expect(Object.keys(tally(() => lb.pick(), 2000)).length).toBe(10);
    expect(drive(consistentHash()).push(emptySet('hello', REGISTRY)).pick('k')).toBeUndefined();
    expect(() => consistentHash({ virtualNodes: 0 })).toThrow(/virtualNodes/);
    const custom = drive(consistentHash({ hash: () => 0 })).push(setOf(...ten));
    expect(new Set(KEYS.slice(0, 100).map((k) => custom.pick(k)!.id)).size).toBe(1);
  });
});
