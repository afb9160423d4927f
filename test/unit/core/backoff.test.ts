import { describe, expect, it } from 'vitest';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import { ConfigError } from '../../../src/core/errors.js';

describe('exponentialBackoff', () => {
  it('without jitter doubles from initial up to max', () => {
    let b = exponentialBackoff({ initial: 100, max: 1000, jitter: 'none' });
    const delays: number[] = [];
    for (let i = 0; i < 6; i++, b = b.next()) delays.push(b.delay);
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('with full jitter stays within [0, bound] and spreads over it', () => {
    for (let attempt = 0; attempt < 8; attempt++) {
      const bound = Math.min(30_000, 100 * 2 ** attempt);
      const seen: number[] = [];
      for (let k = 0; k < 200; k++) {
        let b = exponentialBackoff();
        for (let i = 0; i < attempt; i++) b = b.next();
        seen.push(b.delay);
      }
      expect(Math.min(...seen)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...seen)).toBeLessThanOrEqual(bound);
      expect(Math.max(...seen) - Math.min(...seen)).toBeGreaterThan(bound / 2);
    }
  });

  it('is immutable: next() does not change the current value', () => {
    const b = exponentialBackoff({ jitter: 'none' });
    b.next();
    expect(b.delay).toBe(100);
  });

  it('rejects nonsense options', () => {
    expect(() => exponentialBackoff({ initial: 0 })).toThrow(ConfigError);
    expect(() => exponentialBackoff({ factor: 0.5 })).toThrow(/backoff.factor/);
  });
});
