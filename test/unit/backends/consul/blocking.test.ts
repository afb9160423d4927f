/**
 * The blocking-query loop, driven by a fake read on a virtual scheduler:
 * which index each query sends, when it is sent, what is emitted.
 */
import { VirtualTimeScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import {
  type BlockingAnswer,
  type BlockingTuning,
  blockingQuery,
  nextIndex,
  queryTimeout,
} from '../../../../src/backends/consul/blocking.js';
import { RegistryUnavailableError } from '../../../../src/core/errors.js';

const TUNING: BlockingTuning = {
  waitMs: 60_000,
  minIntervalMs: 50,
  burst: 2,
  ratePerSecond: 4,
  requestTimeoutMs: 10_000,
};

describe('index rules', () => {
  it.each([
    [0, 10, 10],
    [10, 10, 10],
    [10, 12, 12],
    [10, 3, 0], // went backwards: reset, next query does not block
    [0, 0, 1], // never block on 0
    [5, -1, 0], // <= 0 counts as 1, which is backwards from 5
    [0, undefined, 1],
  ])('sent %s, returned %s -> next %s', (sent, returned, next) => {
    expect(nextIndex(sent, returned)).toBe(next);
  });

  it('gives blocking queries a timeout above wait + wait/16', () => {
    expect(queryTimeout(0, TUNING)).toBe(10_000);
    expect(queryTimeout(7, TUNING)).toBeGreaterThan(60_000 + 60_000 / 16);
  });
});

interface Call {
  readonly index: number;
  readonly at: number;
  readonly signal: AbortSignal;
  readonly timeout: number;
}

/** Runs the loop against scripted answers; returns the calls and emissions. */
const drive = async (
  answers: ReadonlyArray<BlockingAnswer<string> | Error>,
  tuning: BlockingTuning = TUNING,
) => {
  const scheduler = new VirtualTimeScheduler();
  const calls: Call[] = [];
  const emitted: Array<{ value: string; index: number }> = [];
  let error: unknown;
  let pending: ((a: BlockingAnswer<string>) => void) | undefined;
  const sub = blockingQuery<string>(
    (index, _wait, signal, timeout) => {
      calls.push({ index, at: scheduler.now(), signal, timeout });
      const answer = answers[calls.length - 1];
      if (answer === undefined) return new Promise((resolve) => (pending = resolve));
      return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
    },
    tuning,
    scheduler,
  ).subscribe({ next: (v) => emitted.push(v), error: (e) => (error = e) });
  for (let i = 0; i < 50; i++) {
    for (let k = 0; k < 5; k++) await Promise.resolve();
    scheduler.flush();
  }
  return { calls, emitted, error, sub, pending };
};

const a = (index: number | undefined, value: string): BlockingAnswer<string> => ({
  index,
  value,
  fingerprint: value,
});

describe('blockingQuery', () => {
  it('starts without blocking, then follows X-Consul-Index and emits only changed content', async () => {
    const { calls, emitted, sub } = await drive([
      a(10, 'A'),
      a(10, 'A'), // wait timed out: no change
      a(12, 'A'), // an idempotent write: index moved, same content
      a(15, 'B'),
    ]);
    expect(calls.map((c) => c.index)).toEqual([0, 10, 10, 12, 15]);
    expect(emitted).toEqual([
      { value: 'A', index: 10 },
      { value: 'B', index: 15 },
    ]);
    expect(calls[0]!.timeout).toBe(10_000);
    expect(calls[1]!.timeout).toBeGreaterThan(63_750);
    sub.unsubscribe();
  });

  it('resets to a non-blocking read when the index goes backwards, and never blocks on 0', async () => {
    const { calls, emitted, sub } = await drive([
      a(100, 'A'),
      a(7, 'B'), // agent restarted: index reset
      a(7, 'B'),
      a(0, 'B'), // a bogus index 0: counts as 1, backwards from 7: reset
      a(0, 'B'), // again, from 0: block on 1, never on 0
    ]);
    expect(calls.map((c) => c.index)).toEqual([0, 100, 0, 7, 0, 1]);
    expect(emitted.map((e) => e.value)).toEqual(['A', 'B']);
    sub.unsubscribe();
  });

  it('paces queries with the token bucket (burst 2) and the minimum interval', async () => {
    // a flapping service: every query returns at once with new content
    const answers = Array.from({ length: 8 }, (_, i) => a(i + 1, `v${i}`));
    const { calls, sub } = await drive(answers);
    const starts = calls.map((c) => c.at);
    // burst of 2, then one per 250 ms (4/s)
    expect(starts.slice(0, 6)).toEqual([0, 50, 250, 500, 750, 1000]);
    for (let i = 1; i < starts.length; i++) {
      expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(50);
    }
    sub.unsubscribe();
  });

  it('errors with the read error and sends nothing more', async () => {
    const fault = new RegistryUnavailableError('agent down');
    const { calls, error } = await drive([a(3, 'A'), fault, a(4, 'B')]);
    expect(error).toBe(fault);
    expect(calls).toHaveLength(2);
  });

  it('aborts the query in flight on unsubscribe and schedules nothing after', async () => {
    const { calls, sub, error } = await drive([a(3, 'A')]);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.signal.aborted).toBe(false);
    sub.unsubscribe();
    expect(calls[1]!.signal.aborted).toBe(true);
    expect(error).toBeUndefined();
  });
});
