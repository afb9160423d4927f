/**
 * A backend whose optional third-party client is not installed: its load
 * fails with a permanent ConfigError naming the package and the install
 * command (etcd3 for etcd://), and the stream errors instead of retrying.
 * The missing module is simulated with vi.mock (as Node reports one).
 */
import { firstValueFrom } from 'rxjs';
import { describe, expect, it, vi } from 'vitest';
import { isConfigError, type RxdiscoError } from '../../src/core/errors.js';
import { discovery, importBackend } from '../../src/discovery.js';

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

  it('turns only a missing named package into that error, and passes other failures through', async () => {
    const missing = await import('rxdisco-no-such-package' as string).then(
      () => undefined,
      (e: unknown) => e,
    );
    await expect(
      importBackend(() => Promise.reject(missing), ['rxdisco-no-such-package'], 'x://'),
    ).rejects.toThrow('install it: npm install rxdisco-no-such-package');
    await expect(importBackend(() => Promise.reject(missing), ['etcd3'], 'x://')).rejects.toBe(
      missing,
    );
    const other = new Error('boom');
    await expect(importBackend(() => Promise.reject(other), ['etcd3'], 'x://')).rejects.toBe(other);
    await expect(importBackend(async () => 42, ['etcd3'], 'x://')).resolves.toBe(42);
  });
});
