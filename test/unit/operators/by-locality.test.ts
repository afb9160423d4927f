import fc from 'fast-check';
import { map, Subject, throwError } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { Instance, InstanceStatus } from '../../../src/core/instance.js';
import { applyChanges, type InstanceSet, restale } from '../../../src/core/instance-set.js';
import { weightedRoundRobin } from '../../../src/operators/balancers/weighted-round-robin.js';
import { byLocality, tierLoads } from '../../../src/operators/by-locality.js';
import { panicGuard } from '../../../src/operators/panic-guard.js';
import { inst, setOf, staleSince, tally, testScheduler } from './fixtures.js';

const zoneOf = (zone: string, n: number, down = 0, region?: string): Instance[] =>
  Array.from({ length: n }, (_, k) =>
    inst(`${zone}-${k}`, {
      zone,
      status: (k < down ? 'DOWN' : 'UP') as InstanceStatus,
      ...(region === undefined ? {} : { metadata: { region } }),
    }),
  );

/** The latest output of `byLocality(options)` for each set pushed. */
const run = (options: Parameters<typeof byLocality>[0]) => {
  const sets = new Subject<InstanceSet>();
  const out: InstanceSet[] = [];
  const subscription = sets.pipe(byLocality(options)).subscribe((s) => out.push(s));
  return { sets, out, last: () => out[out.length - 1]!, subscription };
};

/** Share of `n` weighted-round-robin picks over `set` that go to each zone. */
const zoneShares = (set: InstanceSet, n = 1000): Record<string, number> => {
  let balancer: { pick(): Instance | undefined } | undefined;
  const sets = new Subject<InstanceSet>();
  sets.pipe(weightedRoundRobin()).subscribe((b) => {
    balancer = b;
  });
  sets.next(set);
  const counts = tally(() => balancer!.pick(), n);
  const shares: Record<string, number> = {};
  for (const [id, count] of Object.entries(counts)) {
    const zone = id.split('-')[0]!;
    shares[zone] = (shares[zone] ?? 0) + count;
  }
  for (const zone of Object.keys(shares)) shares[zone] = shares[zone]! / n;
  return shares;
};

describe('tierLoads()', () => {
  it("follows Envoy's priority-load rule (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 50 })), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.double({ min: 1, max: 3, noNaN: true }),
        (tiers, op) => {
          const total = tiers.map(([u, d]) => u + d);
          const up = tiers.map(([u]) => u);
          const out = tiers.map(() => 0);
          tierLoads(up, total, op, out);
          const health = tiers.map((_, t) =>
            total[t]! > 0 ? Math.min(1, (op * up[t]!) / total[t]!) : 0,
          );
          const sum = health.reduce((x, y) => x + y, 0);
          const loads = out.reduce((x, y) => x + y, 0);
          if (sum === 0) expect(loads).toBe(0);
          else expect(loads).toBeCloseTo(1, 9);
          const scale = sum > 0 && sum < 1 ? 1 / sum : 1;
          let left = 1;
          for (let t = 0; t < tiers.length; t++) {
            expect(out[t]).toBeCloseTo(Math.min(left, health[t]! * scale), 9);
            left -= out[t]!;
          }
        },
      ),
    );
  });

  it('keeps a tier whole while 1 / overprovisioning of it is up', () => {
    const out = [0, 0];
    tierLoads([8, 10], [10, 10], 1.4, out); // 80 % up > 1 / 1.4
    expect(out).toEqual([1, 0]);
    tierLoads([5, 10], [10, 10], 1.4, out);
    expect(out[0]).toBeCloseTo(0.7, 12);
    expect(out[1]).toBeCloseTo(0.3, 12);
  });
});

describe('byLocality()', () => {
  it('sheds traffic from the zone gradually as its healthy share falls', () => {
    const h = run({ zone: 'a' });
    const base = [...zoneOf('a', 10), ...zoneOf('b', 10)];
    h.sets.next(setOf(...base));
    expect(zoneShares(h.last())).toEqual({ a: 1 });
    h.sets.next(setOf(...zoneOf('a', 10, 2), ...zoneOf('b', 10))); // 80 % up: all stays
    expect(zoneShares(h.last())).toEqual({ a: 1 });
    h.sets.next(setOf(...zoneOf('a', 10, 5), ...zoneOf('b', 10))); // 50 %: 70 / 30
    const half = zoneShares(h.last());
    expect(half.a).toBeCloseTo(0.7, 2);
    expect(half.b).toBeCloseTo(0.3, 2);
    expect(h.last().instances.every((i) => i.status === 'UP')).toBe(true);
    h.sets.next(setOf(...zoneOf('a', 10, 10), ...zoneOf('b', 10))); // zone down: all leaves
    expect(zoneShares(h.last())).toEqual({ b: 1 });
    h.subscription.unsubscribe();
  });

  it('has a region tier between the zone and the rest', () => {
    const h = run({ zone: 'a', region: 'eu' });
    h.sets.next(
      setOf(...zoneOf('a', 10, 5, 'eu'), ...zoneOf('b', 10, 0, 'eu'), ...zoneOf('c', 10, 0, 'us')),
    );
    const shares = zoneShares(h.last());
    expect(shares.a).toBeCloseTo(0.7, 2);
    expect(shares.b).toBeCloseTo(0.3, 2);
    expect(shares.c).toBeUndefined();
    // region half down too: 70 % of what is left stays in the region
    h.sets.next(
      setOf(...zoneOf('a', 10, 5, 'eu'), ...zoneOf('b', 10, 5, 'eu'), ...zoneOf('c', 10, 0, 'us')),
    );
    const both = zoneShares(h.last(), 2000);
    expect(both.a).toBeCloseTo(0.7, 2);
    expect(both.b).toBeCloseTo(0.3, 2);
    h.sets.next(
      setOf(...zoneOf('a', 10, 8, 'eu'), ...zoneOf('b', 10, 8, 'eu'), ...zoneOf('c', 10, 0, 'us')),
    );
    const far = zoneShares(h.last(), 2000); // 0.28, then 0.28 of 0.72, the rest to c
    expect(far.a).toBeCloseTo(0.28, 2);
    expect(far.b).toBeCloseTo(0.28, 2);
    expect(far.c).toBeCloseTo(0.44, 2);
    h.subscription.unsubscribe();
  });

  it("keeps each instance's own weight within its tier", () => {
    const h = run({ zone: 'a' });
    h.sets.next(
      setOf(
        inst('a-0', { zone: 'a', weight: 3 }),
        inst('a-1', { zone: 'a', weight: 1 }),
        inst('a-2', { zone: 'a', status: 'DOWN' }),
        inst('a-3', { zone: 'a', status: 'DOWN' }),
        inst('b-0', { zone: 'b' }),
      ),
    );
    const w = Object.fromEntries(h.last().instances.map((i) => [i.id, i.weight]));
    expect(w['a-0']! / w['a-1']!).toBeCloseTo(3, 9);
    expect((w['a-0']! + w['a-1']!) / (w['a-0']! + w['a-1']! + w['b-0']!)).toBeCloseTo(0.7, 9);
    h.subscription.unsubscribe();
  });

  it('passes every instance when none is UP (panic), and keeps staleness', () => {
    const h = run({ zone: 'a' });
    const s0 = setOf(...zoneOf('a', 2, 2), ...zoneOf('b', 2, 2));
    h.sets.next(s0);
    expect(h.last().size).toBe(4);
    h.sets.next(restale(s0, staleSince(5)));
    expect(h.last().stale).toBe(true);
    expect(h.out).toHaveLength(2);
    h.sets.next(s0); // nothing changed in effect but the staleness
    expect(h.last().stale).toBe(false);
    h.subscription.unsubscribe();
  });

  it('emits only when its output changed in effect', () => {
    const h = run({ zone: 'a' });
    const s0 = setOf(...zoneOf('a', 3), ...zoneOf('b', 3));
    h.sets.next(s0);
    h.sets.next(applyChanges(s0, [inst('b-9', { zone: 'b' })], [])); // b gets no traffic
    expect(h.out).toHaveLength(1);
    // the zone has all the traffic: its instances pass as they are
    expect(h.last().instances).toEqual(s0.instances.filter((i) => i.zone === 'a'));
    expect(h.last().instances[0]).toBe(s0.get('a-0'));
    h.subscription.unsubscribe();
  });

  it('composes with panicGuard per tier: a tier losing most of its instances at once is held', () => {
    const scheduler = new TestScheduler(() => undefined);
    const refused: number[] = [];
    const h = run({
      zone: 'a',
      perTier: panicGuard({ holdMs: 1000, scheduler, onRefused: (r) => refused.push(r.dropped) }),
    });
    const all = [...zoneOf('a', 4), ...zoneOf('b', 12)];
    const s0 = setOf(...all);
    h.sets.next(s0);
    // 3 of zone a's 4 vanish: 3 of 16 (19 %) for the whole set, 75 % for the tier
    h.sets.next(applyChanges(s0, [], ['a-0', 'a-1', 'a-2']));
    expect(refused).toEqual([3]);
    expect(zoneShares(h.last())).toEqual({ a: 1 });
    h.subscription.unsubscribe();
  });

  it('forwards the source, and releases the tier operators (their timers) on teardown', () => {
    const s0 = setOf(...zoneOf('a', 4), ...zoneOf('b', 4));
    const s1 = applyChanges(s0, [], ['a-0', 'a-1', 'a-2']); // refused by zone a's guard
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const source = cold('a-b---|', { a: s0, b: s1 });
      const out = source.pipe(
        byLocality({ zone: 'a', perTier: panicGuard({ holdMs: 5, onRefused: () => undefined }) }),
        map((set) => set.instances.map((i) => i.id).join(',')),
      );
      expectObservable(out).toBe('x-----|', { x: 'a-0,a-1,a-2,a-3' });
      expectSubscriptions(source.subscriptions).toBe('^-----!');
    });
    // the hold timer of zone a's guard is gone with the subscription
    const scheduler = new TestScheduler(() => undefined);
    const sets = new Subject<InstanceSet>();
    const subscription = sets
      .pipe(
        byLocality({
          zone: 'a',
          perTier: panicGuard({ holdMs: 5, scheduler, onRefused: () => undefined }),
        }),
      )
      .subscribe();
    sets.next(s0);
    sets.next(s1);
    expect(scheduler.actions.length).toBe(1);
    subscription.unsubscribe();
    expect(scheduler.actions.length).toBe(0);
  });

  it('errors when a tier operator errors', () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const source = cold('a', { a: setOf(...zoneOf('a', 2)) });
      const boom = new Error('tier operator failed');
      expectObservable(
        source.pipe(
          byLocality({
            zone: 'a',
            perTier: () => throwError(() => boom),
          }),
        ),
      ).toBe('#', undefined, boom);
    });
  });

  it('checks its options with the one wording', () => {
    expect(() => byLocality({ zone: '' })).toThrow(/zone must be a non-empty zone name/);
    expect(() => byLocality({ zone: 'a', overprovisioning: 0.5 })).toThrow(
      /overprovisioning must be a number >= 1 \(got 0.5\)/,
    );
  });
});
