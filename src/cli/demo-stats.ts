/**
 * The demo client's tally: calls, retries, and attempts per instance.
 *
 * @module
 */
import { formatTable } from './table.js';

/** Attempts on one instance. */
export interface InstanceTally {
  readonly picks: number;
  readonly ok: number;
  readonly failed: number;
}

/** Counts of the demo's calls. A call is one or two attempts (one retry). */
export class DemoStats {
  /** Calls that ended (ok or failed). */
  calls = 0;
  /** Calls that got an answer, on the first attempt or the retry. */
  ok = 0;
  /** Calls that got no answer even after the retry. */
  failed = 0;
  /** Calls whose first attempt failed and were retried on another instance. */
  retried = 0;
  readonly #byInstance = new Map<string, InstanceTally>();

  /** Records one attempt on instance `id`. */
  attempt(id: string, ok: boolean): void {
    const t = this.#byInstance.get(id) ?? { picks: 0, ok: 0, failed: 0 };
    this.#byInstance.set(id, {
      picks: t.picks + 1,
      ok: t.ok + (ok ? 1 : 0),
      failed: t.failed + (ok ? 0 : 1),
    });
  }

  /** Records the end of a call. */
  call(ok: boolean, retried: boolean): void {
    this.calls++;
    if (ok) this.ok++;
    else this.failed++;
    if (retried) this.retried++;
  }

  /** Attempts per instance, sorted by id. */
  get byInstance(): ReadonlyMap<string, InstanceTally> {
    return new Map([...this.#byInstance].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }

  /** `120 calls: 120 ok, 0 failed, 2 retried on another instance`. */
  line(): string {
    return `${this.calls} calls: ${this.ok} ok, ${this.failed} failed, ${this.retried} retried on another instance`;
  }

  /** `hello-1 41, hello-2 40, hello-3 41`: picks per instance. */
  picksLine(): string {
    return [...this.byInstance].map(([id, t]) => `${id} ${t.picks}`).join(', ') || 'none yet';
  }

  /** The distribution table: instance, picks, share, ok, failed. */
  table(): string[] {
    const total = [...this.#byInstance.values()].reduce((n, t) => n + t.picks, 0);
    return formatTable(
      ['INSTANCE', 'PICKS', 'SHARE', 'OK', 'FAILED'],
      [...this.byInstance].map(([id, t]) => [
        id,
        String(t.picks),
        `${total === 0 ? 0 : Math.round((100 * t.picks) / total)}%`,
        String(t.ok),
        String(t.failed),
      ]),
    );
  }
}
