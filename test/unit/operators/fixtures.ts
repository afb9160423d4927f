import { config } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { expect } from 'vitest';
import { RegistryUnavailableError } from '../../../src/core/errors.js';
import { createInstance, type Instance, type InstanceSpec } from '../../../src/core/instance.js';
import { type InstanceSet, instanceSet, type Staleness } from '../../../src/core/instance-set.js';

export const REGISTRY = 'memory://ops';

/** An instance of `hello` with id `id` (host derived from it). */
export const inst = (id: string, extra: Partial<InstanceSpec> = {}): Instance =>
  createInstance(
    {
      id,
      service: 'hello',
      host: `${id.replace(/[^a-z0-9.-]/gi, '')}.example`,
      port: 8080,
      ...extra,
    },
    REGISTRY,
  );

/** A fresh set of `hello` from instances. */
export const setOf = (...instances: Instance[]): InstanceSet =>
  instanceSet('hello', REGISTRY, instances);

/** A staleness value: the registry has been away since `since`. */
export const staleSince = (since: number): Staleness => ({
  stale: true,
  since,
  error: new RegistryUnavailableError('test outage', { registry: REGISTRY }),
});

/** What marble tests compare: ids and staleness of a set. */
export const shape = (set: InstanceSet): string =>
  `${set.instances.map((i) => i.id).join(',')}${set.stale ? ' (stale)' : ''}`;

/** Ids of a list of instances, in order. */
export const ids = (list: readonly Instance[]): string[] => list.map((i) => i.id);

/** A TestScheduler asserting with vitest. */
export const testScheduler = (): TestScheduler =>
  new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

/** mulberry32: a tiny seeded PRNG returning numbers in [0, 1). */
export const mulberry32 = (seed: number): (() => number) => {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
};

/** Counts picks by id. */
export const tally = (pick: () => Instance | undefined, times: number): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (let k = 0; k < times; k++) {
    const id = pick()?.id ?? 'undefined';
    counts[id] = (counts[id] ?? 0) + 1;
  }
  return counts;
};

/**
 * Runs `body` and returns what RxJS reported as unhandled meanwhile (what
 * would reach the process as an uncaught exception). Run a TestScheduler
 * inside `body`: its virtual timeouts deliver those reports before `run` returns.
 */
export const unhandledDuring = (body: () => void): unknown[] => {
  const seen: unknown[] = [];
  const before = config.onUnhandledError;
  config.onUnhandledError = (e) => seen.push(e);
  try {
    body();
  } finally {
    config.onUnhandledError = before;
  }
  return seen;
};
