/**
 * The DNS watch source: resolve, emit the whole set as a snapshot, wait the
 * records' TTL (bounded), resolve again, for as long as the session lives.
 * The core emits only when the set changed in effect, so an unchanged
 * answer is silent. A resolution that fails (no resolver answered, a
 * malformed message, SERVFAIL) ends the session with a retryable error: the
 * core keeps the last set, marks it stale and resolves again after a
 * backoff. Records skipped are reported when they differ from the previous
 * resolution's, not on every one.
 *
 * @module
 */
import { expand, map, type Observable, type SchedulerLike, switchMap, timer } from 'rxjs';
import type { SourceEvent, WatchSource } from '../../core/watch.js';
import type { Resolution } from './resolve.js';

/** The watch source that repeats `resolve` at the TTL of each answer. */
export const dnsSource =
  (resolve: () => Observable<Resolution>, scheduler: SchedulerLike): WatchSource<unknown> =>
  (): Observable<SourceEvent<unknown>> => {
    let reported = '';
    return resolve().pipe(
      expand((r) => timer(r.ttlMs, scheduler).pipe(switchMap(resolve))),
      map((r): SourceEvent<unknown> => {
        const problems = r.skipped.map((e) => e.message).join('\n');
        const fresh = problems !== reported;
        reported = problems;
        return {
          type: 'snapshot',
          instances: r.instances,
          ...(fresh && r.skipped.length > 0 ? { skipped: r.skipped } : {}),
        };
      }),
    );
  };
