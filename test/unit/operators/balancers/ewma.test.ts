import { describe, expect, it } from 'vitest';
import { applyChanges, emptySet } from '../../../../src/core/instance-set.js';
import type { Outcome } from '../../../../src/operators/balancers/balancer.js';
import { ewma } from '../../../../src/operators/balancers/ewma.js';
import { inst, mulberry32, REGISTRY, setOf, tally } from '../fixtures.js';
import { drive, picks } from './helpers.js';

const a = inst('a');
const b = inst('b');
const c = inst('c');

/** A clock the test moves by hand. */
const clock = () => {
  let t = 0;
  return {
    now: () => t,
    advance: (ms: number): void => {
      t += ms;
    },
  };
};

const observe = (
  lb: {
    started(i: typeof a): void;
    finished(i: typeof a, o: Outcome): void;
  },
  i: typeof a,
  latencyMs: number,
  ok = true,
) => {
  lb.started(i);
  lb.finished(i, { ok, latencyMs });
};

describe('ewma()', () => {
  it('prefers the instance with the lower observed latency', () => {
    const t = clock();
    const lb = drive(ewma({ now: t.now, random: mulberry32(1) })).push(setOf(a, b));
    observe(lb, a, 100);
    observe(lb, b, 5);
    expect(new Set(picks(lb, 50))).toEqual(new Set(['b']));
  });

  it('peaks at once on a slow response and decays back with time', () => {
    const t = clock();
    const lb = drive(ewma({ now: t.now, random: mulberry32(2), decayMs: 1000 })).push(setOf(a, b));
    observe(lb, a, 10);
    observe(lb, b, 20);
    expect(new Set(picks(lb, 20))).toEqual(new Set(['a']));
    observe(lb, a, 500); // one slow response: a's cost is 500 at once
    expect(new Set(picks(lb, 20))).toEqual(new Set(['b']));
    // Fast responses pull it down only as time passes.
    t.advance(100);
    observe(lb, a, 10);
    expect(new Set(picks(lb, 20))).toEqual(new Set(['b']));
    t.advance(5000);
    observe(lb, a, 10);
    observe(lb, b, 20);
    expect(new Set(picks(lb, 20))).toEqual(new Set(['a']));
  });

  it('lets an idle slow instance decay so that it is tried again', () => {
    const t = clock();
    const lb = drive(ewma({ now: t.now, random: mulberry32(3), decayMs: 1000 })).push(setOf(a, b));
    observe(lb, a, 1000);
    observe(lb, b, 50);
    expect(new Set(picks(lb, 20))).toEqual(new Set(['b']));
    t.advance(4000); // idle a decays: 1000·e^-4 ≈ 18
    observe(lb, b, 50); // b observed now: 50
    expect(new Set(picks(lb, 20))).toEqual(new Set(['a']));
  });

  it('multiplies the cost by the calls in flight', () => {
    const t = clock();
    const lb = drive(ewma({ now: t.now, random: mulberry32(4) })).push(setOf(a, b));
    observe(lb, a, 10);
    observe(lb, b, 25);
    lb.started(a);
    lb.started(a); // a: 10·3 = 30 > b: 25·1
    expect(new Set(picks(lb, 20))).toEqual(new Set(['b']));
    lb.finished(a, { ok: true, latencyMs: 10 });
    expect(new Set(picks(lb, 20))).toEqual(new Set(['a'])); // 10·2 = 20 < 25
  });

  it('learns no latency from a cancelled call, but counts it out of the calls in flight', () => {
    const t = clock();
    const lb = drive(ewma({ now: t.now, random: mulberry32(9) })).push(setOf(a, b));
    observe(lb, b, 20);
    for (let k = 0; k < 5; k++) {
      lb.started(a);
      t.advance(1);
      lb.finished(a, { cancelled: true }); // a's callers gave up after 1 ms
    }
    // a still costs its initial 30 ms, not 1 ms: b wins every pair.
    expect(new Set(picks(lb, 20))).toEqual(new Set(['b']));
    lb.started(b);
    lb.started(b); // b: 20·3 = 60 > a: 30·1, so a's in-flight count is back to 0
    expect(new Set(picks(lb, 20))).toEqual(new Set(['a']));
  });

  it('counts a failure as at least failureLatencyMs', () => {
    const t = clock();
    const lb = drive(ewma({ now: t.now, random: mulberry32(5), failureLatencyMs: 300 })).push(
      setOf(a, b),
    );
    observe(lb, a, 1, false); // fails fast
    observe(lb, b, 100);
    expect(new Set(picks(lb, 20))).toEqual(new Set(['b']));
  });

  it('divides the cost by the weight and never picks weight 0', () => {
    const t = clock();
    const heavy = inst('a', { weight: 4 });
    const zero = inst('c', { weight: 0 });
    const lb = drive(ewma({ now: t.now, random: mulberry32(6) })).push(setOf(heavy, b, zero));
    expect(lb.size).toBe(2);
    observe(lb, heavy, 40);
    observe(lb, b, 20); // 40/4 = 10 < 20
    expect(tally(() => lb.pick(), 200)).toEqual({ a: 200 });
  });

  it('keeps what it learnt across set changes, and takes the scheduler clock', () => {
    let now = 0;
    const scheduler = {
      now: () => now,
      schedule: () => {
        throw new Error('unused');
      },
    };
    const driver = drive(ewma({ scheduler: scheduler as never, random: mulberry32(7) }));
    const s0 = setOf(a, b);
    const first = driver.push(s0);
    observe(first, a, 200);
    observe(first, b, 10);
    now = 1;
    const second = driver.push(applyChanges(s0, [c], []));
    observe(second, c, 300);
    // P2C: the worst (c) is never picked, the best (b) wins every pair it is in.
    const counts = tally(() => second.pick(), 3000);
    expect(counts.c).toBeUndefined();
    expect(counts.b! / 3000).toBeCloseTo(2 / 3, 1);
  });

  it('starts new instances at initialLatencyMs', () => {
    const t = clock();
    const lb = drive(ewma({ now: t.now, random: mulberry32(8), initialLatencyMs: 1 })).push(
      setOf(a, b),
    );
    observe(lb, a, 50);
    expect(new Set(picks(lb, 20))).toEqual(new Set(['b']));
  });

  it('picks undefined from an empty set, the only one of a singleton; rejects bad options', () => {
    const driver = drive(ewma());
    expect(driver.push(emptySet('hello', REGISTRY)).pick()).toBeUndefined();
    expect(picks(driver.push(setOf(a)), 2)).toEqual(['a', 'a']);
    expect(() => ewma({ decayMs: 0 })).toThrow(
      "decayMs must be a number of ms >= 1 (got 0); fix the 'decayMs' option",
    );
    expect(() => ewma({ failureLatencyMs: -1 })).toThrow(
      /^failureLatencyMs must be a number of ms >= 0/,
    );
    expect(() => ewma({ initialLatencyMs: Number.NaN })).toThrow(/^initialLatencyMs must be/);
  });
});
