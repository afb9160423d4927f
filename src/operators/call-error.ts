import { brandError, type ErrorContext, errorGuard, RxdiscoError } from '../core/errors.js';
import type { Instance } from '../core/instance.js';

/**
 * One failed attempt of a call: where it ran and how it failed.
 *
 * @example
 * ```ts
 * for (const { instance, error } of callError.attempts) log(instance.id, error);
 * ```
 */
export interface FailedAttempt {
  /** The instance the attempt ran on. */
  readonly instance: Instance;
  /** What the attempt threw (or an {@link AttemptTimeoutError}). */
  readonly error: unknown;
  /** How long the attempt took, in ms. */
  readonly latencyMs: number;
}

/**
 * Why a call gave up: `attempts` (the attempt limit was reached),
 * `budget` (the retry budget was spent), `not-retryable` (the last error
 * was not worth retrying), `no-instance` (no other instance to try).
 *
 * @example
 * ```ts
 * if (isCallError(e) && e.reason === 'budget') metrics.increment('retry_budget_spent');
 * ```
 */
export type CallGiveUp = 'attempts' | 'budget' | 'not-retryable' | 'no-instance';

const describe = (e: unknown): string => {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    const cause = (e as { cause?: { code?: unknown } }).cause?.code;
    const extra = typeof code === 'string' ? code : typeof cause === 'string' ? cause : undefined;
    return `${e.name}: ${e.message}${extra !== undefined && !e.message.includes(extra) ? ` (${extra})` : ''}`;
  }
  return String(e);
};

const REASONS: Record<CallGiveUp, string> = {
  attempts: 'attempt limit reached',
  budget: 'retry budget spent (too many retries across the process)',
  'not-retryable': 'the last error is not retryable',
  'no-instance': 'no other instance to try',
};

/**
 * A call failed on every attempt it was allowed. Names the service and each
 * attempt (instance and error); `cause` is the last attempt's error.
 * `retryable` is true when the last error was and the call stopped for
 * lack of attempts, budget or instances (trying later may succeed).
 *
 * @example
 * ```ts
 * try {
 *   await call(hello, (i, { signal }) => fetch(`${baseUrl(i)}/x`, { signal }));
 * } catch (e) {
 *   if (isCallError(e)) for (const a of e.attempts) console.log(a.instance.id, a.error);
 * }
 * ```
 */
export class CallError extends RxdiscoError {
  static {
    brandError(CallError, 'CallError');
  }
  override readonly name: string = 'CallError';
  /** Every failed attempt, in order. */
  readonly attempts: readonly FailedAttempt[];
  /** Why no further attempt was made. */
  readonly reason: CallGiveUp;

  constructor(
    service: string | undefined,
    attempts: readonly FailedAttempt[],
    reason: CallGiveUp,
    retryable: boolean,
    context: ErrorContext = {},
  ) {
    const list = attempts
      .map(
        (a, k) =>
          `#${k + 1} ${a.instance.id} (${a.instance.host}:${a.instance.port}): ${describe(a.error)}`,
      )
      .join('; ');
    super(
      `${service === undefined ? '' : `service '${service}': `}call failed after ${attempts.length} attempt${attempts.length === 1 ? '' : 's'} (${REASONS[reason]}): ${list}`,
      retryable,
      { ...context, ...(service === undefined ? {} : { service }), cause: attempts.at(-1)?.error },
    );
    this.attempts = Object.freeze([...attempts]);
    this.reason = reason;
  }
}

/**
 * One attempt took longer than its `attemptTimeoutMs`; the attempt was aborted
 * and, if allowed, retried on another instance. Retryable.
 *
 * @example
 * ```ts
 * e.attempts.some((a) => isAttemptTimeoutError(a.error));
 * ```
 */
export class AttemptTimeoutError extends RxdiscoError {
  static {
    brandError(AttemptTimeoutError, 'AttemptTimeoutError');
  }
  override readonly name: string = 'AttemptTimeoutError';
  /** The timeout that expired, in ms. */
  readonly timeoutMs: number;

  constructor(instance: Instance, timeoutMs: number) {
    super(
      `service '${instance.service}': attempt on ${instance.id} (${instance.host}:${instance.port}) timed out after ${timeoutMs} ms; raise attemptTimeoutMs if the service is this slow`,
      true,
      { service: instance.service, registry: instance.registry },
    );
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A value that `isSuccess` refused: the attempt counts as failed (for the
 * balancer and the detector) and, being retryable, is tried on another
 * instance when allowed. The value (an HTTP response, say) is in `value`.
 *
 * @example
 * ```ts
 * const last = e.attempts.at(-1)?.error;
 * if (isUnsuccessfulValue(last)) console.log(last.value);
 * ```
 */
export class UnsuccessfulValue extends RxdiscoError {
  static {
    brandError(UnsuccessfulValue, 'UnsuccessfulValue');
  }
  override readonly name: string = 'UnsuccessfulValue';
  /** What the attempt returned. */
  readonly value: unknown;

  /** @param instance - the instance that returned it, when known (names the service). */
  constructor(value: unknown, instance?: Instance) {
    super(
      `${instance === undefined ? '' : `service '${instance.service}': `}unsuccessful result ${describeValue(value)}${instance === undefined ? '' : ` from ${instance.id}`} (refused by isSuccess); retried on another instance when allowed`,
      true,
      instance === undefined ? {} : { service: instance.service, registry: instance.registry },
    );
    this.value = value;
  }
}

const describeValue = (v: unknown): string => {
  if (typeof Response !== 'undefined' && v instanceof Response) return `HTTP ${v.status}`;
  try {
    return JSON.stringify(v)?.slice(0, 60) ?? String(v);
  } catch {
    return String(v);
  }
};

/**
 * True when `e` is a {@link CallError} (of any copy of rxdisco: checks a brand, not `instanceof`).
 *
 * @example
 * ```ts
 * if (isCallError(e)) console.error(e.attempts.length, 'attempts failed');
 * ```
 */
export const isCallError = errorGuard<CallError>('CallError');

/**
 * True when `e` is an {@link AttemptTimeoutError} (of any copy of rxdisco).
 *
 * @example
 * ```ts
 * if (isAttemptTimeoutError(e)) console.error('too slow:', e.timeoutMs);
 * ```
 */
export const isAttemptTimeoutError = errorGuard<AttemptTimeoutError>('AttemptTimeoutError');

/**
 * True when `e` is an {@link UnsuccessfulValue} (of any copy of rxdisco).
 *
 * @example
 * ```ts
 * if (isUnsuccessfulValue(e)) console.error('refused:', e.value);
 * ```
 */
export const isUnsuccessfulValue = errorGuard<UnsuccessfulValue>('UnsuccessfulValue');
