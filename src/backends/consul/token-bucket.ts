/**
 * A token bucket that says how long to wait before the next query: `burst`
 * queries may go at once, then one every `1000 / ratePerSecond` ms.
 * Immutable: {@link TokenBucket.take} returns the delay and the next bucket.
 *
 * @module
 */

/** The state of a bucket at a time. */
export interface TokenBucket {
  /** Tokens available at `at` (may be negative: queries already promised). */
  readonly tokens: number;
  /** Scheduler time (ms) of `tokens`. */
  readonly at: number;
  readonly burst: number;
  /** Tokens added per millisecond. */
  readonly perMs: number;
}

/** A full bucket at time `now`. */
export const tokenBucket = (burst: number, ratePerSecond: number, now: number): TokenBucket => ({
  tokens: burst,
  at: now,
  burst,
  perMs: ratePerSecond / 1000,
});

/**
 * Takes one token at `now`: the milliseconds to wait before using it (0 when
 * one is available) and the bucket afterwards.
 */
export const take = (b: TokenBucket, now: number): { delay: number; bucket: TokenBucket } => {
  const refilled = Math.min(b.burst, b.tokens + Math.max(0, now - b.at) * b.perMs);
  const left = refilled - 1;
  const delay = left >= 0 ? 0 : Math.ceil(-left / b.perMs);
  return { delay, bucket: { ...b, tokens: left, at: Math.max(now, b.at) } };
};
