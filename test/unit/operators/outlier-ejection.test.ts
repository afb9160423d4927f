import { map, Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { applyChanges, type InstanceSet } from '../../../src/core/instance-set.js';
import { leastRequest } from '../../../src/operators/balancers/least-request.js';
import {
  createOutlierDetector,
  type OutlierEvent,
} from '../../../src/operators/outlier-ejection.js';
import { withTags } from '../../../src/operators/with-tags.js';
import { inst, setOf, shape, staleSince, testScheduler } from './fixtures.js';

const a = inst('a');
const b = inst('b');
const c = inst('c');
const d = inst('d');
const fail = { ok: false, latencyMs: 1 };
const ok = { ok: true, latencyMs: 1 };

describe('createOutlierDetector()', () => {
  it('ejects after K consecutive failures, brings the instance back, and doubles repeat ejections', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const detector = createOutlierDetector({
        consecutiveFailures: 2,
        baseEjectionMs: 10,
        maxEjectionMs: 100,
        scheduler: ts,
      });
      const events: string[] = [];
      detector.events$.subscribe((e) => events.push(`${e.type} ${e.instance.id}`));
      const sets = cold('s', { s: setOf(a, b, c, d) });
      ts.schedule(() => {
        detector.report(a, fail);
        detector.report(a, ok); // a success resets the count
        detector.report(a, fail);
        expect(detector.isEjected(a)).toBe(false);
        detector.report(a, fail);
        expect(detector.isEjected(a)).toBe(true);
      }, 5);
      ts.schedule(() => {
        detector.report(a, fail);
        detector.report(a, fail);
      }, 20);
      expectObservable(sets.pipe(detector.operator(), map(shape))).toBe(
        's 4ms t 9ms s 4ms t 19ms s',
        { s: 'a,b,c,d', t: 'b,c,d' },
      );
      ts.flush();
      expect(events).toEqual(['ejected a', 'ejected a']);
    });
  });

  it('never ejects more than maxEjectedRatio of the set, nor the last instance', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const detector = createOutlierDetector({
        consecutiveFailures: 1,
        baseEjectionMs: 100,
        maxEjectedRatio: 0.5,
        scheduler: ts,
      });
      const events: OutlierEvent[] = [];
      detector.events$.subscribe((e) => events.push(e));
      const sets = cold('s', { s: setOf(a, b, c, d) });
      ts.schedule(() => {
        for (const i of [a, b, c]) detector.report(i, fail);
      }, 1);
      expectObservable(sets.pipe(detector.operator(), map(shape)), '^ 10ms !').toBe('s(tu)', {
        s: 'a,b,c,d',
        t: 'b,c,d',
        u: 'c,d',
      });
      ts.flush();
      expect(events.map((e) => `${e.type} ${e.instance.id}`)).toEqual([
        'ejected a',
        'ejected b',
        'refused c',
      ]);
      expect(events[2]).toMatchObject({ ejected: 2, size: 4 });
    });
    const ts2 = testScheduler();
    ts2.run(({ cold, expectObservable }) => {
      const detector = createOutlierDetector({ consecutiveFailures: 1, scheduler: ts2 });
      const sets = cold('s', { s: setOf(a, b) });
      ts2.schedule(() => {
        detector.report(a, fail);
        detector.report(b, fail); // 1 of 2 at most
      }, 1);
      expectObservable(sets.pipe(detector.operator(), map(shape)), '^ 10ms !').toBe('st', {
        s: 'a,b',
        t: 'b',
      });
    });
  });

  it('ejects on a failure ratio over a window', () => {
    const ts = testScheduler();
    ts.run(({ cold, flush }) => {
      const detector = createOutlierDetector({
        consecutiveFailures: 1000,
        failureRatio: 0.5,
        minimumCalls: 4,
        windowMs: 100,
        scheduler: ts,
      });
      cold('s', { s: setOf(a, b, c, d) })
        .pipe(detector.operator())
        .subscribe();
      ts.schedule(() => {
        detector.report(a, fail);
        detector.report(a, ok);
        detector.report(a, fail);
        expect(detector.isEjected(a)).toBe(false); // 3 calls: below minimumCalls
        detector.report(a, ok);
        expect(detector.isEjected(a)).toBe(false); // 2/4 failed, but the last call succeeded
        detector.report(a, fail); // 3/5 >= 0.5
        expect(detector.isEjected(a)).toBe(true);
      }, 1);
      flush();
    });
  });

  it('keeps deltas so that balancer state survives, and follows input changes and staleness', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable, flush }) => {
      const detector = createOutlierDetector({
        consecutiveFailures: 1,
        baseEjectionMs: 50,
        scheduler: ts,
      });
      const s0 = setOf(a, b, c);
      const s1 = applyChanges(s0, [d], []);
      const s2 = applyChanges(s1, [], [], staleSince(0));
      const sets = cold('x 9ms y 9ms z', { x: s0, y: s1, z: s2 });
      ts.schedule(() => detector.report(b, fail), 5);
      const out = sets.pipe(detector.operator());
      const seen: ReturnType<typeof setOf>[] = [];
      out.subscribe((s) => seen.push(s));
      expectObservable(out.pipe(map(shape))).toBe('x 4ms e 4ms y 9ms z 34ms w', {
        x: 'a,b,c',
        e: 'a,c',
        y: 'a,c,d',
        z: 'a,c,d (stale)',
        w: 'a,b,c,d (stale)',
      });
      flush();
      expect(seen[1]!.delta).toMatchObject({ from: seen[0]!.version, removed: [b] });
      expect(seen[4]!.delta).toMatchObject({ from: seen[3]!.version, added: [b] });
    });
  });

  it('works under a balancer: the ejected instance is not picked', () => {
    const ts = testScheduler();
    ts.run(({ cold, flush }) => {
      const detector = createOutlierDetector({ consecutiveFailures: 1, scheduler: ts });
      const picks: string[] = [];
      cold('s', { s: setOf(a, b) })
        .pipe(detector.operator(), leastRequest())
        .subscribe((lb) => {
          for (let k = 0; k < 20; k++) picks.push(lb.pick()!.id);
        });
      ts.schedule(() => detector.report(a, fail), 1);
      flush();
      expect(new Set(picks.slice(20, 40))).toEqual(new Set(['b']));
      expect(picks).toHaveLength(60); // and a came back after its ejection
    });
  });

  it('releases its timers on unsubscribe', () => {
    const ts = testScheduler();
    ts.run(({ cold, expectObservable }) => {
      const detector = createOutlierDetector({
        consecutiveFailures: 1,
        baseEjectionMs: 5,
        scheduler: ts,
      });
      ts.schedule(() => detector.report(a, fail), 1);
      expectObservable(
        cold('s', { s: setOf(a, b) }).pipe(detector.operator(), map(shape)),
        '^ 3ms !',
      ).toBe('st', { s: 'a,b', t: 'b' });
    });
    expect(() => createOutlierDetector({ maxEjectedRatio: 2 })).toThrow(
      'maxEjectedRatio must be a number from 0 to 1 (got 2)',
    );
    expect(() => createOutlierDetector({ failureRatio: -1 })).toThrow(/failureRatio must be/);
    expect(() => createOutlierDetector({ windowMs: 0 })).toThrow(
      /windowMs must be a number of ms > 0/,
    );
    expect(() => createOutlierDetector({ consecutiveFailures: 0 })).toThrow(/consecutiveFailures/);
  });

  it('keeps state only for the instances of its subscribed sets: churn stays bounded', () => {
    const ts = testScheduler();
    ts.run(() => {
      const detector = createOutlierDetector({ consecutiveFailures: 3, scheduler: ts });
      const sets = new Subject<InstanceSet>();
      const sub = sets.pipe(detector.operator()).subscribe();
      let set = setOf(inst('seed-0'), inst('seed-1'));
      sets.next(set);
      let peak = 0;
      for (let k = 0; k < 10_000; k++) {
        // every update brings a new instance and drops the oldest one
        const joining = inst(`i-${k}`);
        const leaving = set.instances.find((i) => i.id !== joining.id)!;
        set =
          k % 2 === 0
            ? applyChanges(set, [joining], [leaving.id])
            : setOf(...set.instances.filter((i) => i !== leaving), joining);
        sets.next(set);
        detector.report(joining, fail);
        detector.report(leaving, fail); // a late report on an instance that left
        peak = Math.max(peak, detector.tracked);
      }
      expect(peak).toBeLessThanOrEqual(2);
      expect(detector.tracked).toBe(2);
      sub.unsubscribe();
      expect(detector.tracked).toBe(0);
    });
  });

  it('caps ejections per pipeline: two differently filtered pipelines of one service', () => {
    const ts = testScheduler();
    ts.run(({ cold, flush }) => {
      const v1 = ['p', 'q'].map((id) => inst(id, { tags: ['v1'] }));
      const v2 = ['w', 'x', 'y', 'z'].map((id) => inst(id, { tags: ['v2'] }));
      const all = cold('s', { s: setOf(...v1, ...v2) });
      const detector = createOutlierDetector({ consecutiveFailures: 1, scheduler: ts });
      const events: string[] = [];
      detector.events$.subscribe((e) => events.push(`${e.type} ${e.instance.id}`));
      const big: string[] = [];
      const small: string[] = [];
      // the big pipeline subscribes first, so a cap keyed by service would be the small one's
      all.pipe(withTags('v2'), detector.operator(), map(shape)).subscribe((s) => big.push(s));
      all.pipe(withTags('v1'), detector.operator(), map(shape)).subscribe((s) => small.push(s));
      ts.schedule(() => {
        for (const i of v2) detector.report(i, fail); // 2 of 4 may go
        for (const i of v1) detector.report(i, fail); // 1 of 2 may go
      }, 1);
      flush();
      expect(events).toEqual([
        'ejected w',
        'ejected x',
        'refused y',
        'refused z',
        'ejected p',
        'refused q',
      ]);
      // each ejection ends after baseEjectionMs: everyone comes back
      expect(big).toEqual(['w,x,y,z', 'x,y,z', 'y,z', 'w,x,y,z']);
      expect(small).toEqual(['p,q', 'q', 'p,q']);
    });
  });
});
