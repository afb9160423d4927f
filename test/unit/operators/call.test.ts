import { NEVER, Observable, of, Subject } from 'rxjs';
import { describe, expect, it, vi } from 'vitest';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import { ConfigError, isNoInstanceError } from '../../../src/core/errors.js';
import type { Instance } from '../../../src/core/instance.js';
import { emptySet } from '../../../src/core/instance-set.js';
import type { Balancer, Outcome } from '../../../src/operators/balancers/balancer.js';
import { consistentHash } from '../../../src/operators/balancers/consistent-hash.js';
import { roundRobin } from '../../../src/operators/balancers/round-robin.js';
import { call, call$, UnsuccessfulValue } from '../../../src/operators/call.js';
import { AttemptTimeoutError, CallError, isCallError } from '../../../src/operators/call-error.js';
import { live } from '../../../src/operators/live.js';
import { createOutlierDetector } from '../../../src/operators/outlier-ejection.js';
import { retryBudget } from '../../../src/operators/retry-budget.js';
import { drive } from './balancers/helpers.js';
import { inst, REGISTRY, setOf, testScheduler } from './fixtures.js';

const a = inst('a');
const b = inst('b');
const c = inst('c');

/** A round-robin balancer over a, b, c that records what it is told. */
const recording = (instances: Instance[] = [a, b, c]) => {
  const inner = drive(roundRobin({ start: 'first' })).push(setOf(...instances));
  const log: string[] = [];
  const balancer: Balancer = {
    set: inner.set,
    size: inner.size,
    pick: (key) => inner.pick(key),
    started: (i) => log.push(`start ${i.id}`),
    finished: (i, o: Outcome) => log.push(`end ${i.id} ${o.ok ? 'ok' : 'fail'} ${o.latencyMs}`),
  };
  return { balancer, log };
};

const boom = (message = 'boom') => Object.assign(new Error(message), { code: 'ECONNRESET' });
/** Backoff whose every delay is 0 (no timers in Promise tests). */
const noWait = () => exponentialBackoff({ random: () => 0 });
const linear = () => exponentialBackoff({ initialMs: 10, factor: 2, jitter: 'none' });

describe('call$()', () => {
  it('retries on a different instance after a backoff and reports every attempt', () => {
    testScheduler().run(({ cold, expectObservable, flush }) => {
      const { balancer, log } = recording();
      const scheduler = { now: () => 0 };
      const detector = createOutlierDetector();
      const reported: string[] = [];
      const spy = vi.spyOn(detector, 'report').mockImplementation((i, o) => {
        reported.push(`${i.id}:${o.ok}`);
      });
      const runs = {
        a: cold<string>('--#', undefined, boom()),
        b: cold<string>('---#', undefined, boom()),
        c: cold<string>('-(v|)', { v: 'hello' }),
      };
      const result = call$(balancer, (i) => runs[i.id as 'a' | 'b' | 'c'], {
        backoff: linear(),
        budget: false,
        detector,
      });
      // a fails at 2, wait 10, b fails at 15, wait 20, c answers at 36
      expectObservable(result).toBe('36ms (v|)', { v: 'hello' });
      flush();
      expect(log.map((l) => l.split(' ').slice(0, 3).join(' '))).toEqual([
        'start a',
        'end a fail',
        'start b',
        'end b fail',
        'start c',
        'end c ok',
      ]);
      expect(reported).toEqual(['a:false', 'b:false', 'c:true']);
      expect(scheduler.now()).toBe(0);
      spy.mockRestore();
    });
  });

  it('measures latency with the given clock', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable, flush }) => {
      const outcomes: Outcome[] = [];
      const lb = drive(roundRobin({ start: 'first' })).push(setOf(a));
      const balancer = {
        ...lb,
        set: lb.set,
        pick: () => lb.pick(),
        started() {},
        finished: (_: Instance, o: Outcome) => outcomes.push(o),
      };
      const result = call$(balancer, () => cold('-----(v|)', { v: 1 }), {
        now: () => ts.now(),
        budget: false,
      });
      expectObservable(result).toBe('5ms (v|)', { v: 1 });
      flush();
      expect(outcomes).toEqual([{ ok: true, latencyMs: 5 }]);
    });
  });

  it('gives up after the attempt limit with a CallError naming the service and each attempt', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const { balancer } = recording();
      const result = call$(balancer, () => cold('-#', undefined, boom('refused')), {
        attempts: 2,
        backoff: linear(),
        budget: false,
      });
      expectObservable(result).toBe('12ms #', undefined, expect.any(CallError));
    });
  });

  it('the CallError names the service and each attempt', async () => {
    const { balancer } = recording();
    const error = await call(balancer, () => Promise.reject(boom('refused')), {
      attempts: 2,
      backoff: noWait(),
      budget: false,
    }).catch((e: unknown) => e);
    expect(isCallError(error)).toBe(true);
    const e = error as CallError;
    expect(e.service).toBe('hello');
    expect(e.reason).toBe('attempts');
    expect(e.attempts.map((x) => x.instance.id)).toEqual(['a', 'b']);
    expect(e.message).toContain("service 'hello'");
    expect(e.message).toMatch(/#1 a \(a\.example:8080\): Error: refused \(ECONNRESET\); #2 b/);
    expect(e.retryable).toBe(true);
    expect((e.cause as Error).message).toBe('refused');
  });

  it('does not retry an error that is not retryable', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const { balancer, log } = recording();
      const fatal = new ConfigError('x', 'is wrong', 'fix it');
      const result = call$(balancer, () => cold('-#', undefined, fatal), { budget: false });
      expectObservable(result).toBe(
        '-#',
        undefined,
        expect.objectContaining({ reason: 'not-retryable', retryable: false }),
      );
      return log;
    });
  });

  it('honours a custom retryable predicate', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const { balancer } = recording();
      const result = call$(balancer, () => cold('-#'), {
        budget: false,
        backoff: linear(),
        retryable: () => false,
      });
      expectObservable(result).toBe(
        '-#',
        undefined,
        expect.objectContaining({ reason: 'not-retryable' }),
      );
    });
  });

  it('stops retrying when the retry budget is spent', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const { balancer } = recording();
      const budget = retryBudget({ percent: 0, minPerSecond: 0.1, windowMs: 10_000, now: () => 0 });
      // the budget holds exactly one retry: 0.1/s × 10 s
      const result = call$(balancer, () => cold('-#', undefined, boom()), {
        attempts: 5,
        backoff: linear(),
        budget,
      });
      expectObservable(result).toBe(
        '12ms #',
        undefined,
        expect.objectContaining({ reason: 'budget' }),
      );
    });
  });

  it('times an attempt out, aborts its signal and retries elsewhere', () => {
    testScheduler().run(({ cold, expectObservable, flush }) => {
      const { balancer } = recording();
      const signals: AbortSignal[] = [];
      const result = call$<string>(
        balancer,
        (i, { signal }) => {
          signals.push(signal);
          return i.id === 'a' ? NEVER : cold('-(v|)', { v: 'ok' });
        },
        { attemptTimeout: 50, backoff: linear(), budget: false },
      );
      expectObservable(result).toBe('61ms (v|)', { v: 'ok' });
      flush();
      expect(signals[0]!.aborted).toBe(true);
      expect(signals[0]!.reason).toBeInstanceOf(AttemptTimeoutError);
      expect(signals[1]!.aborted).toBe(false);
    });
  });

  it('unsubscribing aborts the attempt in flight and counts it down', () => {
    const vt = testScheduler();
    vt.run(({ cold, expectObservable, expectSubscriptions, flush }) => {
      const { balancer, log } = recording();
      const signals: AbortSignal[] = [];
      const attempt = cold('----------(v|)', { v: 1 });
      const result = call$(
        balancer,
        (_, { signal }) => {
          signals.push(signal);
          return attempt;
        },
        { budget: false, now: () => vt.now() },
      );
      expectObservable(result, '---!').toBe('');
      expectSubscriptions(attempt.subscriptions).toBe('^--!');
      flush();
      expect(signals[0]!.aborted).toBe(true);
      expect((signals[0]!.reason as Error).name).toBe('AbortError');
      expect(log).toEqual(['start a', 'end a ok 3']);
    });
  });

  it('treats a value refused by isSuccess as a failure, then retries', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const { balancer } = recording();
      const result = call$(balancer, (i) => cold('-(v|)', { v: i.id === 'a' ? 503 : 200 }), {
        isSuccess: (v) => v === 200,
        backoff: linear(),
        budget: false,
      });
      expectObservable(result).toBe('12ms (v|)', { v: 200 });
    });
    expect(new UnsuccessfulValue(503).message).toContain('503');
  });

  it('retries a keyed call on another instance than the key’s own', async () => {
    const lb = drive(consistentHash()).push(setOf(a, b, c));
    const owner = lb.pick('user-1')!.id;
    const seen: string[] = [];
    const value = await call(
      lb,
      async (i) => {
        seen.push(i.id);
        if (seen.length === 1) throw boom();
        return i.id;
      },
      { key: 'user-1', budget: false, backoff: noWait() },
    );
    expect(seen[0]).toBe(owner);
    expect(seen[1]).not.toBe(owner);
    expect(value).toBe(seen[1]);
  });

  it('retries on the same instance only when it is the only one', async () => {
    const lb = drive(roundRobin()).push(setOf(a));
    let n = 0;
    const error = await call(
      lb,
      async () => {
        n++;
        throw boom();
      },
      { budget: false, backoff: noWait() },
    ).catch((e) => e);
    expect(n).toBe(1);
    expect(error).toMatchObject({ reason: 'no-instance' });
  });

  it('fails with a NoInstanceError from an empty balancer, and waits for a first set with live()', async () => {
    const empty = drive(roundRobin()).push(emptySet('hello', REGISTRY));
    const e = await call(empty, async () => 1).catch((x) => x);
    expect(isNoInstanceError(e)).toBe(true);
    expect((e as Error).message).toContain("service 'hello'");

    const sets = new Subject<ReturnType<typeof setOf>>();
    const holder = live(sets.pipe(roundRobin({ start: 'first' })));
    const pending = call(holder, async (i) => i.id);
    sets.next(setOf(b));
    await expect(pending).resolves.toBe('b');
    holder.close();
  });

  it('the Promise form rejects with the signal’s reason and aborts the attempt', async () => {
    const { balancer, log } = recording();
    const controller = new AbortController();
    let attemptSignal: AbortSignal | undefined;
    const pending = call(
      balancer,
      (_, { signal }) => {
        attemptSignal = signal;
        return new Promise<never>(() => undefined);
      },
      { signal: controller.signal, budget: false },
    );
    controller.abort(new Error('user gave up'));
    await expect(pending).rejects.toThrow('user gave up');
    expect(attemptSignal!.aborted).toBe(true);
    expect(log[0]).toBe('start a');
    expect(log[1]).toMatch(/^end a ok/);
    const already = new AbortController();
    already.abort(new Error('early'));
    await expect(call(balancer, async () => 1, { signal: already.signal })).rejects.toThrow(
      'early',
    );
  });

  it('accepts promises, observables and synchronous throws from the user function', async () => {
    const { balancer } = recording();
    await expect(call(balancer, () => of(7))).resolves.toBe(7);
    await expect(call(balancer, async () => 8)).resolves.toBe(8);
    const sync = await call(
      balancer,
      () => {
        throw new ConfigError('x', 'bad', 'fix');
      },
      { budget: false },
    ).catch((e) => e);
    expect(sync).toMatchObject({ reason: 'not-retryable' });
    const empty = await call(balancer, () => new Observable<number>((s) => s.complete()), {
      attempts: 1,
    }).catch((e) => e);
    expect(empty).toMatchObject({ reason: 'attempts' });
  });

  it('rejects bad options at the call', () => {
    const { balancer } = recording();
    expect(() => call$(balancer, async () => 1, { attempts: 0 })).toThrow(/attempts/);
    expect(() => call$(balancer, async () => 1, { attemptTimeout: -1 })).toThrow(/attemptTimeout/);
  });
});

describe('retryBudget()', () => {
  it('allows percent × calls + a reserve per window, and forgets old calls', () => {
    let now = 0;
    const budget = retryBudget({ percent: 0.2, minPerSecond: 0, windowMs: 1000, now: () => now });
    expect(budget.withdraw()).toBe(false);
    for (let k = 0; k < 10; k++) budget.deposit();
    expect(budget.balance).toBeCloseTo(2);
    expect(budget.withdraw()).toBe(true);
    expect(budget.withdraw()).toBe(true);
    expect(budget.withdraw()).toBe(false);
    now = 500;
    for (let k = 0; k < 5; k++) budget.deposit();
    expect(budget.withdraw()).toBe(true); // 15 × 0.2 = 3
    expect(budget.withdraw()).toBe(false);
    now = 1200; // the first 10 calls and 2 retries left the window
    expect(budget.balance).toBeCloseTo(0);
    now = 5000;
    expect(budget.balance).toBe(0);
    for (let k = 0; k < 5; k++) budget.deposit();
    expect(budget.withdraw()).toBe(true);
  });

  it('keeps a minimum per second', () => {
    const budget = retryBudget({ percent: 0, minPerSecond: 2, windowMs: 1000, now: () => 0 });
    expect([budget.withdraw(), budget.withdraw(), budget.withdraw()]).toEqual([true, true, false]);
    expect(() => retryBudget({ percent: -1 })).toThrow(/percent/);
  });
});
