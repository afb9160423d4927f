/**
 * The shared machinery of the set operators (internal, not exported from
 * 'rxdisco'): forwarding of error and complete, emission de-duplicated by
 * identity, and user callbacks guarded so that one that throws errors its
 * stream with the thrown error instead of reaching the process as an
 * uncaught exception (the roles of rxjs's `OperatorSubscriber` and of
 * cockatiel's `Executor`, written with public RxJS APIs only).
 *
 * @module
 */
import { Observable, type OperatorFunction, type Subscriber } from 'rxjs';
import { carryNotes } from './explain.js';

/** The output side of an operator body, for one subscription. */
export interface Output<R> {
  /** The value emitted last; `undefined` before the first emission. */
  readonly last: R | undefined;
  /** True once the output has errored, completed or been unsubscribed. */
  readonly closed: boolean;
  /** Emits `value`, unless it is (by identity) the value emitted last. */
  emit(value: R): void;
  /** Errors the output. */
  error(e: unknown): void;
  /** Completes the output. */
  complete(): void;
  /**
   * `fn`, guarded: a throw errors the output with the thrown error (and the
   * guarded function returns `undefined`); once the output is closed `fn`
   * is no longer called. Wrap every entry point that runs user code (a
   * source's `next`, a timer, a promise callback) in it.
   */
  guard<A extends unknown[], V>(fn: (...args: A) => V): (...args: A) => V | undefined;
}

/** `input`: the operator's latest input, whose explain() notes each emission carries on. */
const outputOf = <R>(subscriber: Subscriber<R>, input?: { value: unknown }): Output<R> => {
  let last: R | undefined;
  const out: Output<R> = {
    get last() {
      return last;
    },
    get closed() {
      return subscriber.closed;
    },
    emit: (value) => {
      if (subscriber.closed || value === last) return;
      last = value;
      if (input !== undefined) carryNotes(input.value, value);
      subscriber.next(value);
    },
    error: (e) => subscriber.error(e),
    complete: () => subscriber.complete(),
    guard:
      (fn) =>
      (...args) => {
        if (subscriber.closed) return undefined;
        try {
          return fn(...args);
        } catch (e) {
          subscriber.error(e);
          return undefined;
        }
      },
  };
  return out;
};

/** What {@link operate} runs for one subscription. */
export interface Body<T> {
  /** Handles a value of the source (guarded). */
  next(value: T): void;
  /** Releases what the body started (timers...); called at teardown. */
  teardown?(): void;
}

/**
 * A one-source operator: `setup` runs at each subscribe and returns the
 * body of that subscription. The source's error and complete are forwarded;
 * `body.next` is guarded (a throw errors the output); teardown unsubscribes
 * the source, then calls `body.teardown`.
 *
 * @example
 * ```ts
 * const sizes = (): OperatorFunction<InstanceSet, number> =>
 *   operate((out) => ({ next: (set) => out.emit(set.size) }));
 * ```
 */
export const operate =
  <T, R>(setup: (out: Output<R>) => Body<T>): OperatorFunction<T, R> =>
  (source) =>
    new Observable<R>((subscriber) => {
      const input: { value: unknown } = { value: undefined };
      const out = outputOf(subscriber, input);
      const body = setup(out);
      const upstream = source.subscribe({
        next: out.guard((value: T) => {
          input.value = value;
          body.next(value);
        }),
        error: out.error,
        complete: out.complete,
      });
      return () => {
        upstream.unsubscribe();
        body.teardown?.();
      };
    });

/** What {@link combine} runs for one subscription. */
export interface CombineBody<T> {
  /** Handles a value of source `k` (guarded). */
  next(k: number, value: T): void;
  /**
   * Handles the error of source `k` (guarded).
   * @default errors the output
   */
  error?(k: number, e: unknown): void;
  /** Releases what the body started; called at teardown. */
  teardown?(): void;
}

/**
 * A several-source operator: `setup` runs at each subscribe; every source
 * is subscribed in order; `body.next` and `body.error` are guarded; the
 * output completes once every source has ended (completed or failed); an
 * error errors the output unless `body.error` handles it.
 *
 * @example
 * ```ts
 * const firstOfAll = (sources: Observable<number>[]) =>
 *   combine(sources, (out) => ({ next: (_k, v) => out.emit(v) }));
 * ```
 */
export const combine = <T, R>(
  sources: readonly Observable<T>[],
  setup: (out: Output<R>) => CombineBody<T>,
): Observable<R> =>
  new Observable<R>((subscriber) => {
    const out = outputOf(subscriber);
    const body = setup(out);
    let ended = 0;
    const end = (): void => {
      if (++ended === sources.length) out.complete();
    };
    const subscriptions = sources.map((source, k) =>
      source.subscribe({
        next: out.guard((value: T) => body.next(k, value)),
        error: out.guard((e: unknown) => {
          if (body.error === undefined) out.error(e);
          else {
            body.error(k, e);
            end();
          }
        }),
        complete: end,
      }),
    );
    return () => {
      for (const s of subscriptions) s.unsubscribe();
      body.teardown?.();
    };
  });
