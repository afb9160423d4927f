/**
 * The demo client's call: `call()` runs GET / on a picked instance and, when
 * the attempt fails, retries it once on another instance (the balancer is
 * told of every attempt by `call()` itself).
 *
 * @module
 */
import { baseUrl, type Instance } from '../core/instance.js';
import { call } from '../operators/call.js';
import { isAttemptTimeoutError } from '../operators/call-error.js';
import type { CallTarget } from '../operators/call-options.js';
import type { DemoStats } from './demo-stats.js';

/** Why an attempt failed, in a word or two: `ECONNREFUSED`, `timeout`. */
const why = (e: unknown): string => {
  if (isAttemptTimeoutError(e)) return 'timeout';
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e));
};

/** One attempt: where it ran, and why it failed (`undefined` while it did not). */
interface Tried {
  readonly instance: Instance;
  why: string | undefined;
}

/**
 * Makes one call through `call()`: GET / on a picked instance, and on
 * failure one more attempt on another instance. Records every attempt and
 * the call in `stats` and reports a retry through `onRetry` (`next` is
 * undefined when there was no other instance to try). Never rejects.
 */
export const callOnce = async (
  target: CallTarget,
  stats: DemoStats,
  onRetry: (failed: Instance, why: string, next: Instance | undefined, ok: boolean) => void,
  timeoutMs = 2000,
): Promise<void> => {
  const tried: Tried[] = [];
  const ok = await call(
    target,
    async (instance, { signal }) => {
      const attempt: Tried = { instance, why: undefined };
      tried.push(attempt);
      try {
        const response = await fetch(`${baseUrl(instance)}/`, { signal });
        await response.text();
        if (!response.ok) attempt.why = `HTTP ${response.status}`;
        return response;
      } catch (e) {
        attempt.why = why(signal.aborted ? signal.reason : e);
        throw e;
      }
    },
    { retry: 2, attemptTimeoutMs: timeoutMs, isSuccess: (r) => (r as Response).ok },
  ).then(
    () => true,
    () => false,
  );
  for (const t of tried) stats.attempt(t.instance.id, t.why === undefined);
  const [first, second] = tried;
  if (first?.why !== undefined) onRetry(first.instance, first.why, second?.instance, ok);
  stats.call(ok, second !== undefined);
};
