/**
 * What every HTTP integration (kyFor, the undici dispatcher) agrees on when
 * it decides whether a failed request may go to another instance: which
 * methods are idempotent, which error codes say the request never left,
 * and how to read an error's code through its `cause` chain. No client
 * import: both integrations load it.
 *
 * @module
 */

/** Methods whose repetition has no further effect (RFC 9110 section 9.2.2). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set([
  'GET',
  'HEAD',
  'OPTIONS',
  'PUT',
  'DELETE',
  'TRACE',
]);

/** Connection error codes where the request cannot have reached the instance. */
export const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * The first string `code` of `error` or of an error in its `cause` chain
 * (fetch wraps the socket's error as a TypeError's cause), at most four deep.
 */
export const errorCode = (error: unknown): string | undefined => {
  let x: unknown = error;
  for (let depth = 0; depth < 4 && x !== null && typeof x === 'object'; depth++) {
    const code = (x as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    x = (x as { cause?: unknown }).cause;
  }
  return undefined;
};
