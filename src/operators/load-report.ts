/**
 * ORCA's text form of a per-response load report (the
 * `endpoint-load-metrics` header), as gRPC and Envoy write it.
 *
 * @module
 */

/** The name of the header in which a server reports its load per response. */
export const LOAD_REPORT_HEADER = 'endpoint-load-metrics';

/**
 * A server's load, as one response reports it (ORCA's `OrcaLoadReport`
 * fields that weighting reads; absent fields are 0, as in ORCA).
 */
export interface LoadReport {
  /** CPU use, 0 to 1 (may exceed 1 on an overcommitted host). */
  readonly cpuUtilization: number;
  /** The application's own utilization; preferred to the CPU's when above 0. */
  readonly applicationUtilization: number;
  /** Memory use, 0 to 1. */
  readonly memUtilization: number;
  /** Queries per second the server answers. */
  readonly rpsFractional: number;
  /** Errors per second the server answers. */
  readonly eps: number;
}

const FIELDS: Readonly<Record<string, keyof LoadReport>> = {
  cpu_utilization: 'cpuUtilization',
  application_utilization: 'applicationUtilization',
  mem_utilization: 'memUtilization',
  rps_fractional: 'rpsFractional',
  eps: 'eps',
};

/**
 * Parses ORCA's text form, `TEXT cpu_utilization=0.3, rps_fractional=120,
 * eps=2` (the `TEXT` prefix optional; `named_metrics.*`, `utilization.*`,
 * `request_cost.*` and unknown keys ignored). Returns `undefined` for
 * anything else (a binary or JSON report, a negative or non-numeric value,
 * a missing header): a malformed report teaches nothing, never throws.
 *
 * @example
 * ```ts
 * parseLoadReport('TEXT cpu_utilization=0.3, rps_fractional=120');
 * // { cpuUtilization: 0.3, applicationUtilization: 0, memUtilization: 0, rpsFractional: 120, eps: 0 }
 * ```
 */
export const parseLoadReport = (text: string | null | undefined): LoadReport | undefined => {
  if (typeof text !== 'string') return undefined;
  let body = text.trim();
  if (body.startsWith('TEXT')) body = body.slice(4);
  else if (/^(BIN|JSON)\b/.test(body)) return undefined;
  const report: Record<keyof LoadReport, number> = {
    cpuUtilization: 0,
    applicationUtilization: 0,
    memUtilization: 0,
    rpsFractional: 0,
    eps: 0,
  };
  let seen = 0;
  for (const part of body.split(',')) {
    const pair = part.trim();
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) return undefined;
    const field = FIELDS[pair.slice(0, eq).trim()];
    if (field === undefined) continue;
    const raw = pair.slice(eq + 1).trim();
    const value = Number(raw);
    if (raw === '' || !Number.isFinite(value) || value < 0) return undefined;
    report[field] = value;
    seen++;
  }
  return seen === 0 ? undefined : report;
};

/**
 * The weight gRPC's `weighted_round_robin` gives a report (gRPC A58):
 * `qps / (utilization + errorPenalty × eps / qps)`, the utilization being
 * the application's when above 0, else the CPU's; 0 (no usable weight)
 * when the qps or the utilization is 0.
 *
 * @example
 * ```ts
 * loadWeight(parseLoadReport('TEXT cpu_utilization=0.5, rps_fractional=100')!, 1); // 200
 * ```
 */
export const loadWeight = (report: LoadReport, errorPenalty: number): number => {
  const qps = report.rpsFractional;
  const utilization =
    report.applicationUtilization > 0 ? report.applicationUtilization : report.cpuUtilization;
  if (!(qps > 0) || !(utilization > 0)) return 0;
  return qps / (utilization + (errorPenalty * report.eps) / qps);
};
