import fc from 'fast-check';
import { NEVER, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { isConfigError } from '../../../src/core/errors.js';
import type { Instance } from '../../../src/core/instance.js';
import type { Balancer, Outcome } from '../../../src/operators/balancers/balancer.js';
import { roundRobin } from '../../../src/operators/balancers/round-robin.js';
import { call$ } from '../../../src/operators/call.js';
import { isCallError } from '../../../src/operators/call-error.js';
import { LatencyWindow } from '../../../src/operators/call-hedge.js';
import type { AttemptContext, CallOptions } from '../../../src/operators/call-options.js';
import { createOutlierDetector } from '../../../src/operators/outlier-ejection.js';
import { retryBudget } from '../../../src/operators/retry-budget.js';
import { drive } from './balancers/helpers.js';
import { inst, setOf, testScheduler } from './fixtures.js';

const a = inst('a');
const b = inst('b');
const c = inst('c');

/** A round-robin balancer over a, b, c (a first) that logs what it is told. */
const recording = (instances: Instance[] = [a, b, c]) => {
  const inner = drive(roundRobin({ start: 'first' })).push(setOf(...instances));
  const log: string[] = [];
  const balancer: Balancer = {
    set: inner.set,
    size: inner.size,
    pick: (key) => inner.pick(key),
    started: (i) => log.push(`start ${i.id}`),
    finished: (i, o: Outcome) =>
      log.push(o.cancelled ? `end ${i.id} cancelled` : `end ${i.id} ${o.ok ? 'ok' : 'fail'}`),
  };
  return { balancer, log };
};

const boom = () => Object.assign(new Error('boom'), { code: 'ECONNRESET' });

describe('call() hedging', () => {
  it('starts a hedge on another instance after afterMs; the first success wins, the slow attempt is cancelled, not failed', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable, flush }) => {
      const { balancer, log } = recording();
      const detector = createOutlierDetector();
      const reported: string[] = [];
      detector.report = (i, o) => {
        reported.push(`${i.id}:${o.cancelled ? 'cancelled' : o.ok}`);
      };
      const signals: Record<string, AttemptContext> = {};
      const runs: Record<string, Observable<string>> = {
        a: cold('100ms (v|)', { v: 'slow a' }),
        b: cold('5ms (v|)', { v: 'fast b' }),
      };
      const result = call$(
        balancer,
        (i, ctx) => {
          signals[i.id] = ctx;
          return runs[i.id]!;
        },
        {
          hedge: { afterMs: 20, maxExtraLoadRatio: 1 },
          retry: { budget: false },
          detector,
          scheduler: ts,
        },
      );
      expectObservable(result).toBe('25ms (v|)', { v: 'fast b' });
      flush();
      expect(log).toEqual(['start a', 'start b', 'end b ok', 'end a cancelled']);
      expect(reported).toEqual(['b:true']); // the loser is nobody's failure
      expect(signals.a?.kind).toBe('first');
      expect(signals.b?.kind).toBe('hedge');
      expect(signals.b?.attempt).toBe(2);
      expect(signals.a?.signal.aborted).toBe(true);
      expect(String(signals.a?.signal.reason)).toMatch(/another attempt/);
    });
  });

  it('makes no hedge when the first attempt answers within afterMs', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable, flush }) => {
      const { balancer, log } = recording();
      const result = call$(balancer, () => cold('19ms (v|)', { v: 1 }), {
        hedge: { afterMs: 20, maxExtraLoadRatio: 1 },
        retry: { budget: false },
        scheduler: ts,
      });
      expectObservable(result).toBe('19ms (v|)', { v: 1 });
      flush();
      expect(log).toEqual(['start a', 'end a ok']);
    });
  });

  it('keeps the first attempt when it answers before the hedge: the hedge is cancelled', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable, flush }) => {
      const { balancer, log } = recording();
      const runs: Record<string, Observable<string>> = {
        a: cold('30ms (v|)', { v: 'a' }),
        b: cold('50ms (v|)', { v: 'b' }),
      };
      const result = call$(balancer, (i) => runs[i.id]!, {
        hedge: { afterMs: 20, maxExtraLoadRatio: 1 },
        retry: { budget: false },
        scheduler: ts,
      });
      expectObservable(result).toBe('30ms (v|)', { v: 'a' });
      flush();
      expect(log).toEqual(['start a', 'start b', 'end a ok', 'end b cancelled']);
    });
  });

  it('waits for the hedge when the first attempt fails meanwhile (no retry on top), and fails with both when both fail', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable, flush }) => {
      const { balancer, log } = recording();
      const runs: Record<string, Observable<string>> = {
        a: cold('30ms #', undefined, boom()),
        b: cold('40ms (v|)', { v: 'b' }),
      };
      const result = call$(balancer, (i) => runs[i.id]!, {
        hedge: { afterMs: 20, maxExtraLoadRatio: 1 },
        retry: { attempts: 1, budget: false },
        scheduler: ts,
      });
      expectObservable(result).toBe('60ms (v|)', { v: 'b' });
      flush();
      expect(log).toEqual(['start a', 'start b', 'end a fail', 'end b ok']);
    });
    const ts2 = testScheduler();
    ts2.run(({ cold, expectObservable }) => {
      const { balancer } = recording();
      const result = call$(balancer, () => cold('30ms #', undefined, boom()), {
        hedge: { afterMs: 20, maxExtraLoadRatio: 1 },
        retry: { attempts: 1, budget: false },
        scheduler: ts2,
      });
      expectObservable(result).toBe(
        '50ms #',
        undefined,
        expect.objectContaining({ reason: 'attempts', attempts: expect.any(Array) }),
      );
    });
  });

  it('cancels every attempt in flight when the caller unsubscribes', () => {
    const ts = testScheduler();
    ts.run(({ expectObservable, flush }) => {
      const { balancer, log } = recording();
      const result = call$(balancer, () => NEVER, {
        hedge: { afterMs: 10, max: 2, maxExtraLoadRatio: 2 },
        retry: { budget: false },
        scheduler: ts,
      });
      expectObservable(result, '^ 25ms !').toBe('');
      flush();
      expect(log).toEqual([
        'start a',
        'start b',
        'start c',
        'end a cancelled',
        'end b cancelled',
        'end c cancelled',
      ]);
    });
  });

  it('never adds more than maxExtraLoadRatio of the calls', () => {
    const ts = testScheduler();
    ts.run(({ cold, flush }) => {
      const { balancer, log } = recording();
      let done = 0;
      // 200 calls whose every first attempt is slow: only 5 % of them may be hedged.
      for (let k = 0; k < 200; k++) {
        call$(balancer, () => cold('50ms (v|)', { v: k }), {
          hedge: { afterMs: 10, maxExtraLoadRatio: 0.05 },
          retry: { budget: false },
          scheduler: ts,
        }).subscribe(() => done++);
      }
      flush();
      expect(done).toBe(200);
      const starts = log.filter((l) => l.startsWith('start')).length;
      expect(starts - 200).toBe(10);
    });
  });

  it('draws hedges from the retry budget, and makes none when it is spent', () => {
    const ts = testScheduler();
    ts.run(({ cold, flush }) => {
      const budget = retryBudget({ ratio: 0, minPerSecond: 0.1, windowMs: 10_000, now: () => 0 });
      expect(budget.balance).toBe(1);
      const { balancer, log } = recording();
      const options: CallOptions = {
        hedge: { afterMs: 10, maxExtraLoadRatio: 1 },
        retry: { budget },
        scheduler: ts,
      };
      call$(balancer, () => cold('50ms (v|)', { v: 1 }), options).subscribe();
      flush();
      expect(log.filter((l) => l.startsWith('start'))).toHaveLength(2); // one hedge, from the budget
      expect(budget.balance).toBe(0);
      call$(balancer, () => cold('50ms (v|)', { v: 2 }), options).subscribe();
      flush();
      expect(log.filter((l) => l.startsWith('start'))).toHaveLength(3); // spent: no hedge
    });
  });

  it('with a quantile, hedges only once it knows the latencies, then after about that quantile', () => {
    const ts = testScheduler();
    ts.run(({ cold, flush }) => {
      const { balancer, log } = recording([a, b]);
      const options: CallOptions = {
        hedge: { quantile: 0.9, maxExtraLoadRatio: 1 },
        retry: { budget: false },
        scheduler: ts,
      };
      // 19 calls: too few to know a quantile, no hedge even for a slow one.
      for (let k = 0; k < 19; k++) {
        call$(balancer, () => cold('10ms (v|)', { v: k }), options).subscribe();
        flush();
      }
      call$(balancer, () => cold('100ms (v|)', { v: 'slow' }), options).subscribe();
      flush();
      expect(log.filter((l) => l.startsWith('start'))).toHaveLength(20);
      log.length = 0;
      // Now 20 latencies, 19 of 10 ms: the 0.9 quantile is 10 ms (within 5 %).
      const runs: Record<string, Observable<string>> = {
        a: cold('100ms (v|)', { v: 'slow a' }),
        b: cold('1ms (v|)', { v: 'b' }),
      };
      const t0 = ts.now();
      let got: [string, number] | undefined;
      call$(balancer, (i) => runs[i.id]!, options).subscribe((v) => {
        got = [v, ts.now() - t0];
      });
      flush();
      // hedged at the 0.9 quantile, 10 ms within 5 % (a bucket's upper bound), b answers 1 ms later
      expect(got?.[0]).toBe('b');
      expect(got?.[1]).toBeGreaterThanOrEqual(11);
      expect(got?.[1]).toBeLessThanOrEqual(11.5);
      expect(log[0]).toBe('start a');
      expect(log[1]).toBe('start b');
    });
  });

  it('hedges up to max times, each on an instance not tried yet', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable, flush }) => {
      const { balancer, log } = recording();
      const runs: Record<string, Observable<string>> = {
        a: cold('100ms (v|)', { v: 'a' }),
        b: cold('100ms (v|)', { v: 'b' }),
        c: cold('5ms (v|)', { v: 'c' }),
      };
      const result = call$(balancer, (i) => runs[i.id]!, {
        hedge: { afterMs: 10, max: 2, maxExtraLoadRatio: 2 },
        retry: { budget: false },
        scheduler: ts,
      });
      expectObservable(result).toBe('25ms (v|)', { v: 'c' });
      flush();
      expect(log).toEqual([
        'start a',
        'start b',
        'start c',
        'end c ok',
        'end a cancelled',
        'end b cancelled',
      ]);
    });
  });

  it('checks its options at the call, in the one wording', () => {
    const { balancer } = recording();
    const fn = () => NEVER;
    const bad: [CallOptions['hedge'], RegExp][] = [
      [{}, /hedge must set one of afterMs and quantile \(got neither\)/],
      [{ afterMs: 10, quantile: 0.9 }, /got both/],
      [{ afterMs: 0 }, /hedge\.afterMs must be a number of ms > 0 \(got 0\)/],
      [{ quantile: 1 }, /hedge\.quantile must be a number > 0 and <= 0\.999 \(got 1\)/],
      [{ afterMs: 10, max: 0 }, /hedge\.max must be an integer from 1 to 10 \(got 0\)/],
      [
        { afterMs: 10, maxExtraLoadRatio: 20 },
        /hedge\.maxExtraLoadRatio must be a number from 0 to 10 \(got 20\)/,
      ],
      [
        'soon' as never,
        /hedge must be \{ afterMs \| quantile, max, maxExtraLoadRatio \} \(got 'soon'\)/,
      ],
    ];
    for (const [hedge, message] of bad) {
      let thrown: unknown;
      try {
        call$(balancer, fn, { hedge });
      } catch (e) {
        thrown = e;
      }
      expect(isConfigError(thrown), String(hedge)).toBe(true);
      expect((thrown as Error).message).toMatch(message);
    }
    expect(isCallError(undefined)).toBe(false);
  });

  it('reads a quantile of recent latencies within 5 % above the exact one (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.05, max: 60_000, noNaN: true }), {
          minLength: 40,
          maxLength: 400,
        }),
        fc.constantFrom(0.5, 0.9, 0.95, 0.99),
        (latencies, q) => {
          const w = new LatencyWindow(0);
          for (const l of latencies) w.record(l, 1);
          const got = w.quantile(q, 2);
          const sorted = [...latencies].sort((x, y) => x - y);
          const exact = sorted[Math.ceil(q * sorted.length) - 1]!;
          if (sorted.length < Math.max(20, Math.ceil(2 / (1 - q) - 1e-9))) {
            expect(got).toBeUndefined();
            return;
          }
          expect(got).toBeGreaterThanOrEqual(exact * (1 - 1e-9));
          expect(got).toBeLessThanOrEqual(exact * 1.05 * (1 + 1e-9));
        },
      ),
    );
  });

  it('forgets latencies older than two windows (10 to 20 s)', () => {
    const w = new LatencyWindow(0);
    for (let k = 0; k < 50; k++) w.record(100, 1);
    expect(w.quantile(0.5, 5_000)).toBeCloseTo(100, -1);
    expect(w.quantile(0.5, 15_000)).toBeDefined(); // the previous window still counts
    expect(w.count).toBe(50);
    expect(w.quantile(0.5, 25_000)).toBeUndefined();
    expect(w.count).toBe(0);
  });
});
