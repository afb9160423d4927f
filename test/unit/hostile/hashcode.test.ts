/**
 * A Eureka hashcode that never matches: reported after three mismatches in
 * a row, then at most once per `mismatchReportEveryMs`, never again once
 * the hashcodes agree. Fake timers drive the poller's RxJS timers.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EurekaClient, EurekaRequest } from '../../../src/backends/eureka/client.js';
import { isHashcodeMismatchError, registryPoller } from '../../../src/backends/eureka/poller.js';
import type { RxdiscoError } from '../../../src/core/errors.js';
import { recorded } from './fake-registry.js';

const FULL = recorded('eureka/full.json');
const delta = (hashcode: string): string =>
  JSON.stringify({ applications: { apps__hashcode: hashcode, application: [] } });

/** A client whose deltas carry `hashcode()`. */
const client = (hashcode: () => string): EurekaClient => ({
  registry: 'eureka://fake',
  request: async (req: EurekaRequest) => {
    const text = req.path === '/apps' ? FULL : delta(hashcode());
    return { status: 200, text, bytes: text.length };
  },
  close: () => undefined,
});

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('the hashcode-mismatch report', () => {
  it('is rate-limited, and stops when the hashcodes agree', async () => {
    let hashcode = 'UP_99_';
    const reports: RxdiscoError[] = [];
    const sub = registryPoller(
      client(() => hashcode),
      {
        intervalMs: 1000,
        mismatchReportEveryMs: 60_000,
      },
    ).subscribe((copy) => {
      const p = copy.notice?.take();
      if (p !== undefined) reports.push(p);
    });
    // 150 refreshes, one a second, every one a mismatch.
    await vi.advanceTimersByTimeAsync(150_000);
    expect(reports.every(isHashcodeMismatchError)).toBe(true);
    // at 3 s, then 63 s, then 123 s
    expect(reports).toHaveLength(3);
    expect(reports[0]!.message).toContain('3 times in a row');
    hashcode = 'STARTING_1_UP_4_';
    await vi.advanceTimersByTimeAsync(150_000);
    expect(reports).toHaveLength(3);
    sub.unsubscribe();
  });
});
