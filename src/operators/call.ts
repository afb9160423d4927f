/**
 * `call()` and `call$()`: run a function on a picked instance and retry it
 * on other instances. The options are in `call-options.ts`, their checks
 * and defaults in `call-plan.ts`, one attempt in `call-attempt.ts`, the
 * retry loop in `call-run.ts`.
 *
 * @module
 */
import { Observable } from 'rxjs';
import type { AttemptFn, CallOptions, CallTarget, HedgeOptions } from './call-options.js';
import { plan } from './call-plan.js';
import { CallRun } from './call-run.js';

export type {
  AttemptContext,
  AttemptFn,
  AttemptKind,
  CallOptions,
  CallTarget,
  HedgeOptions,
  RetryOptions,
} from './call-options.js';

/**
 * Runs `fn` on an instance picked from `target` and, on a retryable failure,
 * backs off and runs it again on a *different* instance, within
 * `retry.attempts` and the retry budget. Emits the first successful value,
 * then completes. Each attempt gets an `AbortSignal` that fires on its
 * timeout or when the subscriber unsubscribes. Every attempt is reported to
 * the balancer (`started`/`finished`, which feeds `ewma()` and
 * `leastRequest()`; a cancelled attempt as `{ cancelled: true }`) and every
 * completed one to `detector`. Fails with a {@link CallError} naming the
 * service and every attempt, a `NoInstanceError` when nothing could be
 * picked at all, or the error a user callback (`isSuccess`, `retryable`...)
 * threw. Options are checked at the call (a `ConfigError` is thrown).
 * With `hedge`, an attempt still running after a delay gets a second one on
 * another instance; the first success wins and the others are cancelled
 * (see {@link HedgeOptions}).
 *
 * @example
 * ```ts
 * const hello = live(registry.instances$('hello').pipe(healthy(), ewma()));
 * call$(hello, (i, { signal }) => fetch(`${baseUrl(i)}/hello`, { signal }).then((r) => r.text()))
 *   .subscribe((text) => console.log(text));
 * ```
 */
export const call$ = <T>(
  target: CallTarget,
  fn: AttemptFn<T>,
  options: CallOptions = {},
): Observable<T> => {
  const p = plan(target, fn, options);
  return new Observable<T>((subscriber) => {
    const run = new CallRun(p, {
      value: (v) => {
        subscriber.next(v);
        subscriber.complete();
      },
      error: (e) => subscriber.error(e),
    });
    run.start();
    return () => run.cancel();
  });
};

/**
 * The Promise form of {@link call$}: resolves with the first successful
 * value; rejects with a {@link CallError}, a `NoInstanceError`, the error a
 * user callback threw, or `options.signal.reason` when the signal aborts
 * (the attempt in flight is aborted too).
 *
 * @example
 * ```ts
 * const hello = live(registry.instances$('hello').pipe(healthy(), leastRequest()));
 * const text = await call(
 *   hello,
 *   (i, { signal }) => fetch(`${baseUrl(i)}/hello`, { signal }).then((r) => r.text()),
 *   { retry: 3, signal: AbortSignal.timeout(5000) },
 * );
 * ```
 */
export const call = <T>(
  target: CallTarget,
  fn: AttemptFn<T>,
  options: CallOptions = {},
): Promise<T> => {
  const p = plan(target, fn, options);
  const signal = options.signal;
  return new Promise<T>((resolve, reject) => {
    if (signal === undefined) {
      new CallRun(p, { value: resolve, error: reject }).start();
      return;
    }
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      try {
        run.cancel();
        reject(signal.reason);
      } catch (e) {
        reject(e); // the balancer threw while counting the attempt down
      }
    };
    const run = new CallRun(p, {
      value: (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      error: (e) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    });
    signal.addEventListener('abort', onAbort, { once: true });
    run.start();
  });
};
