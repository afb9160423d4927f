/**
 * What the dispatcher may retry: which requests are idempotent, which
 * bodies can be sent again, which errors leave the request unsent.
 *
 * @module
 */
import type { Dispatcher } from 'undici';
import { errorCode, IDEMPOTENT_METHODS, NOT_SENT_CODES } from '../http/request-errors.js';
import { isUnsuccessfulValue } from '../operators/call-error.js';

/** Errors that must not be retried: the response had started, or the caller gave up. */
export const NOT_RETRYABLE = new WeakSet<object>();

/** undici's own refusals of a request: the same on every instance. */
const REFUSED = new Set([
  'UND_ERR_INVALID_ARG',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
]);

/**
 * Whether a failed attempt may be tried on another instance: never a 5xx
 * response (the caller has it), an error after the response started or a
 * cancel, nor undici's own refusals of the request; always when the
 * connection failed before the request was sent; otherwise when the request
 * is idempotent.
 */
export const retryableFor =
  (idempotent: boolean) =>
  (e: unknown): boolean => {
    if (isUnsuccessfulValue(e)) return false; // a 5xx response: the caller has it
    if (typeof e === 'object' && e !== null && NOT_RETRYABLE.has(e)) return false;
    const code = errorCode(e) ?? '';
    if (REFUSED.has(code)) return false;
    if (NOT_SENT_CODES.has(code)) return true;
    return idempotent;
  };

/** A body that can be sent again: none, a string or bytes. Streams and iterables are one-shot. */
export const replayable = (body: unknown): boolean =>
  body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;

/** GET, HEAD, OPTIONS, PUT, DELETE, TRACE, unless the dispatch option `idempotent` says otherwise. */
export const defaultIdempotent = (opts: Dispatcher.DispatchOptions): boolean =>
  opts.idempotent ?? IDEMPOTENT_METHODS.has(opts.method.toUpperCase());
