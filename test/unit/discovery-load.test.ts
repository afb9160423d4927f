/**
 * A backend whose optional third-party client is not installed: its load
 * fails with a permanent ConfigError naming the package and the install
 * command (etcd3 for etcd://), and the stream errors instead of retrying.
 * The missing module is simulated with vi.mock (as Node reports one).
 */
import { firstValueFrom } from 'rxjs';
import { describe, expect, it, vi } from 'vitest';
import { createDiscovery } from '../../src/core/discovery.js';
import { isConfigError, type RxdiscoError } from '../../src/core/errors.js';
import { discovery } from '../../src/discovery.js';

vi.mock('etcd3', () => {
  throw Object.assign(new Error("Cannot find package 'etcd3' imported from /app/client.js"), {
    code: 'ERR_MODULE_NOT_FOUND',
  });
});

describe('a missing backend client', () => {
  it('errors the etcd:// stream with a ConfigError naming etcd3 and how to install it', async () => {
    const problems: RxdiscoError[] = [];
    const d = discovery('etcd://127.0.0.1:9/services/', { onProblem: (p) => problems.push(p) });
    const e = await firstValueFrom(d.instances$('hello')).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isConfigError(e)).toBe(true);
    const error = e as RxdiscoError;
    expect(error.message).toBe(
      'registry etcd://127.0.0.1:9/services/: etcd3 is not installed, and this registry needs it; install it: npm install etcd3',
    );
    expect(error.retryable).toBe(false);
    // permanent: no retry was reported
    expect(problems).toEqual([]);
    await d.close();
  });

  it('finds the missing package through wrapping errors, and names other failures as such', async () => {
    const missing = await import('rxdisco-no-such-package' as string).then(
      () => undefined,
      (e: unknown) => e,
    );
    const firstError = async (failure: unknown): Promise<RxdiscoError> => {
      const d = createDiscovery('x://', () => Promise.reject(failure), { onProblem: () => {} });
      const e = await firstValueFrom(d.instances$('hello')).then(
        () => undefined,
        (err: unknown) => err,
      );
      await d.close();
      return e as RxdiscoError;
    };
    const wrapped = await firstError(new Error('[bundler] import failed', { cause: missing }));
    expect(wrapped.message).toBe(
      'registry x://: rxdisco-no-such-package is not installed, and this registry needs it; install it: npm install rxdisco-no-such-package',
    );
    expect(wrapped.retryable).toBe(false);
    const other = await firstError(new Error('boom'));
    expect(other.message).toBe(
      'registry x://: backend failed to load (boom); check the installation',
    );
    expect(other.retryable).toBe(false);
    expect(other.cause).toBeInstanceOf(Error);
  });
});
