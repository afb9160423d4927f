/**
 * Typed errors of rxdisco. Every error is an {@link RxdiscoError}; each kind
 * has its own subclass and type guard. Whether a fault is worth retrying is
 * data on the error ({@link RxdiscoError.retryable}), never words in the message.
 *
 * @module
 */

/** Where an error happened: which registry and, when known, which service. */
export interface ErrorContext {
  /** The registry, as a redacted URL (`etcd://127.0.0.1:2379/services/`). */
  readonly registry?: string;
  /** The service the operation was about. */
  readonly service?: string;
  /** The underlying error. */
  readonly cause?: unknown;
}

/** The brand of an error kind: a global symbol, the same in every copy of rxdisco. */
const brandOf = (kind: string): symbol => Symbol.for(`rxdisco.error.${kind}`);

/**
 * Brands the instances of an error class as errors of `kind` (on its
 * prototype, so instances carry no extra own property). The guards check the
 * brand, not `instanceof`: an error made by another copy of rxdisco (two
 * versions in one node_modules, a bundled backend) still passes them.
 */
export const brandError = (type: abstract new (...args: never[]) => Error, kind: string): void => {
  Object.defineProperty(type.prototype, brandOf(kind), { value: true });
};

/** A type guard for the errors branded `kind` by {@link brandError}, whichever copy made them. */
export const errorGuard = <E extends Error>(kind: string): ((e: unknown) => e is E) => {
  const key = brandOf(kind);
  return (e: unknown): e is E =>
    typeof e === 'object' && e !== null && (e as Record<symbol, unknown>)[key] === true;
};

/** The base class of every error rxdisco throws or puts into a stream. */
export class RxdiscoError extends Error {
  static {
    brandError(RxdiscoError, 'RxdiscoError');
  }
  override readonly name: string = 'RxdiscoError';
  /** The registry (redacted URL) the error came from, when known. */
  readonly registry: string | undefined;
  /** The service the error is about, when known. */
  readonly service: string | undefined;
  /** True when retrying the same operation later may succeed (a transient fault). */
  readonly retryable: boolean;

  constructor(message: string, retryable: boolean, context: ErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.retryable = retryable;
    this.registry = context.registry;
    this.service = context.service;
  }
}

/** Formats "registry X, service Y: " for messages. */
const where = (context: ErrorContext): string => {
  const parts: string[] = [];
  if (context.registry !== undefined) parts.push(`registry ${context.registry}`);
  if (context.service !== undefined) parts.push(`service '${context.service}'`);
  return parts.length === 0 ? '' : `${parts.join(', ')}: `;
};

/**
 * A configuration is wrong: a bad registry URL, an invalid instance
 * specification, an option out of range. Permanent: fix the input.
 */
export class ConfigError extends RxdiscoError {
  static {
    brandError(ConfigError, 'ConfigError');
  }
  override readonly name: string = 'ConfigError';
  /** The field, option or URL part that is wrong (`port`, `ttl`, `url.scheme`). */
  readonly field: string;

  constructor(field: string, problem: string, fix: string, context: ErrorContext = {}) {
    super(`${where(context)}${field} ${problem}; ${fix}`, false, context);
    this.field = field;
  }
}

/**
 * A payload read from a registry did not decode. The entry is skipped and
 * reported; the stream goes on with the rest of the set.
 */
export class DecodeError extends RxdiscoError {
  static {
    brandError(DecodeError, 'DecodeError');
  }
  override readonly name: string = 'DecodeError';
  /** The registry key or instance id whose value did not decode. */
  readonly key: string;
  /** One line per failed io-ts check: `path.to.field: expected T, got V`. */
  readonly problems: readonly string[];

  constructor(key: string, problems: readonly string[], context: ErrorContext = {}) {
    super(
      `${where(context)}skipped malformed entry '${key}': ${problems.join('; ')}; fix or remove the entry in the registry`,
      false,
      context,
    );
    this.key = key;
    this.problems = problems;
  }
}

/**
 * The registry could not be reached or answered with a server error.
 * Transient: streams keep the last known set, mark it stale and retry.
 */
export class RegistryUnavailableError extends RxdiscoError {
  static {
    brandError(RegistryUnavailableError, 'RegistryUnavailableError');
  }
  override readonly name: string = 'RegistryUnavailableError';

  constructor(problem: string, context: ErrorContext = {}) {
    super(
      `${where(context)}registry unavailable: ${problem}; retrying with backoff, check that the registry is running and reachable`,
      true,
      context,
    );
  }
}

/** The registry refused our credentials. Permanent: fix the credentials. */
export class AuthenticationError extends RxdiscoError {
  static {
    brandError(AuthenticationError, 'AuthenticationError');
  }
  override readonly name: string = 'AuthenticationError';

  constructor(problem: string, context: ErrorContext = {}) {
    super(
      `${where(context)}authentication refused: ${problem}; check the user, password or token in the registry URL`,
      false,
      context,
    );
  }
}

/**
 * A registration's lease, session or heartbeat was lost: the registry no
 * longer lists the instance. rxdisco registers it again on its own.
 */
export class RegistrationLostError extends RxdiscoError {
  static {
    brandError(RegistrationLostError, 'RegistrationLostError');
  }
  override readonly name: string = 'RegistrationLostError';
  /** The id of the instance whose registration was lost. */
  readonly instanceId: string;

  constructor(instanceId: string, problem: string, context: ErrorContext = {}) {
    super(
      `${where(context)}registration of '${instanceId}' lost: ${problem}; registering again`,
      true,
      context,
    );
    this.instanceId = instanceId;
  }
}

/** No instance could be picked: the set is empty or not known yet. */
export class NoInstanceError extends RxdiscoError {
  static {
    brandError(NoInstanceError, 'NoInstanceError');
  }
  override readonly name: string = 'NoInstanceError';

  constructor(problem: string, context: ErrorContext = {}) {
    super(
      `${where(context)}no instance available: ${problem}; check that the service is registered and healthy`,
      true,
      context,
    );
  }
}

/** The error of any use of a discovery (or its backend) after `close()`. */
export const closedError = (registry: string): ConfigError =>
  new ConfigError('discovery', 'is closed', 'create a new discovery() after close()', { registry });

/** True when `e` is any rxdisco error (from this copy of rxdisco or another). */
export const isRxdiscoError = errorGuard<RxdiscoError>('RxdiscoError');
/** True when `e` is a {@link ConfigError} (from this copy of rxdisco or another). */
export const isConfigError = errorGuard<ConfigError>('ConfigError');
/** True when `e` is a {@link DecodeError} (from this copy of rxdisco or another). */
export const isDecodeError = errorGuard<DecodeError>('DecodeError');
/** True when `e` is a {@link RegistryUnavailableError} (from this copy of rxdisco or another). */
export const isRegistryUnavailableError = errorGuard<RegistryUnavailableError>(
  'RegistryUnavailableError',
);
/** True when `e` is an {@link AuthenticationError} (from this copy of rxdisco or another). */
export const isAuthenticationError = errorGuard<AuthenticationError>('AuthenticationError');
/** True when `e` is a {@link RegistrationLostError} (from this copy of rxdisco or another). */
export const isRegistrationLostError = errorGuard<RegistrationLostError>('RegistrationLostError');
/** True when `e` is a {@link NoInstanceError} (from this copy of rxdisco or another). */
export const isNoInstanceError = errorGuard<NoInstanceError>('NoInstanceError');

/**
 * Turns anything thrown into an {@link RxdiscoError}. Unknown errors are
 * treated as transient registry faults (retryable), keeping the original as cause.
 */
export const toRxdiscoError = (e: unknown, context: ErrorContext = {}): RxdiscoError =>
  isRxdiscoError(e)
    ? e
    : new RegistryUnavailableError(e instanceof Error ? e.message : String(e), {
        ...context,
        cause: e,
      });
