/**
 * A {@link Catalog} built by hand from sets, for what no registry would
 * hand out (a service name with markup in it, thousands of instances at no
 * cost): test data for the readers of a catalog, such as the status page.
 */
import type { Catalog } from '../../src/core/catalog.js';
import type { InstanceSet } from '../../src/core/instance-set.js';

/** A fresh catalog of `registry` with `sets` (one per service), every service named as changed. */
export const catalogOf = (registry: string, sets: readonly InstanceSet[]): Catalog => {
  const byName = new Map(sets.map((s) => [s.service, s] as const));
  const names = Object.freeze([...byName.keys()].sort());
  return {
    registry,
    size: names.length,
    instanceCount: sets.reduce((n, s) => n + s.size, 0),
    changed: names,
    stale: false,
    staleSince: undefined,
    error: undefined,
    get: (n) => byName.get(n),
    has: (n) => byName.has(n),
    names: () => names,
    *entries() {
      for (const n of names) yield [n, byName.get(n)!] as const;
    },
  };
};
