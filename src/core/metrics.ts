/**
 * OpenTelemetry metrics, through `@opentelemetry/api` only (an optional
 * peer dependency: no SDK, nothing recorded when the app registered none).
 *
 * The API is loaded on first use with a synchronous `require` (every
 * version of `@opentelemetry/api` ships one, and the API keeps its global
 * meter provider on `globalThis`, so the app's `import` and this `require`
 * see the same provider). When the package is absent, or the app registered
 * no meter provider, {@link instruments} returns `undefined` and every
 * instrumented path skips its metrics with one check: no attributes are
 * built, no instrument is called. The provider is looked up when a watch,
 * a call or an operator subscription begins, so an SDK registered at
 * startup sees everything that starts after it.
 *
 * Names and attributes are listed in docs/observability.md.
 *
 * @module
 * @internal
 */
import { createRequire } from 'node:module';
import type { Instance } from './instance.js';

/** Attribute values of one measurement (made once, reused). */
export type Attributes = Readonly<Record<string, string | number | boolean>>;

/** What rxdisco calls on an OpenTelemetry counter or up-down counter. */
export interface Adder {
  add(value: number, attributes?: Attributes): void;
}

interface InstrumentOptions {
  readonly description?: string;
  readonly unit?: string;
}

/** The part of an OpenTelemetry `Meter` used here. */
interface MeterLike {
  createCounter(name: string, options?: InstrumentOptions): Adder;
  createUpDownCounter(name: string, options?: InstrumentOptions): Adder;
}

/** The part of `@opentelemetry/api` used here. */
interface OtelApi {
  readonly metrics: {
    getMeterProvider(): { getMeter(name: string, version?: string): MeterLike };
  };
  createNoopMeter(): MeterLike;
}

/** Every instrument rxdisco records to (names in docs/observability.md). */
export interface Instruments {
  readonly instances: Adder;
  readonly stale: Adder;
  readonly emissions: Adder;
  readonly reconnections: Adder;
  readonly skipped: Adder;
  readonly picks: Adder;
  readonly attempts: Adder;
  readonly retries: Adder;
  readonly hedges: Adder;
  readonly budgetExhausted: Adder;
  readonly ejections: Adder;
  readonly ejectionRefusals: Adder;
  readonly panicRefusals: Adder;
}

/** The meter's name (the instrumentation scope). */
export const METER_NAME = 'rxdisco';
const METER_VERSION = '0.2.0';

/** `undefined`: not tried yet; `null`: not installed. */
let api: OtelApi | null | undefined;
let provider: unknown;
let cached: Instruments | undefined;

const loadApi = (): OtelApi | null => {
  if (api === undefined) {
    try {
      api = createRequire(import.meta.url)('@opentelemetry/api') as OtelApi;
    } catch {
      api = null;
    }
  }
  return api;
};

const build = (meter: MeterLike): Instruments => {
  const counter = (name: string, unit: string, description: string): Adder =>
    meter.createCounter(name, { unit, description });
  const upDown = (name: string, unit: string, description: string): Adder =>
    meter.createUpDownCounter(name, { unit, description });
  return {
    instances: upDown(
      'rxdisco.discovery.instances',
      '{instance}',
      'Instances in the latest set of a watch',
    ),
    stale: upDown(
      'rxdisco.discovery.stale',
      '{watch}',
      '1 while a watch shows its last known set because the registry is unreachable',
    ),
    emissions: counter('rxdisco.discovery.emissions', '{set}', 'Sets emitted by a watch'),
    reconnections: counter(
      'rxdisco.discovery.reconnections',
      '{reconnection}',
      'Watch sessions reopened after a transient fault',
    ),
    skipped: counter(
      'rxdisco.discovery.skipped_entries',
      '{entry}',
      'Registry entries skipped because they did not decode',
    ),
    picks: counter('rxdisco.call.picks', '{pick}', 'Instances picked for an attempt of a call'),
    attempts: counter('rxdisco.call.attempts', '{attempt}', 'Attempts of calls, by how they ended'),
    retries: counter('rxdisco.call.retries', '{retry}', 'Attempts made after a failed one'),
    hedges: counter(
      'rxdisco.call.hedges',
      '{hedge}',
      'Hedged attempts, started while an earlier one was still running',
    ),
    budgetExhausted: counter(
      'rxdisco.call.budget_exhausted',
      '{attempt}',
      'Retries or hedges not made because a budget was spent',
    ),
    ejections: counter('rxdisco.outlier.ejections', '{ejection}', 'Instances ejected'),
    ejectionRefusals: counter(
      'rxdisco.outlier.refusals',
      '{ejection}',
      'Ejections not made because maxEjectedRatio would be exceeded',
    ),
    panicRefusals: counter(
      'rxdisco.panic_guard.refusals',
      '{update}',
      'Set updates refused by panicGuard',
    ),
  };
};

/**
 * The instruments of the app's current meter provider, or `undefined` when
 * `@opentelemetry/api` is not installed or no SDK is registered (record
 * nothing then). Cheap: one global lookup; instruments are made once per
 * provider.
 */
export const instruments = (): Instruments | undefined => {
  const a = loadApi();
  if (a === null) return undefined;
  const current = a.metrics.getMeterProvider();
  if (current !== provider) {
    provider = current;
    const meter = current.getMeter(METER_NAME, METER_VERSION);
    const probe = meter.createCounter('rxdisco.call.picks');
    cached =
      probe === a.createNoopMeter().createCounter('rxdisco.call.picks') ? undefined : build(meter);
  }
  return cached;
};

/** The attributes of a registry's service: `rxdisco.registry`, `rxdisco.service`. */
export const serviceAttributes = (registry: string, service: string): Attributes =>
  Object.freeze({ 'rxdisco.registry': registry, 'rxdisco.service': service });

/** The attribute sets of one instance, made once per instance object. */
export interface InstanceAttributes {
  /** Its service (`rxdisco.registry`, `rxdisco.service`). */
  readonly service: Attributes;
  /** The instance: its service, `rxdisco.instance.id`, `server.address`, `server.port`. */
  readonly instance: Attributes;
}

const byInstance = new WeakMap<Instance, InstanceAttributes>();
const byService = new Map<string, Attributes>();

/** The attributes of `instance` (cached: instances are immutable). */
export const attributesOf = (instance: Instance): InstanceAttributes => {
  let a = byInstance.get(instance);
  if (a === undefined) {
    const key = `${instance.registry}\u0000${instance.service}`;
    let service = byService.get(key);
    if (service === undefined) {
      service = serviceAttributes(instance.registry, instance.service);
      if (byService.size > 10_000) byService.clear();
      byService.set(key, service);
    }
    a = {
      service,
      instance: Object.freeze({
        ...service,
        'rxdisco.instance.id': instance.id,
        'server.address': instance.host,
        'server.port': instance.port,
      }),
    };
    byInstance.set(instance, a);
  }
  return a;
};

/** Attribute sets derived from a base set by one more attribute, made once each. */
const derived = new WeakMap<Attributes, Map<string, Map<string, Attributes>>>();

/** `base` plus `name: value`, cached (values from small fixed sets: outcome, kind). */
export const withAttribute = (base: Attributes, name: string, value: string): Attributes => {
  let byName = derived.get(base);
  if (byName === undefined) {
    byName = new Map();
    derived.set(base, byName);
  }
  let byValue = byName.get(name);
  if (byValue === undefined) {
    byValue = new Map();
    byName.set(name, byValue);
  }
  let a = byValue.get(value);
  if (a === undefined) {
    a = Object.freeze({ ...base, [name]: value });
    byValue.set(value, a);
  }
  return a;
};
