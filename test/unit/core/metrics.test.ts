import { type Attributes, metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { concat, NEVER, of, Subject, throwError, VirtualAction, VirtualTimeScheduler } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import type { CatalogEvent } from '../../../src/core/catalog.js';
import { type Backend, createDiscovery } from '../../../src/core/discovery.js';
import { DecodeError, RegistryUnavailableError } from '../../../src/core/errors.js';
import type { Instance } from '../../../src/core/instance.js';
import { instanceSet } from '../../../src/core/instance-set.js';
import { instruments } from '../../../src/core/metrics.js';
import { type SourceEvent, watchInstances } from '../../../src/core/watch.js';
import type { Balancer, Outcome } from '../../../src/operators/balancers/balancer.js';
import { roundRobin } from '../../../src/operators/balancers/round-robin.js';
import { call, call$ } from '../../../src/operators/call.js';
import { createOutlierDetector } from '../../../src/operators/outlier-ejection.js';
import { panicGuard } from '../../../src/operators/panic-guard.js';
import { retryBudget } from '../../../src/operators/retry-budget.js';
import { drive } from '../operators/balancers/helpers.js';
import { inst, REGISTRY } from '../operators/fixtures.js';

const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
const provider = new MeterProvider({ readers: [reader] });

interface Point {
  readonly attributes: Attributes;
  readonly value: number;
}

/** Every data point of the rxdisco meter, by metric name (cumulative). */
const collect = async (): Promise<Map<string, Point[]>> => {
  exporter.reset();
  await reader.forceFlush();
  const out = new Map<string, Point[]>();
  for (const rm of exporter.getMetrics()) {
    for (const sm of rm.scopeMetrics) {
      if (sm.scope.name !== 'rxdisco') continue;
      for (const m of sm.metrics) {
        const points = m.dataPoints.map((p) => ({
          attributes: p.attributes,
          value: p.value as number,
        }));
        out.set(m.descriptor.name, points);
      }
    }
  }
  return out;
};

/** The value of `name` at the point whose attributes include `where` (0 when none). */
const pointValue = (all: Map<string, Point[]>, name: string, where: Attributes): number => {
  const points = all.get(name) ?? [];
  const match = points.filter((p) =>
    Object.entries(where).every(([k, v]) => p.attributes[k] === v),
  );
  return match.reduce((sum, p) => sum + p.value, 0);
};

/** A fresh set of the instances' service. */
const setOfService = (...instances: Instance[]) =>
  instanceSet(instances[0]!.service, REGISTRY, instances);

const SERVICE = { 'rxdisco.registry': REGISTRY, 'rxdisco.service': 'hello' };

beforeAll(() => {
  metrics.setGlobalMeterProvider(provider);
});

afterAll(async () => {
  metrics.disable();
  await provider.shutdown();
});

describe('OpenTelemetry metrics', () => {
  it('are off without a registered meter provider, and on with one', () => {
    expect(instruments()).toBeDefined();
    metrics.disable();
    expect(instruments()).toBeUndefined(); // the no-op provider: nothing recorded, nothing built
    metrics.setGlobalMeterProvider(provider);
    expect(instruments()).toBeDefined();
  });

  it('of a watch: instances, stale, emissions, reconnections, skipped entries', async () => {
    const scheduler = new TestScheduler(() => undefined);
    const a = inst('a');
    const b = inst('b');
    const sessions = [
      new Subject<SourceEvent<number>>(),
      new Subject<SourceEvent<number>>(),
    ] as const;
    let opened = 0;
    const skipped = new DecodeError('hello/bad', ['port: expected Port, got 70000']);
    const set$ = watchInstances('hello', REGISTRY, () => sessions[opened++]!, {
      scheduler,
      backoff: exponentialBackoff({ initialMs: 100, jitter: 'none' }),
      report: () => undefined,
    });
    const subscription = set$.subscribe();
    sessions[0].next({ type: 'snapshot', instances: [a, b], skipped: [skipped], cursor: 1 });
    let all = await collect();
    expect(pointValue(all, 'rxdisco.discovery.instances', SERVICE)).toBe(2);
    expect(pointValue(all, 'rxdisco.discovery.stale', SERVICE)).toBe(0);
    expect(pointValue(all, 'rxdisco.discovery.emissions', SERVICE)).toBe(1);
    expect(pointValue(all, 'rxdisco.discovery.skipped_entries', SERVICE)).toBe(1);

    sessions[0].error(new RegistryUnavailableError('down', { registry: REGISTRY }));
    all = await collect();
    expect(pointValue(all, 'rxdisco.discovery.stale', SERVICE)).toBe(1);
    expect(pointValue(all, 'rxdisco.discovery.reconnections', SERVICE)).toBe(0);

    scheduler.flush(); // the backoff wait: the session is reopened
    sessions[1].next({ type: 'changes', upserts: [], removals: ['b'], cursor: 2 });
    all = await collect();
    expect(pointValue(all, 'rxdisco.discovery.reconnections', SERVICE)).toBe(1);
    expect(pointValue(all, 'rxdisco.discovery.stale', SERVICE)).toBe(0);
    expect(pointValue(all, 'rxdisco.discovery.instances', SERVICE)).toBe(1);
    expect(pointValue(all, 'rxdisco.discovery.emissions', SERVICE)).toBe(3); // fresh, stale, fresh

    subscription.unsubscribe();
    all = await collect();
    expect(pointValue(all, 'rxdisco.discovery.instances', SERVICE)).toBe(0); // taken back
  });

  it('of a catalog view (instances$() past catalogViewsPast): the same as a watch, once per service', async () => {
    const time = new VirtualTimeScheduler(VirtualAction, 60_000);
    const sessions = [new Subject<CatalogEvent>(), new Subject<CatalogEvent>()] as const;
    let opened = 0;
    const backend: Backend = {
      instances: () => () => NEVER,
      services: () => () => NEVER,
      catalog: () => () => sessions[opened++]!,
      registrar: undefined,
      close: async () => undefined,
    };
    const d = createDiscovery(REGISTRY, async () => backend, {
      catalogViewsPast: 0,
      graceMs: 0,
      scheduler: time,
      backoff: exponentialBackoff({ initialMs: 100, jitter: 'none' }),
      onProblem: () => undefined,
    });
    const VIEWED = { 'rxdisco.registry': REGISTRY, 'rxdisco.service': 'viewed' };
    const OTHER = { 'rxdisco.registry': REGISTRY, 'rxdisco.service': 'unviewed' };
    const v = (id: string) => inst(id, { service: 'viewed' });
    // two views of one service: counted once, as one shared watch is
    const subscription = d.instances$('viewed').subscribe();
    subscription.add(d.instances$('viewed').subscribe());
    await new Promise<void>((r) => setImmediate(r));
    const skipped = new DecodeError('viewed/bad', ['port: expected Port, got 70000'], {
      registry: REGISTRY,
      service: 'viewed',
    });
    sessions[0].next({
      type: 'snapshot',
      instances: [v('a'), v('b'), inst('u', { service: 'unviewed' })],
      skipped: [skipped],
      cursor: 1,
    });
    let all = await collect();
    expect(pointValue(all, 'rxdisco.discovery.instances', VIEWED)).toBe(2);
    expect(pointValue(all, 'rxdisco.discovery.emissions', VIEWED)).toBe(1);
    expect(pointValue(all, 'rxdisco.discovery.skipped_entries', VIEWED)).toBe(1);
    expect(pointValue(all, 'rxdisco.discovery.stale', VIEWED)).toBe(0);
    expect(pointValue(all, 'rxdisco.discovery.instances', OTHER)).toBe(0); // nobody views it

    sessions[0].error(new RegistryUnavailableError('down', { registry: REGISTRY }));
    all = await collect();
    expect(pointValue(all, 'rxdisco.discovery.stale', VIEWED)).toBe(1);
    expect(pointValue(all, 'rxdisco.discovery.reconnections', VIEWED)).toBe(0);

    time.flush(); // the backoff wait: the catalog session is reopened (once the backend is at hand)
    await new Promise<void>((r) => setImmediate(r));
    sessions[1].next({
      type: 'changes',
      upserts: [],
      removals: [{ service: 'viewed', id: 'b' }],
      cursor: 2,
    });
    all = await collect();
    expect(pointValue(all, 'rxdisco.discovery.reconnections', VIEWED)).toBe(1);
    expect(pointValue(all, 'rxdisco.discovery.stale', VIEWED)).toBe(0);
    expect(pointValue(all, 'rxdisco.discovery.instances', VIEWED)).toBe(1);
    expect(pointValue(all, 'rxdisco.discovery.emissions', VIEWED)).toBe(3); // fresh, stale, fresh

    subscription.unsubscribe();
    all = await collect();
    expect(pointValue(all, 'rxdisco.discovery.instances', VIEWED)).toBe(0); // taken back
    await d.close();
  });

  it('of calls: picks per instance, attempts by kind and outcome, retries, budget exhausted', async () => {
    const m1 = inst('m1', { service: 'metered' });
    const m2 = inst('m2', { service: 'metered' });
    const target = drive(roundRobin({ start: 'first' })).push(setOfService(m1, m2));
    const ATTRS = { 'rxdisco.service': 'metered' };
    let k = 0;
    const value = await call(
      target,
      async () => {
        if (k++ === 0) throw new Error('boom');
        return 'ok';
      },
      { retry: { attempts: 3, budget: false, backoff: exponentialBackoff({ random: () => 0 }) } },
    );
    expect(value).toBe('ok');
    const spent = retryBudget({ ratio: 0, minPerSecond: 0 });
    await expect(
      call(
        target,
        async () => {
          throw new Error('down');
        },
        { retry: { budget: spent } },
      ),
    ).rejects.toMatchObject({ reason: 'budget' });
    const all = await collect();
    expect(pointValue(all, 'rxdisco.call.picks', { ...ATTRS, 'rxdisco.instance.id': 'm1' })).toBe(
      2,
    );
    expect(pointValue(all, 'rxdisco.call.picks', { ...ATTRS, 'rxdisco.instance.id': 'm2' })).toBe(
      1,
    );
    expect(
      pointValue(all, 'rxdisco.call.picks', {
        'rxdisco.instance.id': 'm2',
        'server.address': 'm2.example',
        'server.port': 8080,
      }),
    ).toBe(1);
    const attempts = (kind: string, outcome: string) =>
      pointValue(all, 'rxdisco.call.attempts', {
        ...ATTRS,
        'rxdisco.attempt.kind': kind,
        'rxdisco.attempt.outcome': outcome,
      });
    expect(attempts('first', 'failure')).toBe(2);
    expect(attempts('retry', 'success')).toBe(1);
    expect(pointValue(all, 'rxdisco.call.retries', ATTRS)).toBe(1);
    expect(
      pointValue(all, 'rxdisco.call.budget_exhausted', {
        ...ATTRS,
        'rxdisco.attempt.kind': 'retry',
        'rxdisco.budget': 'retry',
      }),
    ).toBe(1);
  });

  it('of hedged calls: hedges, cancelled attempts, hedges refused by maxExtraLoadRatio', async () => {
    const h1 = inst('h1', { service: 'hedged' });
    const h2 = inst('h2', { service: 'hedged' });
    const inner = drive(roundRobin({ start: 'first' })).push(setOfService(h1, h2));
    const target: Balancer = {
      ...inner,
      set: inner.set,
      size: inner.size,
      pick: (key) => inner.pick(key),
      started() {},
      finished(_i, _o: Outcome) {},
    };
    const ts = new TestScheduler(() => undefined);
    ts.run(({ cold }) => {
      for (let n = 0; n < 2; n++) {
        call$(target, (i) => cold(i.id === 'h1' ? '50ms (v|)' : '5ms (v|)', { v: i.id }), {
          hedge: { afterMs: 10, maxExtraLoadRatio: 0.5 },
          retry: { budget: false },
          scheduler: ts,
        }).subscribe();
        ts.flush();
      }
    });
    const all = await collect();
    const ATTRS = { 'rxdisco.service': 'hedged' };
    // call 1 (balance 0.5): no hedge; call 2 picks h2 (fast); only one call had a slow first attempt
    expect(pointValue(all, 'rxdisco.call.hedges', ATTRS)).toBe(0);
    expect(
      pointValue(all, 'rxdisco.call.budget_exhausted', {
        ...ATTRS,
        'rxdisco.attempt.kind': 'hedge',
        'rxdisco.budget': 'hedge_load',
      }),
    ).toBe(1);
    const ts2 = new TestScheduler(() => undefined);
    ts2.run(({ cold }) => {
      call$(target, (i) => cold(i.id === 'h1' ? '50ms (v|)' : '5ms (v|)', { v: i.id }), {
        hedge: { afterMs: 10, maxExtraLoadRatio: 0.5 },
        retry: { budget: false },
        scheduler: ts2,
      }).subscribe();
      ts2.flush();
    });
    const after = await collect();
    expect(pointValue(after, 'rxdisco.call.hedges', ATTRS)).toBe(1);
    expect(
      pointValue(after, 'rxdisco.call.attempts', {
        ...ATTRS,
        'rxdisco.attempt.kind': 'first',
        'rxdisco.attempt.outcome': 'cancelled',
      }),
    ).toBe(1);
    expect(
      pointValue(after, 'rxdisco.call.attempts', {
        ...ATTRS,
        'rxdisco.attempt.kind': 'hedge',
        'rxdisco.attempt.outcome': 'success',
      }),
    ).toBe(1);
  });

  it('of outlier ejection and panicGuard: ejections, refused ejections, refused updates', async () => {
    const o1 = inst('o1', { service: 'outliers' });
    const o2 = inst('o2', { service: 'outliers' });
    const scheduler = new TestScheduler(() => undefined);
    const detector = createOutlierDetector({ consecutiveFailures: 1, scheduler });
    const subscription = concat(of(setOfService(o1, o2)), NEVER)
      .pipe(detector.operator())
      .subscribe();
    detector.report(o1, { ok: false, latencyMs: 1 });
    detector.report(o2, { ok: false, latencyMs: 1 }); // 1 of 2 already out: refused
    subscription.unsubscribe();

    const p = (id: string) => inst(id, { service: 'guarded' });
    const guarded = panicGuard({ onRefused: () => undefined, holdMs: Infinity });
    concat(
      of(setOfService(p('p1'), p('p2'), p('p3'), p('p4'))),
      of(setOfService(p('p1'))),
      throwError(() => new Error('end')),
    )
      .pipe(guarded)
      .subscribe({ error: () => undefined });

    const all = await collect();
    expect(
      pointValue(all, 'rxdisco.outlier.ejections', {
        'rxdisco.service': 'outliers',
        'rxdisco.instance.id': 'o1',
        'rxdisco.ejection.reason': 'consecutive-failures',
      }),
    ).toBe(1);
    expect(
      pointValue(all, 'rxdisco.outlier.refusals', {
        'rxdisco.service': 'outliers',
        'rxdisco.instance.id': 'o2',
      }),
    ).toBe(1);
    expect(
      pointValue(all, 'rxdisco.panic_guard.refusals', {
        'rxdisco.registry': REGISTRY,
        'rxdisco.service': 'guarded',
      }),
    ).toBe(1);
  });
});
