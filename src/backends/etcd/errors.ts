/**
 * etcd3 client errors turned into rxdisco's typed errors: refused
 * credentials are permanent, everything about reaching the cluster is
 * transient.
 *
 * @module
 */
import {
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  EtcdUserNotFoundError,
} from 'etcd3';
import {
  AuthenticationError,
  type ErrorContext,
  isRxdiscoError,
  RegistryUnavailableError,
  type RxdiscoError,
} from '../../core/errors.js';

const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** True when etcd says the revision a watch asked for was compacted. */
export const isCompactedError = (e: unknown): boolean =>
  /required revision has been compacted|compact/i.test(message(e));

/**
 * Maps an etcd3 client error: wrong user or password and permission denied
 * become an {@link AuthenticationError} (not retryable); anything else a
 * retryable {@link RegistryUnavailableError}, keeping the original as cause.
 */
export const toEtcdError = (e: unknown, context: ErrorContext): RxdiscoError => {
  if (isRxdiscoError(e)) return e;
  if (e instanceof EtcdAuthenticationFailedError || e instanceof EtcdUserNotFoundError) {
    return new AuthenticationError('etcd refused the user name or password', {
      ...context,
      cause: e,
    });
  }
  if (e instanceof EtcdPermissionDeniedError) {
    return new AuthenticationError(
      'the etcd user has no permission on the prefix (grant it a role with readwrite on the prefix)',
      { ...context, cause: e },
    );
  }
  return new RegistryUnavailableError(message(e), { ...context, cause: e });
};
