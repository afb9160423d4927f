/**
 * Deadlines, the gateway's per-request timeouts with one timer for all the
 * requests in flight: each expires at its own deadline, a removed one never,
 * and no more than one timer is armed at a time.
 */
import { config } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Deadlines, Timed } from '../../../src/gateway/deadlines.js';

class Request extends Timed {
  expired = 0;
  constructor(readonly onExpire: () => void = () => undefined) {
    super();
  }
  expire(): void {
    this.expired++;
    this.onExpire();
  }
}

describe('Deadlines', () => {
  beforeEach(() => {
    vi.useFakeTimers({
      toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date', 'performance'],
    });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('expires each request at its own deadline, never one removed, with one timer armed', () => {
    const deadlines = new Deadlines(100);
    const [a, b, c] = [new Request(), new Request(), new Request()];
    deadlines.add(a);
    vi.advanceTimersByTime(10);
    deadlines.add(b);
    vi.advanceTimersByTime(10);
    deadlines.add(c);
    expect(vi.getTimerCount()).toBe(1);
    deadlines.remove(b); // its response started
    vi.advanceTimersByTime(79); // t = 99
    expect([a.expired, b.expired, c.expired]).toEqual([0, 0, 0]);
    vi.advanceTimersByTime(1); // t = 100: a's deadline
    expect([a.expired, b.expired, c.expired]).toEqual([1, 0, 0]);
    vi.advanceTimersByTime(19); // t = 119
    expect(c.expired).toBe(0);
    vi.advanceTimersByTime(1); // t = 120: c's deadline
    expect([a.expired, b.expired, c.expired]).toEqual([1, 0, 1]);
    expect(deadlines.size).toBe(0);
    vi.advanceTimersByTime(1000);
    expect([a.expired, b.expired, c.expired]).toEqual([1, 0, 1]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('times a request added after the list emptied from its own start', () => {
    const deadlines = new Deadlines(100);
    const a = new Request();
    deadlines.add(a);
    deadlines.remove(a);
    vi.advanceTimersByTime(50);
    const b = new Request();
    deadlines.add(b); // the timer armed for a fires at 100: b is not due until 150
    vi.advanceTimersByTime(99); // t = 149
    expect(b.expired).toBe(0);
    vi.advanceTimersByTime(1);
    expect(b.expired).toBe(1);
    expect(a.expired).toBe(0);
  });

  it('goes on timing the others when an expiry throws, and stops on close', () => {
    const deadlines = new Deadlines(100);
    const a = new Request(() => {
      throw new Error('boom');
    });
    const b = new Request();
    const c = new Request();
    deadlines.add(a);
    vi.advanceTimersByTime(10);
    deadlines.add(b);
    const errors: unknown[] = [];
    config.onUnhandledError = (e) => errors.push(e);
    try {
      vi.advanceTimersByTime(90); // a's deadline: its expiry throws
      vi.advanceTimersByTime(10);
    } finally {
      config.onUnhandledError = null;
    }
    expect(errors).toEqual([new Error('boom')]);
    expect([a.expired, b.expired]).toEqual([1, 1]);
    deadlines.add(c);
    deadlines.close();
    vi.advanceTimersByTime(1000);
    expect(c.expired).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });
});
