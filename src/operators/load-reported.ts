import { asyncScheduler, type SchedulerLike, type Subscription, timer } from 'rxjs';
import type { Instance } from '../core/instance.js';
import type { InstanceSet } from '../core/instance-set.js';
import { durationOption, numberOption } from '../core/options.js';
import type { Outcome } from './balancers/balancer.js';
import type { WeightPolicy, WeightRun } from './balancers/weights.js';
import { loadWeight, parseLoadReport } from './load-report.js';

/** Options of {@link loadReported}. */
export interface LoadReportedOptions {
  /**
   * How long an instance must have reported usable loads before its weight
   * is used, in ms (gRPC's `blackout_period`): a new weight, or one that
   * expired, is not trusted from its very first report. 0 for none.
   * @default 10000
   */
  readonly blackoutMs?: number;
  /**
   * How long a weight stays in use without a new report, in ms (gRPC's
   * `weight_expiration_period`); after it the instance counts as unreported
   * again, and its next reports go through the blackout again.
   * @default 180000
   */
  readonly expiryMs?: number;
  /**
   * How much errors weigh against an instance (gRPC's
   * `error_utilization_penalty`): the weight is `qps / (utilization +
   * errorPenalty × eps / qps)`.
   * @default 1
   */
  readonly errorPenalty?: number;
  /**
   * How often the balancers re-read the weights, in ms (gRPC's
   * `weight_update_period`).
   * @default 1000
   */
  readonly refreshMs?: number;
  /**
   * The clock (`now()`) and the scheduler of the refresh timer.
   * @default asyncScheduler
   */
  readonly scheduler?: SchedulerLike;
}

/**
 * Weights from the load servers report: a weight policy (pass it as the
 * `weights` of a weighted balancer) that is also where the reports go.
 * Made by {@link loadReported}.
 *
 * @example
 * ```ts
 * const load = loadReported();
 * const hello = live(registry.instances$('hello').pipe(healthy(), weightedRoundRobin({ weights: load })));
 * load.reportLoad(instance, response.headers.get('endpoint-load-metrics'));
 * ```
 */
export interface LoadReported extends WeightPolicy {
  /**
   * Records the load `instance` reported with an answer, in ORCA's text
   * form (the `endpoint-load-metrics` header's value). A missing or
   * malformed report, or one without qps or utilization, is ignored.
   */
  reportLoad(instance: Instance, report: string | null | undefined): void;
  /**
   * The weight in use for `instance` now: `undefined` while it has none
   * (never reported, in its blackout, or expired).
   */
  weightOf(instance: Instance): number | undefined;
}

/** What is known of one instance's reports (gRPC's `endpointWeight`). */
interface Reported {
  weight: number;
  /** Since when the reports have been usable without a gap longer than the expiry. */
  nonEmptySince: number | undefined;
  lastUpdate: number;
}

interface Resolved {
  readonly blackoutMs: number;
  readonly expiryMs: number;
  readonly errorPenalty: number;
  readonly refreshMs: number;
  readonly scheduler: SchedulerLike;
}

/** The weight of `r` at `now` (0: none), and the expiry's reset (gRPC A58). */
const weightAt = (r: Reported, now: number, o: Resolved): number => {
  if (now - r.lastUpdate >= o.expiryMs) {
    r.nonEmptySince = undefined;
    return 0;
  }
  if (o.blackoutMs > 0 && (r.nonEmptySince === undefined || now - r.nonEmptySince < o.blackoutMs)) {
    return 0;
  }
  return r.weight;
};

class LoadReportedRun implements WeightRun {
  readonly #handle: LoadReportedPolicy;
  readonly #timer: Subscription;

  constructor(handle: LoadReportedPolicy, changed: () => void) {
    this.#handle = handle;
    const o = handle.options;
    this.#timer = timer(o.refreshMs, o.refreshMs, o.scheduler).subscribe(() => {
      handle.prune();
      changed();
    });
  }

  update(_set: InstanceSet): void {}

  /**
   * Each instance's reported weight; the ones without (new, in blackout,
   * expired) get the mean of the others, so that they are tried and can
   * report. Fewer than two with a weight: the weights are left as they are.
   */
  apply(list: readonly Instance[], weights: Float64Array): void {
    const handle = this.#handle;
    const o = handle.options;
    const now = o.scheduler.now();
    let known = 0;
    let sum = 0;
    for (let k = 0; k < list.length; k++) {
      const r = handle.reports.get(list[k]!.id);
      const w = r === undefined ? 0 : weightAt(r, now, o);
      if (w > 0) {
        known++;
        sum += w;
      }
    }
    if (known < 2) return;
    const mean = sum / known;
    for (let k = 0; k < list.length; k++) {
      const r = handle.reports.get(list[k]!.id);
      const w = r === undefined ? 0 : weightAt(r, now, o);
      weights[k] = w > 0 ? w : mean;
    }
  }

  finished(instance: Instance, outcome: Outcome): void {
    if (outcome.cancelled !== true && outcome.load !== undefined) {
      this.#handle.reportLoad(instance, outcome.load);
    }
  }

  stop(): void {
    this.#timer.unsubscribe();
  }
}

class LoadReportedPolicy implements LoadReported {
  readonly options: Resolved;
  /** By instance id; entries past their expiry are pruned at every refresh. */
  readonly reports = new Map<string, Reported>();

  constructor(options: Resolved) {
    this.options = options;
  }

  start(changed: () => void): WeightRun {
    return new LoadReportedRun(this, changed);
  }

  reportLoad(instance: Instance, report: string | null | undefined): void {
    const parsed = parseLoadReport(report);
    if (parsed === undefined) return;
    const weight = loadWeight(parsed, this.options.errorPenalty);
    if (!(weight > 0) || !Number.isFinite(weight)) return;
    const now = this.options.scheduler.now();
    const r = this.reports.get(instance.id);
    if (r === undefined) {
      this.reports.set(instance.id, { weight, nonEmptySince: now, lastUpdate: now });
      return;
    }
    if (now - r.lastUpdate >= this.options.expiryMs) r.nonEmptySince = undefined;
    r.weight = weight;
    r.lastUpdate = now;
    r.nonEmptySince ??= now;
  }

  weightOf(instance: Instance): number | undefined {
    const r = this.reports.get(instance.id);
    const w = r === undefined ? 0 : weightAt(r, this.options.scheduler.now(), this.options);
    return w > 0 ? w : undefined;
  }

  prune(): void {
    const now = this.options.scheduler.now();
    for (const [id, r] of this.reports) {
      if (now - r.lastUpdate >= this.options.expiryMs) this.reports.delete(id);
    }
  }
}

/**
 * Weights from the load servers report with their answers, as gRPC's
 * `weighted_round_robin` computes them (gRPC A58): each report (ORCA's text
 * form of the `endpoint-load-metrics` header, `TEXT cpu_utilization=0.3,
 * rps_fractional=120, eps=2`) gives the instance the weight `qps /
 * (utilization + errorPenalty × eps / qps)`, so that a server with twice
 * the capacity (half the utilization at the same qps) gets twice the
 * traffic. A new weight is used only after `blackoutMs` of reports; a
 * weight not renewed within `expiryMs` is dropped; an instance without a
 * weight gets the mean of the others. The reported weights replace the
 * instances' own `weight`; chain `slowStart()` after it in `weights` to
 * ramp new instances too.
 *
 * Reports reach it through `reportLoad(instance, text)`, or through the
 * balancer: an outcome `{ ok, latencyMs, load }` given to `finished()`
 * carries one (`call()` does with its `loadReport` option).
 *
 * @throws {ConfigError} when an option is out of range.
 * @example
 * ```ts
 * const load = loadReported({ blackoutMs: 10_000 });
 * const hello = live(
 *   registry.instances$('hello').pipe(healthy(), weightedRoundRobin({ weights: load })),
 * );
 * const text = await call(
 *   hello,
 *   async (i, { signal }) => {
 *     const res = await fetch(`${baseUrl(i)}/hello`, { signal });
 *     load.reportLoad(i, res.headers.get('endpoint-load-metrics'));
 *     return res.text();
 *   },
 * );
 * ```
 */
export const loadReported = (options: LoadReportedOptions = {}): LoadReported =>
  new LoadReportedPolicy({
    blackoutMs: durationOption('blackoutMs', options.blackoutMs, 10_000, { fix: 'use e.g. 10000' }),
    expiryMs: durationOption('expiryMs', options.expiryMs, 180_000, {
      above: 0,
      infinite: true,
      fix: 'use e.g. 180000 (3 min)',
    }),
    errorPenalty: numberOption('errorPenalty', options.errorPenalty, 1, {
      min: 0,
      fix: 'use e.g. 1',
    }),
    refreshMs: durationOption('refreshMs', options.refreshMs, 1000, {
      above: 0,
      fix: 'use e.g. 1000',
    }),
    scheduler: options.scheduler ?? asyncScheduler,
  });
