/**
 * Consul's HTTP answers turned into rxdisco's typed errors: a refused or
 * unknown ACL token is permanent ({@link AuthenticationError}), a request
 * Consul rejects as invalid is permanent ({@link ConfigError}), everything
 * about reaching the agent or its servers (refused connections, timeouts,
 * 5xx such as "No cluster leader", 429) is transient.
 *
 * @module
 */
import {
  AuthenticationError,
  ConfigError,
  type ErrorContext,
  isRxdiscoError,
  RegistryUnavailableError,
  type RxdiscoError,
} from '../../core/errors.js';

/** The first line of a response body, trimmed and bounded, for messages. */
export const firstLine = (text: string): string => {
  const line = text.trim().split('\n')[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
};

/**
 * The error for a non-2xx answer of Consul to `what` (a method and path,
 * never a token).
 */
export const httpError = (
  status: number,
  body: string,
  what: string,
  context: ErrorContext,
): RxdiscoError => {
  const said = firstLine(body) || `HTTP ${status}`;
  if (status === 401 || status === 403) {
    return new AuthenticationError(
      `Consul answered ${status} "${said}" to ${what} (the ACL token is missing, unknown or lacks the permission: pass ?token=... in the URL or the token option)`,
      context,
    );
  }
  if (status === 400 || status === 405 || status === 413) {
    return new ConfigError(
      'request',
      `was rejected by Consul with ${status} "${said}" (${what})`,
      'fix the option, parameter or instance field Consul names',
      context,
    );
  }
  return new RegistryUnavailableError(`Consul answered ${status} "${said}" to ${what}`, context);
};

const isAbort = (e: unknown): boolean =>
  e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError');

/** Maps anything a request threw (network error, ky timeout) to a retryable error. */
export const transportError = (e: unknown, what: string, context: ErrorContext): RxdiscoError => {
  if (isRxdiscoError(e)) return e;
  const code = (e as { code?: string }).code;
  const reason =
    e instanceof Error && e.name === 'TimeoutError'
      ? `timed out (${e.message})`
      : `${code === undefined ? '' : `${code} `}${e instanceof Error ? e.message : String(e)}`;
  return new RegistryUnavailableError(`${what} failed: ${reason}`, { ...context, cause: e });
};

/** True for the error an aborted request rejects with (an unsubscribe, not a fault). */
export const isAbortError = (e: unknown, signal: AbortSignal | undefined): boolean =>
  signal?.aborted === true && isAbort(e);

/**
 * The error of a watch without a token on an agent that enforces ACLs
 * (default policy deny) when the token Consul falls back to (the agent's
 * default token, else the anonymous token) may not read `service`: Consul
 * would not refuse the reads, it would filter them, and the watch would see
 * an empty set forever.
 */
export const missingTokenError = (
  service: string | undefined,
  context: ErrorContext,
): RxdiscoError =>
  new AuthenticationError(
    `ACLs are enforced (Consul's default policy is deny) and no token was given: the anonymous token may not read ${service === undefined ? 'the services' : `service '${service}'`}, so every answer would be ${service === undefined ? 'an empty catalog' : 'an empty set'} (pass ?token=... in the URL or the token option)`,
    context,
  );
