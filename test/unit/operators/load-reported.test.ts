import fc from 'fast-check';
import { Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import type { Balancer } from '../../../src/operators/balancers/balancer.js';
import { weightedRoundRobin } from '../../../src/operators/balancers/weighted-round-robin.js';
import { call } from '../../../src/operators/call.js';
import { loadWeight, parseLoadReport } from '../../../src/operators/load-report.js';
import { loadReported } from '../../../src/operators/load-reported.js';
import { slowStart } from '../../../src/operators/slow-start.js';
import { inst, setOf, tally } from './fixtures.js';

const clock = (): TestScheduler => {
  const s = new TestScheduler(() => undefined);
  s.maxFrames = Number.POSITIVE_INFINITY;
  return s;
};

const advanceTo = (s: TestScheduler, t: number): void => {
  s.schedule(() => undefined, t - s.now());
  s.maxFrames = t;
  s.flush();
  s.maxFrames = Number.POSITIVE_INFINITY;
};

const a = inst('a');
const b = inst('b');
const c = inst('c');

/** A report of `qps` at `utilization` (and `eps` errors per second). */
const report = (utilization: number, qps: number, eps = 0): string =>
  `TEXT cpu_utilization=${utilization}, rps_fractional=${qps}, eps=${eps}`;

describe('parseLoadReport()', () => {
  it("reads ORCA's text form", () => {
    expect(
      parseLoadReport(
        'TEXT cpu_utilization=0.3, mem_utilization=0.5, rps_fractional=120, eps=2, named_metrics.queue=7',
      ),
    ).toEqual({
      cpuUtilization: 0.3,
      applicationUtilization: 0,
      memUtilization: 0.5,
      rpsFractional: 120,
      eps: 2,
    });
    expect(parseLoadReport('application_utilization=0.4,rps_fractional=3')).toMatchObject({
      applicationUtilization: 0.4,
      rpsFractional: 3,
    });
  });

  it.each([
    [undefined],
    [null],
    [''],
    ['TEXT'],
    ['BIN AAECAw=='],
    ['JSON {"cpu_utilization":0.3}'],
    ['TEXT cpu_utilization=abc'],
    ['TEXT cpu_utilization=-1'],
    ['TEXT cpu_utilization='],
    ['TEXT cpu_utilization'],
    ['TEXT named_metrics.x=1'],
  ])('returns undefined for %j (a malformed report teaches nothing)', (text) => {
    expect(parseLoadReport(text)).toBeUndefined();
  });
});

describe('loadWeight()', () => {
  it('is qps / (utilization + errorPenalty × eps / qps), the application utilization first', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0.01, max: 4, noNaN: true }),
        fc.double({ min: 0.01, max: 1e5, noNaN: true }),
        fc.double({ min: 0, max: 1e4, noNaN: true }),
        fc.double({ min: 0, max: 10, noNaN: true }),
        (utilization, qps, eps, penalty) => {
          const r = parseLoadReport(report(utilization, qps, eps))!;
          expect(loadWeight(r, penalty)).toBeCloseTo(
            qps / (utilization + (penalty * eps) / qps),
            6,
          );
          const app = { ...r, applicationUtilization: utilization / 2 };
          expect(loadWeight(app, penalty)).toBeCloseTo(
            qps / (utilization / 2 + (penalty * eps) / qps),
            6,
          );
        },
      ),
    );
    const zero = parseLoadReport('TEXT cpu_utilization=0.5')!;
    expect(loadWeight(zero, 1)).toBe(0); // no qps: no usable weight
  });
});

describe('loadReported()', () => {
  const setup = (options: Parameters<typeof loadReported>[0] = {}) => {
    const s = clock();
    const load = loadReported({ refreshMs: 100, scheduler: s, ...options });
    const sets = new Subject<InstanceSet>();
    let latest: Balancer | undefined;
    const subscription = sets.pipe(weightedRoundRobin({ weights: load })).subscribe((x) => {
      latest = x;
    });
    sets.next(setOf(a, b, c));
    return { s, load, pick: () => latest!.pick(), latest: () => latest!, subscription };
  };

  it('weighs by the reports once their blackout is over: capacity 1x, 2x, 4x', () => {
    const h = setup({ blackoutMs: 1000 });
    // the same qps at utilization 0.8, 0.4, 0.2: weights 1, 2, 4 (× qps / 0.8)
    const feed = (): void => {
      h.load.reportLoad(a, report(0.8, 100));
      h.load.reportLoad(b, report(0.4, 100));
      h.load.reportLoad(c, report(0.2, 100));
    };
    feed();
    advanceTo(h.s, 500);
    feed();
    expect(tally(h.pick, 300)).toEqual({ a: 100, b: 100, c: 100 }); // in blackout
    expect(h.load.weightOf(a)).toBeUndefined();
    advanceTo(h.s, 1100);
    feed();
    expect(h.load.weightOf(b)).toBeCloseTo(250, 9);
    expect(tally(h.pick, 700)).toEqual({ a: 100, b: 200, c: 400 });
    h.subscription.unsubscribe();
  });

  it('counts errors against an instance (errorPenalty × eps / qps)', () => {
    const h = setup({ blackoutMs: 0, errorPenalty: 1 });
    h.load.reportLoad(a, report(0.5, 100, 0)); // 200
    h.load.reportLoad(b, report(0.5, 100, 50)); // 100 / (0.5 + 0.5) = 100
    h.load.reportLoad(c, report(0.5, 100, 0)); // 200
    advanceTo(h.s, 100);
    expect(tally(h.pick, 500)).toEqual({ a: 200, b: 100, c: 200 });
    h.subscription.unsubscribe();
  });

  it('gives an instance without a weight the mean of the others', () => {
    const h = setup({ blackoutMs: 0 });
    h.load.reportLoad(a, report(0.5, 100)); // 200
    h.load.reportLoad(b, report(0.25, 100)); // 400
    advanceTo(h.s, 100);
    expect(tally(h.pick, 900)).toEqual({ a: 200, b: 400, c: 300 });
    h.subscription.unsubscribe();
  });

  it('drops weights not renewed within expiryMs; new reports go through the blackout again', () => {
    const h = setup({ blackoutMs: 1000, expiryMs: 5000 });
    const feed = (): void => {
      h.load.reportLoad(a, report(0.8, 100));
      h.load.reportLoad(b, report(0.2, 100));
    };
    feed();
    advanceTo(h.s, 1000);
    feed();
    advanceTo(h.s, 1100);
    expect(tally(h.pick, 15)).toEqual({ a: 2, b: 8, c: 5 }); // c: the mean of 125 and 500
    advanceTo(h.s, 6100); // last report at 1000: expired
    expect(h.load.weightOf(a)).toBeUndefined();
    expect(tally(h.pick, 300)).toEqual({ a: 100, b: 100, c: 100 });
    feed();
    advanceTo(h.s, 6500);
    feed();
    advanceTo(h.s, 6600);
    expect(tally(h.pick, 300)).toEqual({ a: 100, b: 100, c: 100 }); // blackout again
    advanceTo(h.s, 7100);
    feed();
    advanceTo(h.s, 7200);
    expect(tally(h.pick, 15)).toEqual({ a: 2, b: 8, c: 5 });
    h.subscription.unsubscribe();
  });

  it("is fed through the balancer: an outcome's load", () => {
    const h = setup({ blackoutMs: 0 });
    h.latest().finished(a, { ok: true, latencyMs: 3, load: report(0.8, 100) });
    h.latest().finished(b, { ok: true, latencyMs: 3, load: report(0.2, 100) });
    h.latest().finished(c, { cancelled: true });
    advanceTo(h.s, 100);
    expect(h.load.weightOf(a)).toBeCloseTo(125, 9);
    expect(h.load.weightOf(b)).toBeCloseTo(500, 9);
    expect(h.load.weightOf(c)).toBeUndefined();
    h.subscription.unsubscribe();
  });

  it("is fed by call(): its loadReport option reads each answer's report", async () => {
    const h = setup({ blackoutMs: 0 });
    const headers: Record<string, string | undefined> = {
      a: report(0.8, 100),
      b: report(0.2, 100),
      c: undefined,
    };
    for (let k = 0; k < 3; k++) {
      await call(h.latest(), async (i) => ({ header: headers[i.id] }), {
        retry: 1,
        loadReport: (answer) => (answer as { header?: string }).header,
      });
    }
    expect(h.load.weightOf(a)).toBeCloseTo(125, 9);
    expect(h.load.weightOf(b)).toBeCloseTo(500, 9);
    expect(h.load.weightOf(c)).toBeUndefined();
    h.subscription.unsubscribe();
  });

  it('ignores malformed and empty reports, and keeps weights of instances in any set', () => {
    const h = setup({ blackoutMs: 0 });
    h.load.reportLoad(a, 'TEXT cpu_utilization=oops');
    h.load.reportLoad(a, null);
    h.load.reportLoad(b, 'TEXT cpu_utilization=0.5'); // no qps
    advanceTo(h.s, 100);
    expect(h.load.weightOf(a)).toBeUndefined();
    expect(h.load.weightOf(b)).toBeUndefined();
    expect(tally(h.pick, 30)).toEqual({ a: 10, b: 10, c: 10 });
    h.subscription.unsubscribe();
  });

  it('composes with slowStart (in order) and stops its refresh timer on unsubscribe', () => {
    const s = clock();
    const load = loadReported({ blackoutMs: 0, refreshMs: 100, scheduler: s });
    const sets = new Subject<InstanceSet>();
    let latest: Balancer | undefined;
    const subscription = sets
      .pipe(
        weightedRoundRobin({
          weights: [load, slowStart({ windowMs: 1000, refreshMs: 100, scheduler: s })],
        }),
      )
      .subscribe((x) => {
        latest = x;
      });
    const s0 = setOf(a, b);
    sets.next(s0);
    load.reportLoad(a, report(0.5, 100)); // 200
    load.reportLoad(b, report(0.5, 100)); // 200
    advanceTo(s, 100);
    sets.next(setOf(a, b, c)); // c: the mean (200), ramping from t = 100
    advanceTo(s, 600);
    const counts = tally(() => latest!.pick(), 2500);
    expect(counts.c! / 2500).toBeCloseTo(0.5 / 2.5, 2);
    expect(s.actions.length).toBeGreaterThan(0);
    subscription.unsubscribe();
    expect(s.actions.length).toBe(0);
  });

  it('checks its options with the one wording', () => {
    expect(() => loadReported({ blackoutMs: -1 })).toThrow(
      /blackoutMs must be a number of ms >= 0 \(got -1\)/,
    );
    expect(() => loadReported({ expiryMs: 0 })).toThrow(/expiryMs must be a number of ms > 0/);
    expect(() => loadReported({ errorPenalty: Number.NaN })).toThrow(/errorPenalty must be/);
  });
});
