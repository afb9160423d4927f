import fc from 'fast-check';
import { type OperatorFunction, Subject, type Subscription } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { isConfigError } from '../../../src/core/errors.js';
import { applyChanges, type InstanceSet } from '../../../src/core/instance-set.js';
import type { Balancer } from '../../../src/operators/balancers/balancer.js';
import { ewma } from '../../../src/operators/balancers/ewma.js';
import { leastRequest } from '../../../src/operators/balancers/least-request.js';
import { random } from '../../../src/operators/balancers/random.js';
import { weightedRoundRobin } from '../../../src/operators/balancers/weighted-round-robin.js';
import type { WeightPolicy } from '../../../src/operators/balancers/weights.js';
import { slowStart, slowStartFactor } from '../../../src/operators/slow-start.js';
import { inst, mulberry32, setOf, tally } from './fixtures.js';

/** A virtual clock that runs scheduled actions only when told to. */
const clock = (): TestScheduler => {
  const s = new TestScheduler(() => undefined);
  s.maxFrames = Number.POSITIVE_INFINITY;
  return s;
};

/** Advances `s` to virtual time `t`, running the timers due meanwhile. */
const advanceTo = (s: TestScheduler, t: number): void => {
  s.schedule(() => undefined, t - s.now());
  s.maxFrames = t;
  s.flush();
  s.maxFrames = Number.POSITIVE_INFINITY;
};

/** Subscribes a balancer pipeline to a subject of sets; `latest()` is the latest balancer. */
const harness = (operator: OperatorFunction<InstanceSet, Balancer>) => {
  const sets = new Subject<InstanceSet>();
  let latest: Balancer | undefined;
  const subscription: Subscription = sets.pipe(operator).subscribe((b) => {
    latest = b;
  });
  return { sets, latest: () => latest!, subscription };
};

const a = inst('a');
const b = inst('b');
const c = inst('c');

describe('slowStartFactor()', () => {
  it("is Envoy's curve: max(min, (max(t, 1) / window) ^ (1 / aggression)), 1 after the window", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 200_000, noNaN: true }),
        fc.double({ min: 1, max: 100_000, noNaN: true }),
        fc.double({ min: 0.1, max: 10, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (elapsed, window, aggression, min) => {
          const f = slowStartFactor(elapsed, window, 1 / aggression, min);
          const expected =
            elapsed >= window
              ? 1
              : Math.max(min, (Math.max(elapsed, 1) / window) ** (1 / aggression));
          expect(f).toBeCloseTo(expected, 12);
          expect(f).toBeGreaterThanOrEqual(Math.min(min, 1));
          expect(f).toBeLessThanOrEqual(1);
          // never decreases with time
          expect(slowStartFactor(elapsed + 10, window, 1 / aggression, min)).toBeGreaterThanOrEqual(
            f - 1e-12,
          );
        },
      ),
    );
  });
});

describe('slowStart() with weightedRoundRobin()', () => {
  it('ramps an instance that joins later along the curve; the first set is at full weight', () => {
    const s = clock();
    const policy = slowStart({ windowMs: 1000, refreshMs: 10, scheduler: s });
    const h = harness(weightedRoundRobin({ weights: policy }));
    const s0 = setOf(a, b);
    h.sets.next(s0);
    expect(tally(() => h.latest().pick(), 100)).toEqual({ a: 50, b: 50 });
    advanceTo(s, 5000);
    h.sets.next(applyChanges(s0, [c], [])); // c joins at t = 5000
    // at the start: c weighs minWeightRatio (0.1) of 1
    const share = (): number => (tally(() => h.latest().pick(), 2100).c ?? 0) / 2100;
    expect(share()).toBeCloseTo(0.1 / 2.1, 2);
    for (const t of [250, 500, 750]) {
      advanceTo(s, 5000 + t);
      const f = Math.max(0.1, t / 1000);
      expect(share()).toBeCloseTo(f / (2 + f), 2);
    }
    advanceTo(s, 6010);
    expect(share()).toBeCloseTo(1 / 3, 2);
    h.subscription.unsubscribe();
  });

  it('follows aggression: (t / window) ^ (1 / aggression)', () => {
    const s = clock();
    const h = harness(
      weightedRoundRobin({ weights: slowStart({ windowMs: 1000, aggression: 2, scheduler: s }) }),
    );
    const s0 = setOf(a);
    h.sets.next(s0);
    h.sets.next(applyChanges(s0, [b], [])); // at t = 0
    advanceTo(s, 250);
    const f = Math.sqrt(0.25); // 0.5
    const counts = tally(() => h.latest().pick(), 1500);
    expect(counts.b! / 1500).toBeCloseTo(f / (1 + f), 2);
    h.subscription.unsubscribe();
  });

  it('ramps from the registration time the registry gives, even in the first set', () => {
    const s = clock();
    advanceTo(s, 10_000);
    const fresh = inst('c', { metadata: { 'registered-at': String(9_500) } }); // 500 ms ago
    const old = inst('a', { metadata: { 'registered-at': '1970-01-01T00:00:00.000Z' } });
    const h = harness(
      weightedRoundRobin({ weights: slowStart({ windowMs: 1000, refreshMs: 10, scheduler: s }) }),
    );
    h.sets.next(setOf(old, b, fresh));
    const counts = tally(() => h.latest().pick(), 2500);
    expect(counts.c! / 2500).toBeCloseTo(0.5 / 2.5, 2);
    expect(counts.a).toBe(counts.b);
    h.subscription.unsubscribe();
  });

  it('ramps again an instance that comes back to UP', () => {
    const s = clock();
    const h = harness(
      weightedRoundRobin({ weights: slowStart({ windowMs: 1000, refreshMs: 10, scheduler: s }) }),
    );
    const s0 = setOf(a, b);
    h.sets.next(s0);
    advanceTo(s, 3000);
    const s1 = applyChanges(s0, [inst('b', { status: 'DOWN' })], []);
    h.sets.next(s1);
    h.sets.next(applyChanges(s1, [b], [])); // UP again at t = 3000
    advanceTo(s, 3500);
    const counts = tally(() => h.latest().pick(), 1500);
    expect(counts.b! / 1500).toBeCloseTo(0.5 / 1.5, 2);
    h.subscription.unsubscribe();
  });

  it('keeps no timer once the ramps are over, nor after unsubscribe', () => {
    const s = clock();
    const h = harness(
      weightedRoundRobin({ weights: slowStart({ windowMs: 1000, refreshMs: 100, scheduler: s }) }),
    );
    const s0 = setOf(a);
    h.sets.next(s0);
    expect(s.actions.length).toBe(0); // nothing ramps
    h.sets.next(applyChanges(s0, [b], []));
    expect(s.actions.length).toBe(1);
    advanceTo(s, 1200);
    expect(s.actions.length).toBe(0); // the ramp ended, the timer stopped
    h.sets.next(applyChanges(h.latest().set, [c], []));
    expect(s.actions.length).toBe(1);
    h.subscription.unsubscribe();
    expect(s.actions.length).toBe(0);
  });

  it.each<[string, (w: WeightPolicy, s: TestScheduler) => OperatorFunction<InstanceSet, Balancer>]>(
    [
      ['random', (w) => random({ weights: w, random: mulberry32(7) })],
      ['leastRequest', (w) => leastRequest({ weights: w, random: mulberry32(7) })],
      // on the same clock, so that every idle cost decays alike
      ['ewma', (w, s) => ewma({ weights: w, random: mulberry32(7), scheduler: s })],
    ],
  )('applies to %s: an idle new instance gets about its ramped share', (_name, balancer) => {
    const s = clock();
    const h = harness(balancer(slowStart({ windowMs: 1000, refreshMs: 10, scheduler: s }), s));
    const s0 = setOf(a, b, c);
    h.sets.next(s0);
    const d = inst('d');
    h.sets.next(applyChanges(s0, [d], []));
    advanceTo(s, 200);
    const n = 20_000;
    const counts = tally(() => h.latest().pick(), n);
    // random: 0.2 / 3.2; the two-choice balancers draw by weight, then
    // keep the first of two idle candidates: the same share
    expect(Math.abs(counts.d! / n - 0.2 / 3.2)).toBeLessThan(0.01);
    advanceTo(s, 1100);
    const after = tally(() => h.latest().pick(), n);
    expect(Math.abs(after.d! / n - 0.25)).toBeLessThan(0.015);
    h.subscription.unsubscribe();
  });

  it('checks its options with the one wording', () => {
    const error = (() => {
      try {
        slowStart({ windowMs: 0 });
      } catch (e) {
        return e;
      }
    })();
    expect(isConfigError(error)).toBe(true);
    expect((error as Error).message).toContain('windowMs must be a number of ms > 0 (got 0)');
    expect(() => slowStart({ minWeightRatio: 2 })).toThrow(
      /minWeightRatio must be a number from 0 to 1 \(got 2\)/,
    );
    expect(() => slowStart({ aggression: -1 })).toThrow(/aggression must be a number > 0/);
    expect(() => weightedRoundRobin({ weights: {} as WeightPolicy })).toThrow(
      /weights must be a weight policy/,
    );
  });
});

describe("the issue 16 operators in 'rxdisco'", () => {
  it('are exported, each defined', async () => {
    const rxdisco: Record<string, unknown> = await import('../../../src/index.js');
    for (const name of [
      'slowStart',
      'slowStartFactor',
      'REGISTERED_AT_METADATA',
      'loadReported',
      'parseLoadReport',
      'loadWeight',
      'LOAD_REPORT_HEADER',
      'byLocality',
      'tierLoads',
      'subset',
      'rendezvousScore',
    ]) {
      expect(rxdisco[name], name).toBeDefined();
    }
  });
});
