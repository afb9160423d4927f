/**
 * The gateway's per-request timeouts, with one timer for all the requests
 * in flight instead of one each. Every request gets the same timeout, so
 * the deadlines come in the order the requests started: they are kept in a
 * doubly linked list (O(1) to add at the tail and to remove from anywhere),
 * and one timer is armed for the earliest. A request removed before its
 * deadline costs no timer at all: when the timer fires it expires the
 * requests past their deadline and is armed again for the next one.
 *
 * @module
 */
import { type Subscription, timer } from 'rxjs';

/** A request with a deadline: a node of {@link Deadlines}' list while it waits for its response. */
export abstract class Timed {
  /** Its deadline, on `performance.now()`'s clock (ms). */
  deadlineAt = 0;
  /** The node before it in the list. */
  prevTimed: Timed | undefined = undefined;
  /** The node after it in the list. */
  nextTimed: Timed | undefined = undefined;
  /** In a list now. */
  timed = false;

  /** Its deadline passed (it is out of the list already). */
  abstract expire(): void;
}

/**
 * The deadlines of the requests in flight, all `ms` after their start.
 *
 * @example
 * ```ts
 * const deadlines = new Deadlines(30_000);
 * deadlines.add(forward); // forward.expire() in 30 s unless removed before
 * deadlines.remove(forward); // its response started
 * ```
 */
export class Deadlines {
  /** The timeout of every request, ms. */
  readonly ms: number;
  #head: Timed | undefined;
  #tail: Timed | undefined;
  #timer: Subscription | undefined;
  #closed = false;

  constructor(ms: number) {
    this.ms = ms;
  }

  /** Starts `t`'s timeout now (once: a node already in the list keeps its deadline). */
  add(t: Timed): void {
    if (t.timed || this.#closed) return;
    t.timed = true;
    t.deadlineAt = performance.now() + this.ms;
    t.prevTimed = this.#tail;
    t.nextTimed = undefined;
    if (this.#tail === undefined) this.#head = t;
    else this.#tail.nextTimed = t;
    this.#tail = t;
    if (this.#timer === undefined) this.#arm(this.ms);
  }

  /** Ends `t`'s timeout (it answered, failed, or was cancelled); nothing if it has none. */
  remove(t: Timed): void {
    if (!t.timed) return;
    t.timed = false;
    const { prevTimed: prev, nextTimed: next } = t;
    if (prev === undefined) this.#head = next;
    else prev.nextTimed = next;
    if (next === undefined) this.#tail = prev;
    else next.prevTimed = prev;
    t.prevTimed = undefined;
    t.nextTimed = undefined;
  }

  /** How many requests wait for their deadline (for tests). */
  get size(): number {
    let n = 0;
    for (let t = this.#head; t !== undefined; t = t.nextTimed) n++;
    return n;
  }

  /** Stops the timer; the requests in the list never expire. */
  close(): void {
    this.#closed = true;
    this.#timer?.unsubscribe();
    this.#timer = undefined;
    while (this.#head !== undefined) this.remove(this.#head);
  }

  #arm(delayMs: number): void {
    this.#timer = timer(Math.max(1, Math.ceil(delayMs))).subscribe(this.#fire);
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    try {
      for (let head = this.#head; head !== undefined && head.deadlineAt <= now; head = this.#head) {
        this.remove(head);
        head.expire();
      }
    } finally {
      // Armed again even when an expiry threw (the error goes on to rxjs).
      const head = this.#head;
      if (head !== undefined && this.#timer === undefined && !this.#closed) {
        this.#arm(head.deadlineAt - now);
      }
    }
  };
}
