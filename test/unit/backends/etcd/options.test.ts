/**
 * The etcd options are checked when etcdDiscovery() (or the etcd backend)
 * is made, with the one validator's wording: NaN, negative or zero
 * deadlines are refused at once, not on first subscribe.
 */
import { describe, expect, it } from 'vitest';
import { resolveEtcdOptions } from '../../../../src/backends/etcd/client.js';
import { etcdDiscovery } from '../../../../src/backends/etcd/index.js';
import { isConfigError } from '../../../../src/core/errors.js';

const URL = 'etcd://127.0.0.1:9/services/';

describe('etcd options', () => {
  it('applies the defaults', () => {
    expect(resolveEtcdOptions({})).toEqual({
      callTimeoutMs: 5000,
      watchdogIntervalMs: 10_000,
      watchCreateTimeoutMs: 10_000,
      grpcOptions: {},
    });
    expect(resolveEtcdOptions({ watchdogIntervalMs: 0 }).watchdogIntervalMs).toBe(0);
  });

  it.each([
    [{ callTimeoutMs: Number.NaN }, 'callTimeoutMs must be a number of ms >= 1 (got NaN)'],
    [{ callTimeoutMs: 0 }, 'callTimeoutMs must be a number of ms >= 1 (got 0)'],
    [{ watchdogIntervalMs: -1 }, 'watchdogIntervalMs must be a number of ms >= 0 (got -1)'],
    [
      { watchCreateTimeoutMs: Number.POSITIVE_INFINITY },
      'watchCreateTimeoutMs must be a number of ms >= 1 (got Infinity)',
    ],
  ])('etcdDiscovery() refuses %j at once', (options, message) => {
    let caught: unknown;
    try {
      etcdDiscovery(URL, options);
    } catch (e) {
      caught = e;
    }
    expect(isConfigError(caught)).toBe(true);
    expect(String(caught)).toContain(`registry ${URL}: ${message}`);
  });
});
