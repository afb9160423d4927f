import { durationOption, numberOption, ratioOption } from '../core/options.js';

/**
 * A shared allowance of retries, so that retries cannot multiply the load
 * when every instance is failing. Made by {@link retryBudget}.
 *
 * @example
 * ```ts
 * const budget = retryBudget({ ratio: 0.1 });
 * budget.deposit();            // one per call
 * if (budget.withdraw()) retry();
 * ```
 */
export interface RetryBudget {
  /** Records one call (not a retry): each call earns `ratio` of a retry. */
  deposit(): void;
  /** Takes one retry from the budget; false when it is spent (do not retry). */
  withdraw(): boolean;
  /** Retries that may be taken now (may be fractional). */
  readonly balance: number;
}

/** Options of {@link retryBudget}. */
export interface RetryBudgetOptions {
  /**
   * Retries allowed per call in the window: 0.2 lets retries add at most
   * 20% to the load. Above 1 is allowed (up to 1000), for callers that
   * mean more than one retry per call.
   * @default 0.2
   */
  readonly ratio?: number;
  /**
   * Retries allowed per second whatever the call rate, so that a client that
   * makes few calls can still retry.
   * @default 10
   */
  readonly minPerSecond?: number;
  /**
   * The sliding window over which calls and retries are counted, in ms.
   * @default 10000
   */
  readonly windowMs?: number;
  /**
   * The clock, in ms.
   * @default Date.now
   */
  readonly now?: () => number;
}

const SLOTS = 10;

class WindowBudget implements RetryBudget {
  readonly #ratio: number;
  readonly #reserve: number;
  readonly #slotMs: number;
  readonly #now: () => number;
  readonly #calls = new Float64Array(SLOTS);
  readonly #retries = new Float64Array(SLOTS);
  /** The slot number (time / slotMs) that `#calls[slot % SLOTS]` counts. */
  #slot = -1;
  #callTotal = 0;
  #retryTotal = 0;

  constructor(ratio: number, minPerSecond: number, windowMs: number, now: () => number) {
    this.#ratio = ratio;
    this.#reserve = (minPerSecond * windowMs) / 1000;
    this.#slotMs = windowMs / SLOTS;
    this.#now = now;
  }

  /** Moves the window to now, forgetting the slots that fell out of it. */
  #advance(): number {
    const slot = Math.floor(this.#now() / this.#slotMs);
    if (slot !== this.#slot) {
      const gap = this.#slot < 0 ? SLOTS : Math.min(SLOTS, slot - this.#slot);
      for (let k = 1; k <= gap; k++) {
        const i = (((this.#slot + k) % SLOTS) + SLOTS) % SLOTS;
        this.#callTotal -= this.#calls[i]!;
        this.#retryTotal -= this.#retries[i]!;
        this.#calls[i] = 0;
        this.#retries[i] = 0;
      }
      if (gap === SLOTS) {
        this.#callTotal = 0;
        this.#retryTotal = 0;
      }
      this.#slot = slot;
    }
    return ((slot % SLOTS) + SLOTS) % SLOTS;
  }

  deposit(): void {
    const i = this.#advance();
    this.#calls[i]!++;
    this.#callTotal++;
  }

  get balance(): number {
    this.#advance();
    return Math.max(0, this.#reserve + this.#ratio * this.#callTotal - this.#retryTotal);
  }

  withdraw(): boolean {
    const i = this.#advance();
    if (this.#reserve + this.#ratio * this.#callTotal - this.#retryTotal < 1) return false;
    this.#retries[i]!++;
    this.#retryTotal++;
    return true;
  }
}

/**
 * A retry budget over a sliding window (in the manner of Finagle's
 * `RetryBudget`): within the last `windowMs`, retries may number at most
 * `ratio` × calls + `minPerSecond` × window seconds. When every instance
 * fails, retries stop growing the load beyond that share instead of
 * multiplying it by the attempt limit. Deposits and withdrawals are O(1)
 * and allocation-free.
 *
 * @example
 * ```ts
 * const budget = retryBudget({ ratio: 0.2, minPerSecond: 10 });
 * await call(hello, fetchUser, { retry: { budget } });
 * ```
 */
export const retryBudget = (options: RetryBudgetOptions = {}): RetryBudget =>
  new WindowBudget(
    ratioOption('retryBudget.ratio', options.ratio, 0.2, { max: 1000 }),
    numberOption('retryBudget.minPerSecond', options.minPerSecond, 10, { min: 0, max: 1e9 }),
    durationOption('retryBudget.windowMs', options.windowMs, 10_000, { min: 10, max: 3_600_000 }),
    options.now ?? Date.now,
  );

let shared: RetryBudget | undefined;

/**
 * The process-wide budget that calls use when they are given none:
 * `retryBudget()` with its defaults (20% of calls + 10 per second).
 *
 * @example
 * ```ts
 * defaultRetryBudget().balance; // retries available now
 * ```
 */
export const defaultRetryBudget = (): RetryBudget => {
  shared ??= retryBudget();
  return shared;
};
