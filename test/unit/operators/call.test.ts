import { config, NEVER, Observable, of, Subject, throwError } from 'rxjs';
import { describe, expect, it, vi } from 'vitest';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import {
  ConfigError,
  isNoInstanceError,
  isRxdiscoError,
  RxdiscoError,
} from '../../../src/core/errors.js';
import type { Instance } from '../../../src/core/instance.js';
import { emptySet } from '../../../src/core/instance-set.js';
import type { Balancer, Outcome } from '../../../src/operators/balancers/balancer.js';
import { consistentHash } from '../../../src/operators/balancers/consistent-hash.js';
import { ewma } from '../../../src/operators/balancers/ewma.js';
import { roundRobin } from '../../../src/operators/balancers/round-robin.js';
import { call, call$ } from '../../../src/operators/call.js';
import {
  AttemptTimeoutError,
  CallError,
  isAttemptTimeoutError,
  isCallError,
  isUnsuccessfulValue,
  UnsuccessfulValue,
} from '../../../src/operators/call-error.js';
import type { CallOptions, CallTarget } from '../../../src/operators/call-options.js';
import { live } from '../../../src/operators/live.js';
import { createOutlierDetector } from '../../../src/operators/outlier-ejection.js';
import { retryBudget } from '../../../src/operators/retry-budget.js';
import { drive, picks } from './balancers/helpers.js';
import { inst, mulberry32, REGISTRY, setOf, testScheduler } from './fixtures.js';

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
    finished: (i, o: Outcome) =>
      log.push(
        o.cancelled
          ? `end ${i.id} cancelled`
          : `end ${i.id} ${o.ok ? 'ok' : 'fail'} ${o.latencyMs}`,
      ),
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
        reported.push(`${i.id}:${o.cancelled ? 'cancelled' : o.ok}`);
      });
      const runs = {
        a: cold<string>('--#', undefined, boom()),
        b: cold<string>('---#', undefined, boom()),
        c: cold<string>('-(v|)', { v: 'hello' }),
      };
      const result = call$(balancer, (i) => runs[i.id as 'a' | 'b' | 'c'], {
        retry: { backoff: linear(), budget: false },
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

  it('measures latency with the scheduler it runs on', () => {
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
        scheduler: ts,
        retry: { budget: false },
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
        retry: { attempts: 2, backoff: linear(), budget: false },
      });
      expectObservable(result).toBe('12ms #', undefined, expect.any(CallError));
    });
  });

  it('the CallError names the service and each attempt', async () => {
    const { balancer } = recording();
    const error = await call(balancer, () => Promise.reject(boom('refused')), {
      retry: { attempts: 2, backoff: noWait(), budget: false },
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
      const result = call$(balancer, () => cold('-#', undefined, fatal), {
        retry: { budget: false },
      });
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
        retry: { budget: false, backoff: linear(), retryable: () => false },
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
      const budget = retryBudget({ ratio: 0, minPerSecond: 0.1, windowMs: 10_000, now: () => 0 });
      // the budget holds exactly one retry: 0.1/s × 10 s
      const result = call$(balancer, () => cold('-#', undefined, boom()), {
        retry: { attempts: 5, backoff: linear(), budget },
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
        { attemptTimeoutMs: 50, retry: { backoff: linear(), budget: false } },
      );
      expectObservable(result).toBe('61ms (v|)', { v: 'ok' });
      flush();
      expect(signals[0]!.aborted).toBe(true);
      expect(signals[0]!.reason).toBeInstanceOf(AttemptTimeoutError);
      expect(signals[1]!.aborted).toBe(false);
    });
  });

  it('unsubscribing aborts the attempt in flight and counts it down as cancelled, with no latency', () => {
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
        { retry: { budget: false }, scheduler: vt },
      );
      expectObservable(result, '---!').toBe('');
      expectSubscriptions(attempt.subscriptions).toBe('^--!');
      flush();
      expect(signals[0]!.aborted).toBe(true);
      expect((signals[0]!.reason as Error).name).toBe('AbortError');
      expect(log).toEqual(['start a', 'end a cancelled']);
    });
  });

  it('treats a value refused by isSuccess as a failure, then retries', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const { balancer } = recording();
      const result = call$(balancer, (i) => cold('-(v|)', { v: i.id === 'a' ? 503 : 200 }), {
        isSuccess: (v) => v === 200,
        retry: { backoff: linear(), budget: false },
      });
      expectObservable(result).toBe('12ms (v|)', { v: 200 });
    });
    const refused = new UnsuccessfulValue(503, a);
    expect(refused.message).toContain('503');
    expect(refused.message).toContain("service 'hello'");
    expect(refused).toBeInstanceOf(RxdiscoError);
    expect(refused.retryable).toBe(true);
    expect(isUnsuccessfulValue(refused)).toBe(true);
    expect(isUnsuccessfulValue(new Error('503'))).toBe(false);
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
      { key: 'user-1', retry: { budget: false, backoff: noWait() } },
    );
    expect(seen[0]).toBe(owner);
    expect(seen[1]).not.toBe(owner);
    expect(value).toBe(seen[1]);
  });

  it('does not retry on the same instance when it is the only one', async () => {
    const lb = drive(roundRobin()).push(setOf(a));
    let n = 0;
    const error = await call(
      lb,
      async () => {
        n++;
        throw boom();
      },
      { retry: { budget: false, backoff: noWait() } },
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

  it('cancelling a call that waits for a first set stops the wait (no timer left behind)', async () => {
    vi.useFakeTimers();
    try {
      const holder = live(new Subject<ReturnType<typeof setOf>>().pipe(roundRobin()));
      const controller = new AbortController();
      const pending = call(holder, async () => 1, { signal: controller.signal });
      expect(vi.getTimerCount()).toBe(1); // the pickTimeoutMs wait
      controller.abort(new Error('gave up'));
      await expect(pending).rejects.toThrow('gave up');
      expect(vi.getTimerCount()).toBe(0);
      holder.close();
    } finally {
      vi.useRealTimers();
    }
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
      { signal: controller.signal, retry: { budget: false } },
    );
    controller.abort(new Error('user gave up'));
    await expect(pending).rejects.toThrow('user gave up');
    expect(attemptSignal!.aborted).toBe(true);
    expect(log[0]).toBe('start a');
    expect(log[1]).toBe('end a cancelled');
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
      { retry: { budget: false } },
    ).catch((e) => e);
    expect(sync).toMatchObject({ reason: 'not-retryable' });
    const empty = await call(balancer, () => new Observable<number>((s) => s.complete()), {
      retry: 1,
    }).catch((e) => e);
    expect(empty).toMatchObject({ reason: 'attempts' });
  });

  it('rejects bad options at the call', () => {
    const { balancer } = recording();
    const bad = (options: object) => () => call$(balancer, async () => 1, options as CallOptions);
    expect(bad({ retry: 0 })).toThrow(
      'retry.attempts must be an integer from 1 to 100 (got 0); use 1 for no retries, 3 for two retries',
    );
    expect(bad({ retry: { attempts: 1.5 } })).toThrow(/^retry\.attempts must be an integer/);
    expect(bad({ retry: 'many' })).toThrow(/^retry must be a number of attempts or/);
    expect(bad({ attemptTimeoutMs: -1 })).toThrow(
      'attemptTimeoutMs must be a number of ms > 0 (or Infinity for none) (got -1)',
    );
    expect(bad({ attemptTimeoutMs: Number.NaN })).toThrow(/^attemptTimeoutMs must be/);
    expect(bad({ pickTimeoutMs: -5 })).toThrow(/^pickTimeoutMs must be a number of ms >= 0/);
    expect(bad({ retry: { backoff: 10 } })).toThrow(
      /^retry\.backoff must be a backoff policy \(got number\)/,
    );
    expect(bad({ retry: { budget: true } })).toThrow(
      /^retry\.budget must be a retryBudget\(\) or false/,
    );
    expect(bad({ retry: { retryable: true } })).toThrow(/^retry\.retryable must be a function/);
    expect(bad({ isSuccess: 'yes' })).toThrow(/^isSuccess must be a function \(got 'yes'\)/);
    expect(bad({ detector: {} })).toThrow(/^detector must be an outlier detector/);
    expect(bad({ key: 42 })).toThrow(/^key must be a string/);
    expect(bad({ signal: 'stop' })).toThrow(/^signal must be an AbortSignal/);
    expect(bad({ scheduler: {} })).toThrow(/^scheduler must be a scheduler/);
    expect(bad({ retry: 0 })).toThrow(ConfigError);
    expect(bad({ key: 1 })).toThrow(ConfigError);
    // retry as a number is the attempts
    expect(() => call$(balancer, async () => 1, { retry: 1 })).not.toThrow();
  });
});

describe('the call errors', () => {
  it('are told apart by a brand, so that errors of another copy of rxdisco pass the guards', () => {
    const guards = {
      CallError: isCallError,
      AttemptTimeoutError: isAttemptTimeoutError,
      UnsuccessfulValue: isUnsuccessfulValue,
    };
    for (const [kind, guard] of Object.entries(guards)) {
      class FromAnotherCopy extends Error {}
      Object.defineProperty(FromAnotherCopy.prototype, Symbol.for(`rxdisco.error.${kind}`), {
        value: true,
      });
      expect(guard(new FromAnotherCopy()), kind).toBe(true);
      expect(guard(new Error(kind)), kind).toBe(false);
    }
    expect(isAttemptTimeoutError(new AttemptTimeoutError(a, 5))).toBe(true);
    expect(isRxdiscoError(new UnsuccessfulValue(1))).toBe(true);
  });
});

describe('retryBudget()', () => {
  it('allows ratio × calls + a reserve per window, and forgets old calls', () => {
    let now = 0;
    const budget = retryBudget({ ratio: 0.2, minPerSecond: 0, windowMs: 1000, now: () => now });
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
    const budget = retryBudget({ ratio: 0, minPerSecond: 2, windowMs: 1000, now: () => 0 });
    expect([budget.withdraw(), budget.withdraw(), budget.withdraw()]).toEqual([true, true, false]);
  });

  it('checks its options with one wording', () => {
    expect(() => retryBudget({ ratio: -1 })).toThrow(
      'retryBudget.ratio must be a number from 0 to 1000 (got -1)',
    );
    expect(() => retryBudget({ ratio: Number.NaN })).toThrow(/^retryBudget\.ratio must be/);
    expect(() => retryBudget({ minPerSecond: -1 })).toThrow(/^retryBudget\.minPerSecond must be/);
    expect(() => retryBudget({ windowMs: 5 })).toThrow(
      /^retryBudget\.windowMs must be a number of ms from 10 to 3600000 \(got 5\)/,
    );
    expect(retryBudget({ ratio: 2, minPerSecond: 0, now: () => 0 }).balance).toBe(0);
  });
});

describe('call() and the balancer: a cancelled attempt teaches no latency', () => {
  it('a slow instance whose attempts are cancelled early does not look fast to ewma()', () => {
    const ts = testScheduler();
    ts.run(({ cold, flush }) => {
      const lb = drive(ewma({ scheduler: ts, random: mulberry32(1) })).push(setOf(a, b));
      lb.started(b);
      lb.finished(b, { ok: true, latencyMs: 20 }); // b answers in 20 ms
      // Calls pinned to a, which answers in 500 ms; their callers give up after 1 ms.
      const onA: CallTarget = {
        pick: () => a,
        started: (i) => lb.started(i),
        finished: (i, o) => lb.finished(i, o),
      };
      for (let k = 0; k < 5; k++) {
        const sub = call$(onA, () => cold('500ms (v|)', { v: 1 }), {
          scheduler: ts,
          retry: { budget: false },
        }).subscribe();
        ts.schedule(() => sub.unsubscribe(), 1);
      }
      flush();
      // a keeps its initial 30 ms (not 1 ms): b (20 ms) wins every pair.
      expect(new Set(picks(lb, 50))).toEqual(new Set(['b']));
      // and the cancelled calls left the in-flight counts
      lb.started(b);
      lb.started(b); // b: 20 × 3 = 60 > a: 30 × 1
      expect(new Set(picks(lb, 50))).toEqual(new Set(['a']));
    });
  });
});

describe('call(): user callbacks that throw', () => {
  const oops = new Error('oops');
  const thrower = () => {
    throw oops;
  };

  it('errors the Observable form with the thrown error (isSuccess, retryable, detector, backoff, balancer)', () => {
    const cases: [string, (o: ReturnType<typeof recording>) => ReturnType<typeof call$>][] = [];
    testScheduler().run(({ cold, expectObservable }) => {
      const ok = () => cold('-(v|)', { v: 1 });
      const failing = () => cold('-#', undefined, boom());
      cases.push(
        ['isSuccess', ({ balancer }) => call$(balancer, ok, { isSuccess: thrower })],
        [
          'retryable',
          ({ balancer }) =>
            call$(balancer, failing, { retry: { retryable: thrower, budget: false } }),
        ],
        [
          'detector',
          ({ balancer }) => call$(balancer, ok, { detector: { report: thrower } as never }),
        ],
        [
          'backoff',
          ({ balancer }) =>
            call$(balancer, failing, { retry: { backoff: { start: thrower }, budget: false } }),
        ],
        [
          'finished',
          ({ balancer }) =>
            call$({ ...balancer, finished: thrower }, ok, { retry: { budget: false } }),
        ],
      );
      for (const [, make] of cases) expectObservable(make(recording())).toBe('-#', undefined, oops);
    });
  });

  it('counts the attempt in flight down when isSuccess throws, and reports no unhandled error', () => {
    const unhandled = vi.fn();
    const previous = config.onUnhandledError;
    config.onUnhandledError = unhandled;
    try {
      const { balancer, log } = recording();
      const errors: unknown[] = [];
      call$(balancer, () => of(1), { isSuccess: thrower }).subscribe({
        error: (e) => errors.push(e),
      });
      expect(errors).toEqual([oops]);
      expect(log).toEqual(['start a', 'end a cancelled']);
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      config.onUnhandledError = previous;
    }
  });

  it('rejects the Promise form with the thrown error at once, with no unhandled rejection', async () => {
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      const { balancer } = recording();
      const retry = { budget: false, backoff: noWait() } as const;
      await expect(
        call(balancer, async () => 1, { isSuccess: thrower, attemptTimeoutMs: 50, retry }),
      ).rejects.toBe(oops);
      await expect(
        call(balancer, () => Promise.reject(boom()), { retry: { ...retry, retryable: thrower } }),
      ).rejects.toBe(oops);
      await expect(call({ ...balancer, pick: thrower }, async () => 1, { retry })).rejects.toBe(
        oops,
      );
      await new Promise((resolve) => setImmediate(resolve));
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });
});

describe('call(): backoff runs', () => {
  it('draws each call’s first retry delay afresh from the default backoff (no lockstep)', () => {
    const ts = testScheduler();
    ts.run(({ flush }) => {
      const delays: number[] = [];
      const { balancer } = recording();
      for (let k = 0; k < 20; k++) {
        call$(
          balancer,
          (_, { attempt }) => {
            if (attempt === 1) return throwError(() => boom());
            delays.push(ts.now()); // all calls started at 0
            return of(attempt);
          },
          { retry: { budget: false } },
        ).subscribe();
      }
      flush();
      expect(delays).toHaveLength(20);
      for (const d of delays) expect(d).toBeLessThan(10); // the first delay is in [0, 10)
      // One module-wide run would give every call the same delay.
      expect(new Set(delays).size).toBeGreaterThan(1);
    });
  });

  it('starts one run of its policy per call, only when a retry is needed', async () => {
    const policy = noWait();
    const start = vi.spyOn(policy, 'start');
    const { balancer } = recording();
    await call(balancer, async () => 1, { retry: { backoff: policy, budget: false } });
    expect(start).not.toHaveBeenCalled();
    let n = 0;
    const flaky = async () => {
      if (n++ % 3 !== 2) throw boom();
      return n;
    };
    await call(balancer, flaky, { retry: { backoff: policy, budget: false } });
    await call(balancer, flaky, { retry: { backoff: policy, budget: false } });
    expect(start).toHaveBeenCalledTimes(2);
  });
});
