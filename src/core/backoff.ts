import { enumOption, numberOption } from './options.js';

/**
 * One running backoff: the wait before the next attempt of one use (one
 * call, one watch reconnection series), and the backoff after one more
 * failure. Immutable; its jittered delay is drawn when first read, so two
 * runs of the same policy wait different times.
 */
export interface Backoff {
  /** Milliseconds to wait before the next attempt (drawn on first read). */
  readonly delayMs: number;
  /** The backoff after one more failed attempt. */
  next(): Backoff;
}

/**
 * A backoff recipe: each {@link BackoffPolicy.start} begins a fresh
 * {@link Backoff} for one use. Share the policy, never a running backoff.
 *
 * @example
 * ```ts
 * const policy = exponentialBackoff({ initialMs: 100, maxMs: 5_000 });
 * let b = policy.start();
 * b.delayMs;     // 0..100, drawn now
 * b = b.next();  // 0..200
 * ```
 */
export interface BackoffPolicy {
  /** A fresh running backoff, at its first delay. */
  start(): Backoff;
}

/** Options of {@link exponentialBackoff}. */
export interface ExponentialBackoffOptions {
  /**
   * Upper bound of the first delay, in ms.
   * @default 100
   */
  readonly initialMs?: number;
  /**
   * Upper bound of any delay, in ms.
   * @default 30000
   */
  readonly maxMs?: number;
  /**
   * Growth of the bound per failed attempt.
   * @default 2
   */
  readonly factor?: number;
  /**
   * `full`: each delay is uniformly random in [0, bound] (no lockstep retries
   * across a fleet); `none`: exactly the bound.
   * @default 'full'
   */
  readonly jitter?: 'full' | 'none';
  /**
   * Source of randomness in [0, 1), for reproducible tests.
   * @default Math.random
   */
  readonly random?: () => number;
}

interface Resolved {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly factor: number;
  readonly jitter: 'full' | 'none';
  readonly random: () => number;
}

class ExponentialBackoff implements Backoff {
  #delayMs: number | undefined;

  constructor(
    private readonly options: Resolved,
    private readonly attempt: number,
  ) {}

  get delayMs(): number {
    if (this.#delayMs === undefined) {
      const o = this.options;
      const bound = Math.min(o.maxMs, o.initialMs * o.factor ** this.attempt);
      this.#delayMs = o.jitter === 'full' ? Math.floor(o.random() * bound) : bound;
    }
    return this.#delayMs;
  }

  next(): Backoff {
    return new ExponentialBackoff(this.options, this.attempt + 1);
  }
}

/**
 * Exponential backoff with full jitter: the n-th delay (from 0) of a run is
 * uniform in `[0, min(maxMs, initialMs * factor^n)]`, drawn per run.
 *
 * @throws {ConfigError} for a bound below 1 ms, a factor below 1 or an unknown jitter.
 * @example
 * ```ts
 * const policy = exponentialBackoff({ initialMs: 100, maxMs: 5_000 });
 * let b = policy.start();
 * b.delayMs;     // 0..100
 * b = b.next();  // 0..200
 * ```
 */
export const exponentialBackoff = (options: ExponentialBackoffOptions = {}): BackoffPolicy => {
  const resolved: Resolved = {
    initialMs: numberOption('backoff.initialMs', options.initialMs, 100, { min: 1 }),
    maxMs: numberOption('backoff.maxMs', options.maxMs, 30_000, { min: 1 }),
    factor: numberOption('backoff.factor', options.factor, 2, { min: 1 }),
    jitter: enumOption('backoff.jitter', options.jitter, 'full', ['full', 'none']),
    random: options.random ?? Math.random,
  };
  return { start: () => new ExponentialBackoff(resolved, 0) };
};
