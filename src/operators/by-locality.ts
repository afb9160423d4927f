import { type MonoTypeOperatorFunction, Subject, type Subscription } from 'rxjs';
import { ConfigError } from '../core/errors.js';
import { freezeInstance, type Instance } from '../core/instance.js';
import {
  filterSet,
  type InstanceSet,
  instanceSet,
  replaceAll,
  stalenessOf,
} from '../core/instance-set.js';
import { numberOption } from '../core/options.js';
import { lazyNote, noteSet } from './explain.js';
import { operate } from './operate.js';

/** Options of {@link byLocality}. */
export interface ByLocalityOptions {
  /** The zone this process runs in: the first tier is its instances. */
  readonly zone: string;
  /**
   * The region this process runs in: the second tier is the instances of
   * other zones of it (by `regionOf`).
   * @default none (two tiers: the zone, the rest)
   */
  readonly region?: string;
  /**
   * Envoy's overprovisioning factor: a tier keeps all its traffic while at
   * least `1 / overprovisioning` of its instances are `UP`, and sheds the
   * rest to the next tiers as its healthy share falls below that.
   * @default 1.4
   */
  readonly overprovisioning?: number;
  /**
   * The region of an instance.
   * @default the `region` metadata
   */
  readonly regionOf?: (instance: Instance) => string | undefined;
  /**
   * An operator applied to each tier's own set stream before its share is
   * computed, such as `panicGuard()`, so that a tier that loses most of its
   * instances at once is guarded even when the whole set is not.
   * @default none
   */
  readonly perTier?: MonoTypeOperatorFunction<InstanceSet>;
}

/**
 * The share of traffic of each tier (Envoy's priority-load rule): a tier's
 * health is `min(1, overprovisioning × up / total)`; the first tier takes
 * its health, each next tier what is left up to its own health; when the
 * healths sum to less than 1 they are scaled up to 1. Written into `out`.
 *
 * @example
 * ```ts
 * const loads = [0, 0, 0];
 * tierLoads([5, 10], [10, 10], 1.4, loads); // zone half down: [0.7, 0.3]
 * ```
 */
export const tierLoads = (
  up: readonly number[],
  total: readonly number[],
  overprovisioning: number,
  out: number[],
): void => {
  let sum = 0;
  for (let t = 0; t < up.length; t++) {
    const health = total[t]! > 0 ? Math.min(1, (overprovisioning * up[t]!) / total[t]!) : 0;
    out[t] = health;
    sum += health;
  }
  const scale = sum > 0 && sum < 1 ? 1 / sum : 1;
  let left = 1;
  for (let t = 0; t < up.length; t++) {
    const load = Math.min(left, out[t]! * scale);
    out[t] = load;
    left -= load;
  }
};

const regionMetadata = (i: Instance): string | undefined => i.metadata.region;

/**
 * Locality tiers with gradual spill-over, as Envoy's priority levels: the
 * instances of this `zone`, then those of this `region` (other zones), then
 * the rest. Each tier's share of traffic follows its healthy share (Envoy's
 * rule, see {@link tierLoads}): with `overprovisioning` 1.4, a zone with 5
 * of 10 instances `UP` keeps 70 % of the traffic and sends 30 % to the next
 * tier, instead of all or nothing as `preferZone()` does.
 *
 * The output holds the `UP` instances of the tiers that get traffic, their
 * weights scaled so that the tiers' total weights are their shares (an
 * instance's own weight still counts within its tier): follow it with a
 * weighted balancer (`weightedRoundRobin()`, `random()`). When no instance
 * is `UP` anywhere, every instance is passed with its own weight (Envoy's
 * panic mode). The output keeps the staleness of its input and emits only
 * when it changed in effect.
 *
 * @throws {ConfigError} when `zone` is empty or an option is out of range.
 * @example
 * ```ts
 * registry.instances$('hello').pipe(
 *   byLocality({ zone: 'eu-west-1a', region: 'eu-west-1', perTier: panicGuard() }),
 *   weightedRoundRobin(),
 * );
 * ```
 */
export const byLocality = (options: ByLocalityOptions): MonoTypeOperatorFunction<InstanceSet> => {
  const zone = options?.zone;
  if (typeof zone !== 'string' || zone === '') {
    throw new ConfigError(
      'zone',
      `must be a non-empty zone name (got ${JSON.stringify(zone)})`,
      'pass the zone this process runs in, such as byLocality({ zone: "eu-west-1a" })',
    );
  }
  const region = options.region;
  const overprovisioning = numberOption('overprovisioning', options.overprovisioning, 1.4, {
    min: 1,
    fix: "use Envoy's 1.4, or 1 to shed traffic as soon as an instance is down",
  });
  const regionOf = options.regionOf ?? regionMetadata;
  const tierOf = (i: Instance): number =>
    i.zone === zone ? 0 : region !== undefined && regionOf(i) === region ? 1 : 2;
  const perTier = options.perTier;

  return operate((out) => {
    const tiers: (InstanceSet | undefined)[] = [undefined, undefined, undefined];
    const views: ({ input: InstanceSet; output: InstanceSet } | undefined)[] = [
      undefined,
      undefined,
      undefined,
    ];
    const inputs = [0, 1, 2].map(() => new Subject<InstanceSet>());
    const subscriptions: Subscription[] = [];
    let source: InstanceSet | undefined;
    let pushing = false;
    const up = [0, 0, 0];
    const total = [0, 0, 0];
    const loads = [0, 0, 0];

    const publish = (): void => {
      const set = source;
      if (set === undefined || tiers.some((t) => t === undefined)) return;
      let anyUp = 0; // UP instances in all tiers
      for (let t = 0; t < 3; t++) {
        up[t] = 0;
        total[t] = tiers[t]!.size;
        for (const i of tiers[t]!.instances) if (i.status === 'UP') up[t]!++;
        anyUp += up[t]!;
      }
      const list: Instance[] = [];
      if (anyUp === 0) {
        for (const tier of tiers) list.push(...tier!.instances);
      } else {
        tierLoads(up, total, overprovisioning, loads);
        // Scaled to the first tier with traffic: while it has all of it, its
        // instances keep their own weights (and identities).
        let reference = 0;
        for (let t = 0; t < 3; t++) {
          if (!(loads[t]! > 0)) continue;
          let weight = 0;
          for (const i of tiers[t]!.instances) if (i.status === 'UP') weight += i.weight;
          if (!(weight > 0)) continue;
          if (reference === 0) reference = weight / loads[t]!;
          const scale = (loads[t]! * reference) / weight;
          for (const i of tiers[t]!.instances) {
            if (i.status === 'UP') list.push(withWeight(i, i.weight * scale));
          }
        }
      }
      const staleness = stalenessOf(set);
      const last = out.last;
      const next =
        last === undefined
          ? instanceSet(set.service, set.registry, list, staleness)
          : replaceAll(last, list, staleness);
      // For explain(): the tiers of this emission (copied: the arrays are reused).
      const seen = { up: [...up], total: [...total], loads: [...loads], tiers: [...tiers] };
      noteSet(
        next,
        lazyNote('byLocality', () => ({
          zone,
          region: region ?? null,
          overprovisioning,
          panic: anyUp === 0,
          tiers: ['zone', 'region', 'rest'].map((tier, t) => ({
            tier,
            up: seen.up[t],
            total: seen.total[t],
            share: anyUp === 0 ? null : seen.loads[t],
            members: seen.tiers[t]!.instances.map((i) => i.id),
          })),
        })),
      );
      out.emit(next);
    };

    for (let t = 0; t < 3; t++) {
      const stream = perTier === undefined ? inputs[t]! : inputs[t]!.pipe(perTier);
      subscriptions.push(
        stream.subscribe({
          next: out.guard((set: InstanceSet) => {
            tiers[t] = set;
            if (!pushing) publish(); // a tier operator's own later emission (a timer)
          }),
          error: (e: unknown) => out.error(e),
        }),
      );
    }

    return {
      next: (set) => {
        source = set;
        pushing = true;
        try {
          for (let t = 0; t < 3; t++) {
            const keep = (i: Instance): boolean => tierOf(i) === t;
            const view = filterSet(set, keep, views[t]);
            views[t] = { input: set, output: view };
            inputs[t]!.next(view);
          }
        } finally {
          pushing = false;
        }
        publish();
      },
      teardown: () => {
        for (const s of subscriptions) s.unsubscribe();
      },
    };
  });
};

const withWeight = (i: Instance, weight: number): Instance =>
  weight === i.weight ? i : freezeInstance({ ...i, weight });
