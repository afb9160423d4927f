import { describe, expect, it } from 'vitest';
import { FastRandom, randomSource } from '../../../../src/operators/balancers/fast-random.js';

describe('FastRandom', () => {
  it('is reproducible from a seed and differs between seeds', () => {
    const one = new FastRandom(1);
    const two = new FastRandom(1);
    const other = new FastRandom(2);
    const a = Array.from({ length: 20 }, () => one.next());
    expect(Array.from({ length: 20 }, () => two.next())).toEqual(a);
    expect(Array.from({ length: 20 }, () => other.next())).not.toEqual(a);
  });

  it('stays in [0, 1) and spreads evenly over ten buckets', () => {
    const rng = new FastRandom(12345);
    const buckets = new Array<number>(10).fill(0);
    let min = 1;
    let max = 0;
    for (let k = 0; k < 100_000; k++) {
      const x = rng.next();
      min = Math.min(min, x);
      max = Math.max(max, x);
      buckets[Math.floor(x * 10)]!++;
    }
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
    for (const n of buckets) expect(Math.abs(n - 10_000)).toBeLessThan(400);
  });

  it('wraps a given function, or makes an unseeded generator', () => {
    expect(randomSource(() => 0.25).next()).toBe(0.25);
    const a = randomSource(undefined).next();
    expect(a >= 0 && a < 1).toBe(true);
  });
});
