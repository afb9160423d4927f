import type { Observable } from 'rxjs';
import { ConfigError, type RxdiscoError } from '../core/errors.js';
import { freezeInstance, type Instance, isInstanceId } from '../core/instance.js';
import { emptySet, type InstanceSet, replaceAll, type Staleness } from '../core/instance-set.js';
import { combine } from './operate.js';

/**
 * `id@registry` for an id another source already used, made unique (`#2`,
 * `#3`... when that is taken too) and cut to the 512 characters an id may
 * have, keeping the suffix that makes it unique.
 */
const renamed = (i: Instance, taken: ReadonlySet<string>): string => {
  const base = `${i.id}@${i.registry}`;
  for (let n = 1; ; n++) {
    const suffix = n === 1 ? '' : `#${n}`;
    const id = base.slice(0, 512 - suffix.length) + suffix;
    if (isInstanceId(id) && !taken.has(id)) return id;
  }
};

/**
 * The union of several registries' sets for one service, one instance per
 * `host:port`. Named `mergeRegistries` so as not to clash with RxJS
 * `merge`. Sources come in order of precedence: when two list the same
 * `host:port`, the first source's instance is kept. Each instance keeps the
 * `registry` it came from (its tag). When two sources use the same id for
 * different addresses, the later one is renamed `id@registry` (made unique
 * with `#2`, `#3`... and cut to 512 characters when needed). The union is
 * emitted once every source has emitted, then on every effective change; it
 * is stale only when every source is stale (a stale source still
 * contributes its last instances). An error of any source errors the union.
 *
 * @example
 * ```ts
 * const all$ = mergeRegistries(
 *   discovery('consul://10.0.0.2:8500').instances$('hello'),
 *   discovery('eureka://10.0.0.3:8761/eureka').instances$('HELLO'),
 * );
 * all$.subscribe((set) => console.log(set.instances.map((i) => `${i.registry} ${i.host}:${i.port}`)));
 * ```
 */
export const mergeRegistries = (...sources: Observable<InstanceSet>[]): Observable<InstanceSet> => {
  if (sources.length === 0) {
    throw new ConfigError(
      'mergeRegistries',
      'needs at least one source',
      'pass instances$ streams',
    );
  }
  return combine<InstanceSet, InstanceSet>(sources, (out) => {
    const latest: (InstanceSet | undefined)[] = sources.map(() => undefined);

    const update = (): void => {
      if (latest.some((s) => s === undefined)) return;
      const sets = latest as InstanceSet[];
      const byAddress = new Set<string>();
      const ids = new Set<string>();
      const union: Instance[] = [];
      for (const set of sets) {
        for (const i of set.instances) {
          const address = `${i.host.toLowerCase()}:${i.port}`;
          if (byAddress.has(address)) continue;
          byAddress.add(address);
          const instance = ids.has(i.id) ? freezeInstance({ ...i, id: renamed(i, ids) }) : i;
          ids.add(instance.id);
          union.push(instance);
        }
      }
      let staleness: Staleness = { stale: false };
      if (sets.every((s) => s.stale)) {
        let since = Infinity;
        let error: RxdiscoError | undefined;
        for (const s of sets) {
          if (s.stale && s.staleSince < since) {
            since = s.staleSince;
            error = s.error;
          }
        }
        staleness = { stale: true, since, error: error! };
      }
      const first = sets[0]!;
      const base = out.last ?? emptySet(first.service, first.registry);
      out.emit(replaceAll(base, union, staleness));
    };

    return {
      next: (k, set) => {
        latest[k] = set;
        update();
      },
    };
  });
};
