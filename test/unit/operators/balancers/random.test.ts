import { describe, expect, it } from 'vitest';
import { emptySet } from '../../../../src/core/instance-set.js';
import { random } from '../../../../src/operators/balancers/random.js';
import { inst, mulberry32, REGISTRY, setOf, tally } from '../fixtures.js';
import { drive, picks } from './helpers.js';

const weighted = setOf(
  inst('a', { weight: 1 }),
  inst('b', { weight: 2 }),
  inst('c', { weight: 3 }),
  inst('z', { weight: 0 }),
);

describe('random()', () => {
  it('picks in proportion to weight, never weight 0 (seeded)', () => {
    const lb = drive(random({ random: mulberry32(42) })).push(weighted);
    expect(lb.size).toBe(3);
    const n = 60_000;
    const counts = tally(() => lb.pick(), n);
    expect(counts.z).toBeUndefined();
    expect(counts.undefined).toBeUndefined();
    expect(counts.a! / n).toBeCloseTo(1 / 6, 2);
    expect(counts.b! / n).toBeCloseTo(2 / 6, 2);
    expect(counts.c! / n).toBeCloseTo(3 / 6, 2);
  });

  it('is uniform with equal weights (seeded)', () => {
    const set = setOf(...Array.from({ length: 10 }, (_, k) => inst(`i${k}`)));
    const counts = tally(
      () =>
        drive(random({ random: mulberry32(7) }))
          .push(set)
          .pick(),
      1,
    );
    expect(Object.values(counts)).toEqual([1]);
    const lb = drive(random({ random: mulberry32(7) })).push(set);
    const many = tally(() => lb.pick(), 50_000);
    for (const k of Array.from({ length: 10 }, (_, i) => `i${i}`)) {
      expect(Math.abs(many[k]! - 5000)).toBeLessThan(300);
    }
  });

  it('maps the ends of [0, 1) to the first and last weighted instance', () => {
    const values = [0, 0.999_999_999, 1 / 6 - 1e-9, 1 / 6];
    let k = 0;
    const lb = drive(random({ random: () => values[k++]! })).push(weighted);
    expect(picks(lb, 4)).toEqual(['a', 'c', 'a', 'b']);
  });

  it('without a random option uses its own generator, weighted the same way', () => {
    const lb = drive(random()).push(weighted);
    const n = 60_000;
    const counts = tally(() => lb.pick(), n);
    expect(counts.z).toBeUndefined();
    expect(counts.c! / n).toBeCloseTo(3 / 6, 1);
    expect(counts.a! / n).toBeCloseTo(1 / 6, 1);
  });

  it('is reproducible with the same seed', () => {
    const one = drive(random({ random: mulberry32(1) })).push(weighted);
    const two = drive(random({ random: mulberry32(1) })).push(weighted);
    expect(picks(one, 50)).toEqual(picks(two, 50));
  });

  it('returns undefined when nothing has weight', () => {
    const driver = drive(random({ random: mulberry32(3) }));
    expect(driver.push(emptySet('hello', REGISTRY)).pick()).toBeUndefined();
    const zero = driver.push(setOf(inst('a', { weight: 0 })));
    expect(zero.size).toBe(0);
    expect(zero.pick()).toBeUndefined();
  });
});
