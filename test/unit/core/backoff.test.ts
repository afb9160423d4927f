import { describe, expect, it } from 'vitest';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import { ConfigError } from '../../../src/core/errors.js';

describe('exponentialBackoff', () => {
  it('without jitter doubles from initialMs up to maxMs', () => {
    let b = exponentialBackoff({ initialMs: 100, maxMs: 1000, jitter: 'none' }).start();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++, b = b.next()) delays.push(b.delayMs);
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('with full jitter stays within [0, bound] and spreads over it', () => {
    const policy = exponentialBackoff();
    for (let attempt = 0; attempt < 8; attempt++) {
      const bound = Math.min(30_000, 100 * 2 ** attempt);
      const seen: number[] = [];
      for (let k = 0; k < 200; k++) {
        let b = policy.start();
        for (let i = 0; i < attempt; i++) b = b.next();
        seen.push(b.delayMs);
      }
      expect(Math.min(...seen)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...seen)).toBeLessThanOrEqual(bound);
      expect(Math.max(...seen) - Math.min(...seen)).toBeGreaterThan(bound / 2);
    }
  });

  it('draws a new delay for every run of one policy: no lockstep between uses', () => {
    // One shared policy (as DEFAULT_BACKOFF in call() and the watch default
    // are): 200 uses must not all wait the same first delay.
    const policy = exponentialBackoff({ initialMs: 1000 });
    const first = new Set<number>();
    for (let k = 0; k < 200; k++) first.add(policy.start().delayMs);
    expect(first.size).toBeGreaterThan(100);
  });

  it('draws the delay when read, from the random source of the policy', () => {
    let calls = 0;
    const random = (): number => {
      calls++;
      return 0.5;
    };
    const policy = exponentialBackoff({ initialMs: 100, random });
    const b = policy.start();
    expect(calls).toBe(0);
    expect(b.delayMs).toBe(50);
    expect(b.delayMs).toBe(50);
    expect(calls).toBe(1);
  });

  it('is immutable: next() does not change the current value', () => {
    const b = exponentialBackoff({ jitter: 'none' }).start();
    b.next();
    expect(b.delayMs).toBe(100);
  });

  it('rejects nonsense options with the shared wording', () => {
    expect(() => exponentialBackoff({ initialMs: 0 })).toThrow(ConfigError);
    expect(() => exponentialBackoff({ initialMs: Number.NaN })).toThrow(
      /backoff.initialMs must be/,
    );
    expect(() => exponentialBackoff({ factor: 0.5 })).toThrow(
      /backoff.factor must be a number >= 1 \(got 0.5\)/,
    );
    expect(() => exponentialBackoff({ jitter: 'half' as 'full' })).toThrow(
      /backoff.jitter must be one of 'full', 'none' \(got 'half'\)/,
    );
  });
});
