/**
 * What the dispatcher may retry: which requests are idempotent, which
 * bodies can be sent again, which errors leave the request unsent.
 *
 * @module
 */
import type { Dispatcher } from 'undici';
import { isUnsuccessfulValue } from '../operators/call-error.js';

/** Errors that must not be retried: the response had started, or the caller gave up. */
export const NOT_RETRYABLE = new WeakSet<object>();

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** Connection errors where the request cannot have reached the instance. */
const NOT_SENT = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** undici's own refusals of a request: the same on every instance. */
const REFUSED = new Set([
  'UND_ERR_INVALID_ARG',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
]);

const codeOf = (e: unknown): string | undefined => {
  let x: unknown = e;
  for (let depth = 0; depth < 4 && x !== null && typeof x === 'object'; depth++) {
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    x = (x as { cause?: unknown }).cause;
  }
  return undefined;
};

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
    const code = codeOf(e) ?? '';
    if (REFUSED.has(code)) return false;
    if (NOT_SENT.has(code)) return true;
    return idempotent;
  };

/** A body that can be sent again: none, a string or bytes. Streams and iterables are one-shot. */
export const replayable = (body: unknown): boolean =>
  body === undefined || body === null || typeof body === 'string' || body instanceof Uint8Array;

/** GET, HEAD, OPTIONS, PUT, DELETE, TRACE, unless the dispatch option `idempotent` says otherwise. */
export const defaultIdempotent = (opts: Dispatcher.DispatchOptions): boolean =>
  opts.idempotent ?? IDEMPOTENT.has(opts.method.toUpperCase());
