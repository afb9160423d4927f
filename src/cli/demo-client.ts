/**
 * The demo client's call: pick an instance, call it over HTTP, and when the
 * attempt fails retry once on another pick.
 *
 * @module
 */
import { performance } from 'node:perf_hooks';
import { baseUrl, type Instance } from '../core/instance.js';
import type { DemoStats } from './demo-stats.js';

/** What the call needs of a balancer (a `LiveBalancer` is one). */
export interface DemoPicker {
  pick(key?: string): Instance | undefined;
  started(instance: Instance): void;
  finished(instance: Instance, outcome: { ok: boolean; latencyMs: number }): void;
}

/** One attempt: GET / on `instance`; true on a 200 answer. Never rejects. */
const attempt = async (
  picker: DemoPicker,
  instance: Instance,
  stats: DemoStats,
  timeoutMs: number,
): Promise<{ ok: boolean; why: string }> => {
  picker.started(instance);
  const start = performance.now();
  let ok = false;
  let why = '';
  try {
    const res = await fetch(`${baseUrl(instance)}/`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.text();
    ok = res.ok;
    why = `HTTP ${res.status}`;
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    why = cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e));
  }
  picker.finished(instance, { ok, latencyMs: performance.now() - start });
  stats.attempt(instance.id, ok);
  return { ok, why };
};

/**
 * Makes one call: an attempt on `picker.pick()`, and on failure one more on
 * the next pick when it is another instance. Records everything in `stats`
 * and reports a retry through `onRetry`. Never rejects.
 */
export const callOnce = async (
  picker: DemoPicker,
  stats: DemoStats,
  onRetry: (failed: Instance, why: string, next: Instance | undefined, ok: boolean) => void,
  timeoutMs = 2000,
): Promise<void> => {
  const first = picker.pick();
  if (first === undefined) {
    stats.call(false, false);
    return;
  }
  const one = await attempt(picker, first, stats, timeoutMs);
  if (one.ok) {
    stats.call(true, false);
    return;
  }
  const next = picker.pick();
  if (next === undefined || next.id === first.id) {
    onRetry(first, one.why, undefined, false);
    stats.call(false, false);
    return;
  }
  const two = await attempt(picker, next, stats, timeoutMs);
  onRetry(first, one.why, next, two.ok);
  stats.call(two.ok, true);
};
