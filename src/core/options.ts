/**
 * One validator for every option of the library (numbers, durations,
 * ratios, enums) and one parser for durations written as text (`10s`,
 * `250ms`, `2m`; a bare number means seconds). Every check fails with the
 * same wording: `<field> must be <rule> (got <value>); <fix>`.
 *
 * @module
 */
import { ConfigError, type ErrorContext } from './errors.js';

/** The bounds of a numeric option. */
export interface NumberRule {
  /** Smallest allowed value (inclusive). */
  readonly min?: number;
  /** Largest allowed value (inclusive). */
  readonly max?: number;
  /** Values must be strictly greater than this. */
  readonly above?: number;
  /** Only whole numbers. */
  readonly integer?: boolean;
  /** `Infinity` is allowed (meaning "none"). */
  readonly infinite?: boolean;
  /** The fix the error suggests. */
  readonly fix?: string;
}

const describe = (rule: NumberRule, unit: string): string => {
  const kind = rule.integer ? 'an integer' : 'a number';
  const parts: string[] = [];
  if (rule.above !== undefined) parts.push(`> ${rule.above}`);
  if (rule.min !== undefined && rule.max !== undefined) {
    parts.push(`from ${rule.min} to ${rule.max}`);
  } else if (rule.min !== undefined) {
    parts.push(`>= ${rule.min}`);
  } else if (rule.max !== undefined) {
    parts.push(`<= ${rule.max}`);
  }
  const bounds = parts.length === 0 ? '' : ` ${parts.join(' and ')}`;
  return `${kind}${unit}${bounds}${rule.infinite ? ' (or Infinity for none)' : ''}`;
};

const show = (value: unknown): string =>
  typeof value === 'string'
    ? `'${value}'`
    : typeof value === 'number'
      ? String(value)
      : typeof value;

const fits = (value: unknown, rule: NumberRule): value is number => {
  if (typeof value !== 'number' || Number.isNaN(value)) return false;
  if (!Number.isFinite(value)) return rule.infinite === true && value > 0;
  if (rule.integer && !Number.isInteger(value)) return false;
  if (rule.above !== undefined && !(value > rule.above)) return false;
  if (rule.min !== undefined && value < rule.min) return false;
  if (rule.max !== undefined && value > rule.max) return false;
  return true;
};

const check = (
  field: string,
  value: unknown,
  rule: NumberRule,
  unit: string,
  context: ErrorContext | undefined,
): number => {
  if (fits(value, rule)) return value;
  throw new ConfigError(
    field,
    `must be ${describe(rule, unit)} (got ${show(value)})`,
    rule.fix ?? `fix the '${field}' option`,
    context,
  );
};

/**
 * A numeric option: `value` when given, else `fallback`, checked against `rule`.
 *
 * @throws {ConfigError} naming `field` when the value breaks the rule.
 * @example
 * ```ts
 * numberOption('attempts', options.attempts, 3, { integer: true, min: 1, max: 100 });
 * ```
 */
export const numberOption = (
  field: string,
  value: number | undefined,
  fallback: number,
  rule: NumberRule = {},
  context?: ErrorContext,
): number => check(field, value ?? fallback, rule, '', context);

/**
 * A duration option in milliseconds (its name ends in `Ms`): `value` when
 * given, else `fallback`; at least `rule.min` (default 0), finite unless
 * `rule.infinite`.
 *
 * @throws {ConfigError} naming `field` when the value breaks the rule.
 * @example
 * ```ts
 * durationOption('attemptTimeoutMs', options.attemptTimeoutMs, 10_000, { above: 0, infinite: true });
 * ```
 */
export const durationOption = (
  field: string,
  value: number | undefined,
  fallback: number,
  rule: NumberRule = {},
  context?: ErrorContext,
): number =>
  check(
    field,
    value ?? fallback,
    rule.above === undefined ? { min: 0, ...rule } : rule,
    ' of ms',
    context,
  );

/**
 * A ratio option, in [0, 1] unless `rule` narrows it (its name ends in `Ratio`
 * or `Share`).
 *
 * @throws {ConfigError} naming `field` when the value is not a ratio.
 */
export const ratioOption = (
  field: string,
  value: number | undefined,
  fallback: number,
  rule: NumberRule = {},
  context?: ErrorContext,
): number => check(field, value ?? fallback, { min: 0, max: 1, ...rule }, '', context);

/**
 * An enumerated option: `value` when given, else `fallback`, one of `allowed`.
 *
 * @throws {ConfigError} naming `field` and listing the allowed values.
 * @example
 * ```ts
 * enumOption('jitter', options.jitter, 'full', ['full', 'none'] as const);
 * ```
 */
export const enumOption = <T extends string>(
  field: string,
  value: T | undefined,
  fallback: T,
  allowed: readonly T[],
  context?: ErrorContext,
): T => {
  const v: unknown = value ?? fallback;
  if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
  throw new ConfigError(
    field,
    `must be one of ${allowed.map((a) => `'${a}'`).join(', ')} (got ${show(v)})`,
    `fix the '${field}' option`,
    context,
  );
};

const UNITS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a duration written as text, as CLI flags and URL parameters take
 * them: `250ms`, `10s`, `1.5s`, `2m`, `1h`, or a bare number of seconds.
 * Returns milliseconds.
 *
 * @throws {ConfigError} naming `field` for anything else (empty, negative, `10x`).
 * @example
 * ```ts
 * parseDuration('--ttl', '10s'); // 10000
 * parseDuration('wait', '30');   // 30000
 * ```
 */
export const parseDuration = (field: string, text: string, context?: ErrorContext): number => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  const ms = m === null ? Number.NaN : Number(m[1]) * UNITS[m[2] ?? 's']!;
  if (!Number.isFinite(ms)) {
    throw new ConfigError(
      field,
      `must be a duration such as 250ms, 10s or 2m, a bare number meaning seconds (got '${text}')`,
      `fix the value of ${field}`,
      context,
    );
  }
  return Math.round(ms);
};

/**
 * Writes milliseconds the way {@link parseDuration} reads them (`10s`,
 * `250ms`, `2m`), for messages and URLs.
 */
export const formatDuration = (ms: number): string => {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
};
