import { describe, expect, it } from 'vitest';
import { take, tokenBucket } from '../../../../src/backends/consul/token-bucket.js';

describe('token bucket', () => {
  it('lets a burst through, then paces at the rate', () => {
    let b = tokenBucket(2, 4, 0); // burst 2, one token per 250 ms
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = take(b, 0);
      delays.push(r.delay);
      b = r.bucket;
    }
    expect(delays).toEqual([0, 0, 250, 500, 750]);
  });

  it('refills over time, never above the burst', () => {
    let b = tokenBucket(2, 4, 0);
    b = take(b, 0).bucket;
    b = take(b, 0).bucket;
    expect(take(b, 250).delay).toBe(0);
    const idle = take(b, 60_000);
    expect(idle.delay).toBe(0);
    expect(idle.bucket.tokens).toBe(1); // 2 (the burst) - 1
  });
});
