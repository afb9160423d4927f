/**
 * Long decodes cut into slices that yield to the event loop: a registry
 * answer of 100,000 instances decoded in one go blocks every timer and
 * socket of the process for most of a second.
 *
 * @module
 */
import { type SchedulerLike, type Subscription, timer } from 'rxjs';

/** How much one slice of a decode may do before it yields (whichever comes first). */
export interface SliceBudget {
  /** Entries (instances) decoded. */
  readonly entries: number;
  /** Characters of their JSON text. */
  readonly chars: number;
}

/** The budget of one slice: about 5-10 ms of work on a server core. */
export const SLICE: SliceBudget = Object.freeze({ entries: 1000, chars: 1_000_000 });

const abortError = (signal: AbortSignal): Error =>
  signal.reason instanceof Error
    ? signal.reason
    : new DOMException('The operation was aborted.', 'AbortError');

/**
 * Calls `step` until it returns true (done): the first call at once (or,
 * with `yieldFirst`, in a macrotask: after a long parse of the same
 * answer), each next one in a macrotask of its own (`timer(0, scheduler)`),
 * so the event loop runs between two slices. Work that fits in one slice
 * never waits. Rejects with what `step` throws, or when `signal` aborts (no
 * further call is made).
 */
export const runInSlices = (
  step: () => boolean,
  scheduler: SchedulerLike,
  signal?: AbortSignal,
  yieldFirst = false,
): Promise<void> =>
  new Promise<void>((resolve, reject) => {
    let wait: Subscription | undefined;
    const onAbort = (): void => {
      wait?.unsubscribe();
      reject(abortError(signal!));
    };
    const run = (): void => {
      let done: boolean;
      try {
        done = step();
      } catch (e) {
        signal?.removeEventListener('abort', onAbort);
        reject(e);
        return;
      }
      if (done) {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      } else wait = timer(0, scheduler).subscribe(run);
    };
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    if (yieldFirst) wait = timer(0, scheduler).subscribe(run);
    else run();
    // Only a decode that yields listens: one that fit in a slice is done already.
    if (wait !== undefined) signal?.addEventListener('abort', onAbort, { once: true });
  });
