/**
 * The options of the Kubernetes backend and their resolution, checked by the
 * core validator.
 *
 * @module
 */
import type { SchedulerLike } from 'rxjs';
import { asyncScheduler } from 'rxjs';
import { durationOption } from '../../core/options.js';
import type { ListWatchTiming } from './list-watch.js';

/** Options of `kubernetesDiscovery()` and `kubernetesBackend()`. */
export interface KubernetesOptions {
  /**
   * `timeoutSeconds` of each watch request, in ms (rounded to seconds): the
   * API server ends the watch then and rxdisco resumes it from the last
   * resourceVersion. A watch silent for longer than this plus
   * `silenceMarginMs` is treated as dead and reopened.
   * @default 60_000
   */
  readonly watchTimeoutMs?: number;
  /**
   * How much longer than `watchTimeoutMs` a watch may stay silent.
   * @default 10_000
   */
  readonly silenceMarginMs?: number;
  /**
   * Deadline of a list request, in ms.
   * @default 10_000
   */
  readonly requestTimeoutMs?: number;
  /**
   * `register()` into a Service that does not exist creates it (without a
   * selector, one port named `http`, or `https` for a secure instance);
   * otherwise it errors with a `ConfigError`.
   * @default false
   */
  readonly createService?: boolean;
  /**
   * The service account directory used in a Pod (its `token`, `ca.crt` and
   * `namespace`), with `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT`.
   * @default '/var/run/secrets/kubernetes.io/serviceaccount'
   */
  readonly serviceAccountDir?: string;
  /**
   * Scheduler of the silence timer (TestScheduler in tests).
   * @default asyncScheduler
   */
  readonly scheduler?: SchedulerLike;
}

/**
 * The options with their defaults, checked.
 *
 * @throws {ConfigError} naming the option out of range.
 */
export const resolveKubernetesOptions = (
  options: KubernetesOptions,
  registry: string,
): ListWatchTiming => {
  const context = { registry };
  return {
    watchTimeoutMs: durationOption(
      'watchTimeoutMs',
      options.watchTimeoutMs,
      60_000,
      { min: 1000, max: 3_600_000 },
      context,
    ),
    silenceMarginMs: durationOption(
      'silenceMarginMs',
      options.silenceMarginMs,
      10_000,
      { min: 0, max: 600_000 },
      context,
    ),
    requestTimeoutMs: durationOption(
      'requestTimeoutMs',
      options.requestTimeoutMs,
      10_000,
      { min: 1, max: 600_000 },
      context,
    ),
    scheduler: options.scheduler ?? asyncScheduler,
  };
};
