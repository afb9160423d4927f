// Observability: OpenTelemetry metrics from a watch and from hedged calls,
// and explain() on the live balancer. The app registers an OpenTelemetry
// SDK (here @opentelemetry/sdk-metrics with an in-memory exporter; in
// production an OTLP or Prometheus exporter); rxdisco records through
// @opentelemetry/api only. Two in-process services register as `hello`;
// one answers slowly now and then, and hedging calls the other meanwhile.
//
// Run: npx tsx docs/examples/observability.ts
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { filter, firstValueFrom, timer } from 'rxjs';
import { call, live, memoryDiscovery, memoryRegistry, roundRobin } from '../../src/index.js';

// 1. The app's SDK, registered before rxdisco's streams and calls start.
const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
const provider = new MeterProvider({ readers: [reader] });
metrics.setGlobalMeterProvider(provider);

// 2. A registry with two instances of `hello`.
const store = memoryRegistry('observability');
const registry = memoryDiscovery(store, { graceMs: 0 });
const lease = store.grant(60_000);
for (const id of ['a', 'b']) {
  store.put('hello', id, { id, service: 'hello', host: `${id}.internal`, port: 8080 }, lease);
}
const hello = live(registry.instances$('hello').pipe(roundRobin({ start: 'first' })));
await firstValueFrom(registry.instances$('hello').pipe(filter((s) => s.size === 2)));

// 3. Calls: `a` is slow on every 5th call; a hedge on `b` after 20 ms answers first.
let n = 0;
for (let k = 0; k < 40; k++) {
  const answer = await call(
    hello,
    (instance, { kind }) => {
      const slow = instance.id === 'a' && n++ % 5 === 0;
      return new Promise<string>((resolve) =>
        timer(slow ? 500 : 2).subscribe(() => resolve(`${instance.id} (${kind})`)),
      );
    },
    { hedge: { afterMs: 20, maxExtraLoadRatio: 0.5 } },
  );
  if (answer.endsWith('(hedge)')) console.log(`call ${k}: answered by ${answer}`);
}

// 4. What the metrics say.
await reader.forceFlush();
const points = new Map<string, number>();
for (const rm of exporter.getMetrics()) {
  for (const sm of rm.scopeMetrics) {
    for (const m of sm.metrics) {
      for (const p of m.dataPoints) {
        const value = typeof p.value === 'number' ? p.value : 0;
        points.set(m.descriptor.name, (points.get(m.descriptor.name) ?? 0) + value);
      }
    }
  }
}
for (const name of [
  'rxdisco.discovery.instances',
  'rxdisco.discovery.emissions',
  'rxdisco.call.picks',
  'rxdisco.call.attempts',
  'rxdisco.call.hedges',
]) {
  console.log(`${name} = ${points.get(name) ?? 0}`);
}

// 5. Why the last pick went where it went.
const why = hello.explain();
console.log(
  `explain: ${why.balancer?.kind} picked ${why.picked?.id} of ${why.balancer?.candidates.map((c) => c.id).join(', ')}`,
);

hello.close();
store.revoke(lease);
await registry.close();
metrics.disable();
await provider.shutdown();
console.log('closed');
