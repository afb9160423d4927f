/**
 * Leak check: the active handles (timers, sockets, servers) of this process
 * must come back to what they were before a test file ran.
 */
import { afterAll, beforeAll, expect } from 'vitest';

const KINDS = new Set([
  'Timeout',
  'TCPSocketWrap',
  'TCPServerWrap',
  'PipeWrap',
  'ProcessWrap',
  'UDPWrap',
  'Immediate',
]);

/** Counts active resources of the kinds that leak. */
export const activeHandles = (): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) {
    if (KINDS.has(r)) counts[r] = (counts[r] ?? 0) + 1;
  }
  return counts;
};

/** Waits until `predicate` holds, polling on real timers; fails after `timeoutMs`. */
export const eventually = async (
  predicate: () => boolean,
  timeoutMs = 5000,
  what = 'condition',
): Promise<void> => {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

/**
 * Registers hooks that record the handles before the file's tests and
 * assert, after them, that no more remain (waiting up to `settleMs` for
 * sockets that are closing).
 */
export const expectNoLeakedHandles = (settleMs = 2000): void => {
  let before: Record<string, number> = {};
  beforeAll(() => {
    before = activeHandles();
  });
  afterAll(async () => {
    const leaked = (): Record<string, number> => {
      const now = activeHandles();
      const extra: Record<string, number> = {};
      for (const [k, n] of Object.entries(now))
        if (n > (before[k] ?? 0)) extra[k] = n - (before[k] ?? 0);
      return extra;
    };
    const start = Date.now();
    while (Object.keys(leaked()).length > 0 && Date.now() - start < settleMs) {
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setTimeout(r, 10).unref());
    }
    expect(leaked()).toEqual({});
  });
};
