import type { MonoTypeOperatorFunction } from 'rxjs';
import { ConfigError } from '../core/errors.js';
import type { Instance } from '../core/instance.js';
import { filterSet, type InstanceSet, replaceAll, stalenessOf } from '../core/instance-set.js';
import { operate } from './operate.js';

/**
 * Zone-aware routing: the instances of `zone` (whatever their status) while
 * at least one of them is `UP`, otherwise every instance of the set. Chain
 * {@link healthy} after it to route to the healthy ones.
 *
 * The number of `UP` instances in the zone is kept up to date in O(changes)
 * from each set's delta; the view keeps the staleness of its input and emits
 * only when it changed in effect.
 *
 * @throws {ConfigError} when `zone` is not a non-empty string.
 * @example
 * ```ts
 * registry.instances$('hello').pipe(preferZone('eu-west-1a'), healthy(), roundRobin());
 * ```
 */
export const preferZone = (zone: string): MonoTypeOperatorFunction<InstanceSet> => {
  if (typeof zone !== 'string' || zone === '') {
    throw new ConfigError(
      'preferZone',
      `needs a non-empty zone name (got ${JSON.stringify(zone)})`,
      'pass the zone this process runs in, such as preferZone("eu-west-1a")',
    );
  }
  const inZone = (i: Instance): boolean => i.zone === zone;
  const any = (): boolean => true;
  const upInZone = (i: Instance): number => (i.status === 'UP' && i.zone === zone ? 1 : 0);

  return operate((out) => {
    let previous: { input: InstanceSet; output: InstanceSet } | undefined;
    let local = false;
    let up = 0;
    return {
      next: (set) => {
        const delta = set.delta;
        if (
          previous !== undefined &&
          delta !== undefined &&
          delta.from === previous.input.version
        ) {
          for (const a of delta.added) up += upInZone(a);
          for (const r of delta.removed) up -= upInZone(r);
          for (const u of delta.updated) up += upInZone(u.current) - upInZone(u.previous);
        } else {
          up = 0;
          for (const i of set.instances) up += upInZone(i);
        }
        const nowLocal = up > 0;
        const keep = nowLocal ? inZone : any;
        const before = previous?.output;
        const output =
          before === undefined || nowLocal === local
            ? filterSet(set, keep, previous)
            : replaceAll(before, set.instances.filter(keep), stalenessOf(set));
        local = nowLocal;
        previous = { input: set, output };
        out.emit(output);
      },
    };
  });
};
