/**
 * Consul's blocking queries as one long-lived Observable, following the
 * rules of Consul's "Blocking Queries" documentation:
 *
 * - the first query of a session does not block (no `index`), so a session
 *   delivers the current content at once;
 * - then each query passes `index` = the last `X-Consul-Index` and a bounded
 *   `wait`, with an HTTP timeout above `wait + wait/16` (Consul adds up to
 *   wait/16 of jitter);
 * - an index that goes backwards (agent restarted, snapshot restored) resets
 *   the index to 0: the next query re-reads without blocking;
 * - an index of 0 or less (or none) is treated as 1, never blocking on 0
 *   (which would return at once and loop hot);
 * - queries are paced by a token bucket (burst 2 by default) and a minimum
 *   interval, so a flapping service cannot cause a hot loop;
 * - a query that returns is no proof of change: content is compared
 *   (a fingerprint) and only a different content is emitted.
 *
 * Timers use RxJS `timer`; unsubscribing aborts the request in flight.
 *
 * @module
 */
import { Observable, type SchedulerLike, type Subscription, timer } from 'rxjs';
import { isAbortError } from './errors.js';
import { take, tokenBucket } from './token-bucket.js';

/** Pacing and timeouts of blocking queries, resolved (see `ConsulOptions`). */
export interface BlockingTuning {
  /** The `wait` of each blocking query, ms. */
  readonly waitMs: number;
  /** Minimum time between the starts of two queries of one stream, ms. */
  readonly minIntervalMs: number;
  /** Queries allowed at once by the token bucket. */
  readonly burst: number;
  /** Sustained queries per second allowed by the token bucket. */
  readonly ratePerSecond: number;
  /** Timeout of a query that does not block, ms. */
  readonly requestTimeoutMs: number;
}

/** One answer of a read: the content, its fingerprint and `X-Consul-Index`. */
export interface BlockingAnswer<T> {
  readonly index: number | undefined;
  readonly value: T;
  /** Equal fingerprints mean equal content: nothing is emitted. */
  readonly fingerprint: string;
}

/** Runs one query: `index` 0 means do not block; otherwise block up to `waitMs`. */
export type BlockingRead<T> = (
  index: number,
  waitMs: number,
  signal: AbortSignal,
  timeoutMs: number,
) => Promise<BlockingAnswer<T>>;

/** What a blocking-query stream emits: new content and the index it was read at. */
export interface BlockingResult<T> {
  readonly value: T;
  readonly index: number;
}

/**
 * The index to send next, from the one sent and the one returned: 0 (do not
 * block) when the index went backwards; never less than 1 otherwise.
 */
export const nextIndex = (sent: number, returned: number | undefined): number => {
  const r = returned === undefined || returned <= 0 ? 1 : returned;
  return r < sent ? 0 : r;
};

/** The HTTP timeout for a query: above `wait + wait/16` when it blocks. */
export const queryTimeout = (index: number, tuning: BlockingTuning): number =>
  index > 0
    ? tuning.waitMs + Math.ceil(tuning.waitMs / 16) + tuning.requestTimeoutMs
    : tuning.requestTimeoutMs;

/** Formats milliseconds as a Consul duration (`"60s"`, `"1500ms"`). */
export const consulDuration = (ms: number): string =>
  ms % 1000 === 0 ? `${ms / 1000}s` : `${Math.round(ms)}ms`;

/**
 * A stream of content changes from repeated blocking `read`s. Errors with
 * the read's error (a typed RxdiscoError); never completes on its own.
 */
export const blockingQuery = <T>(
  read: BlockingRead<T>,
  tuning: BlockingTuning,
  scheduler: SchedulerLike,
): Observable<BlockingResult<T>> =>
  new Observable<BlockingResult<T>>((subscriber) => {
    let index = 0;
    let fingerprint: string | undefined;
    let bucket = tokenBucket(tuning.burst, tuning.ratePerSecond, scheduler.now());
    let lastStart = Number.NEGATIVE_INFINITY;
    let wait: Subscription | undefined;
    let controller: AbortController | undefined;
    let stopped = false;

    const query = (): void => {
      wait = undefined;
      if (stopped) return;
      lastStart = scheduler.now();
      const ctl = new AbortController();
      controller = ctl;
      const sent = index;
      read(sent, tuning.waitMs, ctl.signal, queryTimeout(sent, tuning)).then(
        (answer) => {
          if (stopped || controller !== ctl) return;
          controller = undefined;
          index = nextIndex(sent, answer.index);
          if (answer.fingerprint !== fingerprint) {
            fingerprint = answer.fingerprint;
            subscriber.next({ value: answer.value, index: Math.max(1, answer.index ?? 1) });
          }
          schedule();
        },
        (e: unknown) => {
          if (stopped || controller !== ctl || isAbortError(e, ctl.signal)) return;
          controller = undefined;
          stopped = true;
          subscriber.error(e);
        },
      );
    };

    const schedule = (): void => {
      if (stopped) return;
      const now = scheduler.now();
      const taken = take(bucket, now);
      bucket = taken.bucket;
      const delay = Math.max(taken.delay, lastStart + tuning.minIntervalMs - now, 0);
      // No timer when nothing to wait for: a timer of 0 still costs a tick
      // (about 1 ms), during which a change would wait for the query.
      if (delay <= 0) query();
      else wait = timer(delay, scheduler).subscribe(query);
    };

    schedule();
    return () => {
      stopped = true;
      wait?.unsubscribe();
      controller?.abort();
      controller = undefined;
    };
  });
