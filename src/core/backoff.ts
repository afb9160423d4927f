import { ConfigError } from './errors.js';

/**
 * A backoff strategy: an immutable value whose {@link Backoff.delay} is the
 * wait before the next attempt and whose {@link Backoff.next} is the
 * strategy after one more failure. Reset by starting again from the first value.
 */
export interface Backoff {
  /** Milliseconds to wait before the next attempt. */
  readonly delay: number;
  /** The backoff after one more failed attempt. */
  next(): Backoff;
}

/** Options of {@link exponentialBackoff}. */
export interface ExponentialBackoffOptions {
  /**
   * Upper bound of the first delay, in ms.
   * @default 100
   */
  readonly initial?: number;
  /**
   * Upper bound of any delay, in ms.
   * @default 30000
   */
  readonly max?: number;
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
  readonly initial: number;
  readonly max: number;
  readonly factor: number;
  readonly jitter: 'full' | 'none';
  readonly random: () => number;
}

const positive = (name: string, v: number, min: number): number => {
  if (!Number.isFinite(v) || v < min) {
    throw new ConfigError(
      `backoff.${name}`,
      `must be a finite number >= ${min} (got ${v})`,
      'fix the backoff options',
    );
  }
  return v;
};

class ExponentialBackoff implements Backoff {
  readonly delay: number;

  constructor(
    private readonly options: Resolved,
    private readonly attempt: number,
  ) {
    const bound = Math.min(options.max, options.initial * options.factor ** attempt);
    this.delay = options.jitter === 'full' ? Math.floor(options.random() * bound) : bound;
  }

  next(): Backoff {
    return new ExponentialBackoff(this.options, this.attempt + 1);
  }
}

/**
 * Exponential backoff with full jitter: the n-th delay (from 0) is uniform in
 * `[0, min(max, initial * factor^n)]`.
 *
 * @example
 * ```ts
 * let b = exponentialBackoff({ initial: 100, max: 5_000 });
 * b.delay;       // 0..100
 * b = b.next();  // 0..200
 * ```
 */
export const exponentialBackoff = (options: ExponentialBackoffOptions = {}): Backoff => {
  const resolved: Resolved = {
    initial: positive('initial', options.initial ?? 100, 1),
    max: positive('max', options.max ?? 30_000, 1),
    factor: positive('factor', options.factor ?? 2, 1),
    jitter: options.jitter ?? 'full',
    random: options.random ?? Math.random,
  };
  return new ExponentialBackoff(resolved, 0);
};
