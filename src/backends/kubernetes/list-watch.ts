/**
 * The list+watch loop of the Kubernetes backend, rxdisco's own (not
 * client-node's informer): list at a resourceVersion, watch from it with
 * `allowWatchBookmarks=true` and `timeoutSeconds`, fold every event into a
 * state, and:
 * - a watch the server ends (its `timeoutSeconds` ran out) is resumed from
 *   the last resourceVersion seen, bookmarks included;
 * - a 410 (HTTP, or an `ERROR` event with code 410, "too old resource
 *   version") re-lists: the new list replaces the state, so no change is lost;
 * - a watch silent for longer than `timeoutSeconds` plus a margin is dead
 *   (client-node #364): the session fails with a retryable error and the
 *   core reopens it from the last cursor after a backoff, the set kept and
 *   marked stale meanwhile.
 * The cursor (resourceVersion and folded state) is what the core passes
 * back to resume.
 *
 * @module
 */
import {
  Observable,
  type SchedulerLike,
  type Subscription,
  takeWhile,
  throwError,
  timeout,
} from 'rxjs';
import { type DecodeError, RegistryUnavailableError } from '../../core/errors.js';
import { GoneError, type KubernetesClient, type RequestPurpose } from './client.js';

/** Where a list+watch resumes: the last resourceVersion and the state folded up to it. */
export interface ListWatchCursor<S> {
  readonly resourceVersion: string;
  readonly state: S;
}

/** How the loop folds the objects of a list and the events of a watch. */
export interface ListWatchFold<S> {
  /** The state of a whole list. */
  listed(items: readonly unknown[]): { state: S; skipped: readonly DecodeError[] };
  /** The state after one ADDED / MODIFIED / DELETED event. */
  event(
    state: S,
    type: 'ADDED' | 'MODIFIED' | 'DELETED',
    object: unknown,
  ): { state: S; skipped: readonly DecodeError[] };
}

/** What the loop emits. */
export interface ListWatchEvent<S> {
  /** `state`: a list or an event changed the state; `alive`: a watch opened or a bookmark came. */
  readonly type: 'state' | 'alive';
  readonly cursor: ListWatchCursor<S>;
  readonly skipped: readonly DecodeError[];
}

/** The timing of the loop. */
export interface ListWatchTiming {
  /** `timeoutSeconds` of each watch request, in ms. */
  readonly watchTimeoutMs: number;
  /** How much longer than `watchTimeoutMs` a watch may stay silent before it is dead. */
  readonly silenceMarginMs: number;
  /** Deadline of a list request. */
  readonly requestTimeoutMs: number;
  readonly scheduler: SchedulerLike;
}

const resourceVersionOf = (o: unknown): string | undefined => {
  const rv = (o as { metadata?: { resourceVersion?: unknown } } | null)?.metadata?.resourceVersion;
  return typeof rv === 'string' && rv !== '' ? rv : undefined;
};

const errorCode = (o: unknown): number | undefined => {
  const code = (o as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
};

/**
 * One list+watch session from `resume` (a list first when undefined).
 *
 * @param listPath - the collection path with its query (`...?labelSelector=...`).
 */
export const listWatch = <S>(
  client: KubernetesClient,
  listPath: string,
  purpose: Omit<RequestPurpose, 'verb'>,
  fold: ListWatchFold<S>,
  timing: ListWatchTiming,
  resume: ListWatchCursor<S> | undefined,
): Observable<ListWatchEvent<S>> =>
  new Observable<ListWatchEvent<S>>((subscriber) => {
    let cursor = resume;
    let inner: Subscription | undefined;
    let closed = false;
    const sep = listPath.includes('?') ? '&' : '?';

    const list = (): void => {
      client
        .list(listPath, { ...purpose, verb: 'list' }, timing.requestTimeoutMs)
        .then((body) => {
          if (closed) return;
          const b = body as { items?: unknown; metadata?: { resourceVersion?: unknown } } | null;
          const items = Array.isArray(b?.items) ? (b.items as unknown[]) : [];
          const rv = resourceVersionOf(b);
          if (rv === undefined) {
            subscriber.error(
              new RegistryUnavailableError(
                `list ${purpose.resource} answered without a resourceVersion`,
                purpose.context,
              ),
            );
            return;
          }
          const { state, skipped } = fold.listed(items);
          cursor = { resourceVersion: rv, state };
          subscriber.next({ type: 'state', cursor, skipped });
          watch();
        })
        .catch((e: unknown) => {
          if (!closed) subscriber.error(e);
        });
    };

    const watch = (): void => {
      const from = cursor;
      if (from === undefined) {
        list();
        return;
      }
      let gone = false;
      const seconds = Math.max(1, Math.round(timing.watchTimeoutMs / 1000));
      const path = `${listPath}${sep}watch=true&allowWatchBookmarks=true&timeoutSeconds=${seconds}&resourceVersion=${encodeURIComponent(from.resourceVersion)}`;
      const silenceMs = seconds * 1000 + timing.silenceMarginMs;
      inner = client
        .watch(path, { ...purpose, verb: 'watch' })
        .pipe(
          timeout({
            each: silenceMs,
            scheduler: timing.scheduler,
            with: () =>
              throwError(
                () =>
                  new RegistryUnavailableError(
                    `watch of ${purpose.resource} silent for ${silenceMs} ms (past its timeoutSeconds): reconnecting`,
                    purpose.context,
                  ),
              ),
          }),
          takeWhile(
            (line) =>
              !(line.type === 'ERROR' && errorCode((line as { object: unknown }).object) === 410),
            true,
          ),
        )
        .subscribe({
          next: (line) => {
            const c = cursor;
            if (c === undefined) return;
            if (line.type === 'OPEN') {
              subscriber.next({ type: 'alive', cursor: c, skipped: [] });
              return;
            }
            const object = (line as { object: unknown }).object;
            const rv = resourceVersionOf(object);
            switch (line.type) {
              case 'BOOKMARK':
                if (rv !== undefined) {
                  cursor = { resourceVersion: rv, state: c.state };
                  subscriber.next({ type: 'alive', cursor, skipped: [] });
                }
                return;
              case 'ADDED':
              case 'MODIFIED':
              case 'DELETED': {
                const { state, skipped } = fold.event(c.state, line.type, object);
                cursor = { resourceVersion: rv ?? c.resourceVersion, state };
                subscriber.next({ type: 'state', cursor, skipped });
                return;
              }
              case 'ERROR':
                if (errorCode(object) === 410) {
                  gone = true;
                  return;
                }
                subscriber.error(
                  new RegistryUnavailableError(
                    `watch of ${purpose.resource} sent an error: ${JSON.stringify(object).slice(0, 300)}`,
                    purpose.context,
                  ),
                );
                return;
              default:
                return;
            }
          },
          error: (e: unknown) => {
            if (closed) return;
            if (e instanceof GoneError) {
              cursor = undefined;
              list();
              return;
            }
            subscriber.error(e);
          },
          complete: () => {
            if (closed) return;
            if (gone) cursor = undefined;
            // Ended by the server (timeoutSeconds) or by a 410: resume, or re-list.
            watch();
          },
        });
    };

    watch();
    return () => {
      closed = true;
      inner?.unsubscribe();
    };
  });
