/**
 * What hedged calls keep per call target (Finagle's backup requests): the
 * recent latencies of its attempts, for a delay set as a quantile, and the
 * extra-load allowance that keeps hedges under `maxExtraLoadRatio` of the calls.
 *
 * @module
 */
import type { CallTarget } from './call-options.js';
import { type RetryBudget, retryBudget } from './retry-budget.js';

/** A call's hedge options, checked and resolved (internal). */
export interface HedgePlan {
  /** A fixed delay; `undefined` when the delay is a quantile. */
  readonly afterMs: number | undefined;
  /** The quantile of recent attempt latencies used as the delay; `undefined` with `afterMs`. */
  readonly quantile: number | undefined;
  readonly max: number;
  readonly maxExtraLoadRatio: number;
}

/** Buckets 5 % wide from 0.01 ms: 400 of them reach 48 minutes. */
const BUCKETS = 400;
const FLOOR_MS = 0.01;
const LOG_STEP = Math.log(1.05);
/** Latencies are counted over the current and the previous window. */
const WINDOW_MS = 10_000;

const bucketOf = (latencyMs: number): number =>
  latencyMs <= FLOOR_MS
    ? 0
    : Math.min(BUCKETS - 1, Math.ceil(Math.log(latencyMs / FLOOR_MS) / LOG_STEP));

/** The upper bound of bucket `b`, in ms (a quantile is never under-estimated). */
const upperOf = (b: number): number => FLOOR_MS * Math.exp(b * LOG_STEP);

/**
 * Attempt latencies of the last 10 to 20 seconds in log buckets (5 %
 * precision): recording is O(1) without allocation; a quantile is read in
 * O(buckets) and cached until enough new latencies came in.
 */
export class LatencyWindow {
  #current = new Uint32Array(BUCKETS);
  #previous = new Uint32Array(BUCKETS);
  #currentTotal = 0;
  #previousTotal = 0;
  #start: number;
  /** Latencies recorded since `#cached` was computed. */
  #fresh = 0;
  #cachedQuantile = Number.NaN;
  #cached: number | undefined;

  constructor(now: number) {
    this.#start = now;
  }

  /** How many latencies the window holds. */
  get count(): number {
    return this.#currentTotal + this.#previousTotal;
  }

  #rotate(now: number): void {
    const elapsed = now - this.#start;
    if (elapsed < WINDOW_MS) return;
    const swap = this.#previous;
    this.#previous = this.#current;
    this.#previousTotal = this.#currentTotal;
    this.#current = swap;
    this.#current.fill(0);
    this.#currentTotal = 0;
    if (elapsed >= 2 * WINDOW_MS) {
      this.#previous.fill(0);
      this.#previousTotal = 0;
    }
    this.#start = now;
    this.#cached = undefined;
  }

  /** Counts one attempt's latency. */
  record(latencyMs: number, now: number): void {
    if (!(latencyMs >= 0)) return;
    this.#rotate(now);
    this.#current[bucketOf(latencyMs)]!++;
    this.#currentTotal++;
    this.#fresh++;
  }

  /**
   * The `q` quantile of the window, in ms; `undefined` while the window
   * holds fewer than `max(20, 2 / (1 - q))` latencies (too few to tell).
   */
  quantile(q: number, now: number): number | undefined {
    this.#rotate(now);
    const total = this.count;
    if (total < Math.max(20, Math.ceil(2 / (1 - q) - 1e-9))) return undefined;
    if (this.#cached !== undefined && q === this.#cachedQuantile && this.#fresh * 32 < total) {
      return this.#cached;
    }
    const rank = Math.ceil(q * total);
    let seen = 0;
    let b = 0;
    for (; b < BUCKETS - 1; b++) {
      seen += this.#current[b]! + this.#previous[b]!;
      if (seen >= rank) break;
    }
    this.#cached = upperOf(b);
    this.#cachedQuantile = q;
    this.#fresh = 0;
    return this.#cached;
  }
}

/** The hedging state of one call target. */
export class HedgeState {
  readonly latencies: LatencyWindow;
  readonly #now: () => number;
  /** One allowance per `maxExtraLoadRatio` used with this target (usually one). */
  readonly #loads = new Map<number, RetryBudget>();

  constructor(now: () => number) {
    this.#now = now;
    this.latencies = new LatencyWindow(now());
  }

  /**
   * The allowance of hedges: at most `maxExtraLoadRatio` × the calls of the last
   * 10 s (a {@link retryBudget} with no per-second reserve).
   */
  load(maxExtraLoadRatio: number): RetryBudget {
    let b = this.#loads.get(maxExtraLoadRatio);
    if (b === undefined) {
      b = retryBudget({
        ratio: maxExtraLoadRatio,
        minPerSecond: 0,
        windowMs: WINDOW_MS,
        now: this.#now,
      });
      this.#loads.set(maxExtraLoadRatio, b);
    }
    return b;
  }

  /** The delay before a hedge, in ms; `undefined`: do not hedge (a quantile not known yet). */
  delayMs(plan: HedgePlan): number | undefined {
    return plan.afterMs ?? this.latencies.quantile(plan.quantile ?? 0.95, this.#now());
  }

  /** Counts the latency of an attempt that ended (or a lower bound of it). */
  record(latencyMs: number): void {
    this.latencies.record(latencyMs, this.#now());
  }
}

const states = new WeakMap<CallTarget, HedgeState>();

/** The hedging state of `target`, made on its first hedged call (with that call's clock). */
export const hedgeStateOf = (target: CallTarget, now: () => number): HedgeState => {
  let s = states.get(target);
  if (s === undefined) {
    s = new HedgeState(now);
    states.set(target, s);
  }
  return s;
};
