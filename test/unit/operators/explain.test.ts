import { BehaviorSubject, map, of, Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { Balancer } from '../../../src/operators/balancers/balancer.js';
import { consistentHash } from '../../../src/operators/balancers/consistent-hash.js';
import { ewma } from '../../../src/operators/balancers/ewma.js';
import { leastRequest } from '../../../src/operators/balancers/least-request.js';
import { random } from '../../../src/operators/balancers/random.js';
import { roundRobin } from '../../../src/operators/balancers/round-robin.js';
import { weightedRoundRobin } from '../../../src/operators/balancers/weighted-round-robin.js';
import { byLocality } from '../../../src/operators/by-locality.js';
import { healthy } from '../../../src/operators/healthy.js';
import { live } from '../../../src/operators/live.js';
import { createOutlierDetector } from '../../../src/operators/outlier-ejection.js';
import { subset } from '../../../src/operators/subset.js';
import { inst, REGISTRY, setOf } from './fixtures.js';

const a = inst('a');
const b = inst('b');
const c = inst('c');

describe('live().explain()', () => {
  it('says nothing was picked before the first set', () => {
    const hello = live(new Subject<Balancer>());
    expect(hello.explain()).toEqual({
      service: undefined,
      registry: undefined,
      stale: false,
      size: 0,
      picked: undefined,
      balancer: undefined,
      notes: [],
    });
    hello.close();
  });

  it('names the last pick and the round-robin candidates, in a plain JSON-able object', () => {
    const hello = live(of(setOf(a, b, c)).pipe(roundRobin({ start: 'first' })));
    hello.pick();
    expect(hello.pick()?.id).toBe('b');
    const why = hello.explain();
    expect(why).toMatchObject({
      service: 'hello',
      registry: REGISTRY,
      stale: false,
      size: 3,
      picked: { id: 'b', address: 'b.example:8080' },
      balancer: {
        kind: 'roundRobin',
        candidates: [
          { id: 'a', address: 'a.example:8080', weight: 1 },
          { id: 'b', address: 'b.example:8080', weight: 1 },
          { id: 'c', address: 'c.example:8080', weight: 1 },
        ],
        detail: { next: 'c' },
      },
      notes: [],
    });
    expect(JSON.parse(JSON.stringify(why))).toEqual(why);
    hello.close();
  });

  it('gives ewma scores from the latencies it learnt, and leastRequest its calls in flight', () => {
    const hello = live(of(setOf(a, b)).pipe(ewma({ now: () => 0 })));
    hello.started(a);
    hello.finished(a, { ok: true, latencyMs: 200 });
    hello.started(b);
    hello.finished(b, { ok: true, latencyMs: 10 });
    hello.started(b); // one in flight
    const scores = Object.fromEntries(
      hello.explain().balancer?.candidates.map((x) => [x.id, [x.score, x.inFlight]]) ?? [],
    );
    expect(scores).toEqual({ a: [200, 0], b: [20, 1] }); // latency × (in flight + 1) ÷ weight
    hello.close();

    const counted = live(of(setOf(a, b)).pipe(leastRequest()));
    counted.started(a);
    counted.started(a);
    const e = counted.explain().balancer;
    expect(e?.kind).toBe('leastRequest');
    expect(e?.candidates.map((x) => x.inFlight)).toEqual([2, 0]);
    counted.close();
  });

  it('gives weights, and leaves out weight 0 with why', () => {
    const heavy = inst('a', { weight: 3 });
    const off = inst('z', { weight: 0 });
    for (const [balancer, kind] of [
      [weightedRoundRobin(), 'weightedRoundRobin'],
      [random(), 'random'],
    ] as const) {
      const hello = live(of(setOf(heavy, b, off)).pipe(balancer));
      const e = hello.explain().balancer;
      expect(e?.kind).toBe(kind);
      expect(e?.candidates.map((x) => [x.id, x.weight])).toEqual([
        ['a', 3],
        ['b', 1],
      ]);
      expect(e?.excluded).toEqual([{ id: 'z', why: 'weight 0' }]);
      hello.close();
    }
  });

  it('gives consistentHash shares of the key space and the key of the last pick', () => {
    const sessions = live(of(setOf(a, b, c)).pipe(consistentHash()));
    const owner = sessions.pick('user:42');
    const why = sessions.explain();
    expect(why.picked).toEqual({
      id: owner?.id,
      address: `${owner?.id}.example:8080`,
      key: 'user:42',
    });
    const shares = why.balancer?.candidates.map((x) => x.score ?? 0) ?? [];
    expect(shares.reduce((s, x) => s + x, 0)).toBeCloseTo(1, 9);
    for (const s of shares) expect(s).toBeGreaterThan(0.2);
    sessions.close();
  });

  it('lists the ejected instances, through the operators after the detector', () => {
    const scheduler = new TestScheduler(() => undefined);
    scheduler.maxFrames = Number.POSITIVE_INFINITY;
    const outliers = createOutlierDetector({
      consecutiveFailures: 1,
      baseEjectionMs: 30_000,
      scheduler,
    });
    const sets = new BehaviorSubject(setOf(a, b, c));
    const hello = live(sets.pipe(outliers.operator(), healthy(), roundRobin({ start: 'first' })));
    outliers.report(b, { ok: false, latencyMs: 5 });
    const why = hello.explain();
    expect(why.size).toBe(2);
    expect(why.notes).toEqual([
      { operator: 'outlierEjection', detail: { ejected: [{ id: 'b', forMs: 30_000 }] } },
    ]);
    scheduler.flush(); // b comes back
    expect(hello.explain().notes).toEqual([]);
    hello.close();
  });

  it('says which locality tier got which share, and which subset this client uses', () => {
    const zoneA = [1, 2, 3, 4].map((k) =>
      inst(`a${k}`, { zone: 'a', status: k <= 2 ? 'UP' : 'DOWN' }),
    );
    const zoneB = [1, 2].map((k) => inst(`b${k}`, { zone: 'b' }));
    const hello = live(
      of(setOf(...zoneA, ...zoneB)).pipe(
        byLocality({ zone: 'a', overprovisioning: 1.4 }),
        weightedRoundRobin(),
      ),
    );
    const [note] = hello.explain().notes;
    expect(note?.operator).toBe('byLocality');
    expect(note?.detail).toMatchObject({
      zone: 'a',
      panic: false,
      tiers: [
        { tier: 'zone', up: 2, total: 4, share: 0.7, members: ['a1', 'a2', 'a3', 'a4'] },
        { tier: 'region', up: 0, total: 0 },
        { tier: 'rest', up: 2, total: 2, members: ['b1', 'b2'] },
      ],
    });
    const tiers = (note?.detail.tiers ?? []) as { share: number }[];
    expect(tiers[2]?.share).toBeCloseTo(0.3, 9);
    hello.close();

    const many = Array.from({ length: 10 }, (_, k) => inst(`i${k}`));
    const sub = live(
      of(setOf(...many)).pipe(
        subset({ size: 3, clientId: 'pod-7' }),
        map((s) => s),
        healthy(),
        leastRequest(),
      ),
    );
    const why = sub.explain();
    expect(why.size).toBe(3);
    expect(why.notes).toEqual([
      { operator: 'subset', detail: { clientId: 'pod-7', size: 3, of: 10 } },
    ]);
    sub.close();
  });

  it('explains a balancer without a hook by its set, and names the stream error', () => {
    const sets = new Subject<ReturnType<typeof setOf>>();
    const plain = sets.pipe(
      map(
        (set): Balancer => ({
          set,
          size: set.size,
          pick: () => set.instances[0],
          started() {},
          finished() {},
        }),
      ),
    );
    const hello = live(plain);
    sets.next(setOf(a, inst('z', { weight: 0 })));
    sets.error(new Error('registry gone'));
    expect(hello.explain()).toMatchObject({
      balancer: {
        kind: 'unknown',
        candidates: [{ id: 'a', weight: 1 }],
        excluded: [{ id: 'z', why: 'weight 0' }],
      },
      error: 'Error: registry gone',
    });
    hello.close();
  });
});
