import { catchError, concatWith, map, NEVER, type Observable, of } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { KubernetesClient, WatchLine } from '../../../../src/backends/kubernetes/client.js';
import { type ListWatchFold, listWatch } from '../../../../src/backends/kubernetes/list-watch.js';
import { isRegistryUnavailableError } from '../../../../src/core/errors.js';

const purpose = { resource: 'endpointslices.discovery.k8s.io', namespace: 'ns', context: {} };
const fold: ListWatchFold<number> = {
  listed: (items) => ({ state: items.length, skipped: [] }),
  event: (state) => ({ state: state + 1, skipped: [] }),
};

/** A client whose watches are the given observables, in turn; lists are not expected. */
const client = (watches: Array<Observable<WatchLine>>, paths: string[]): KubernetesClient => ({
  list: () => Promise.reject(new Error('no list expected')),
  send: () => Promise.reject(new Error('no request expected')),
  watch: (path) => {
    paths.push(path);
    return watches.shift() ?? NEVER;
  },
  close: () => undefined,
});

const scheduler = (): TestScheduler => new TestScheduler((a, b) => expect(a).toEqual(b));

describe('listWatch', () => {
  it('treats a watch silent past timeoutSeconds plus the margin as dead (retryable)', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const paths: string[] = [];
      const open = cold<WatchLine>('a', { a: { type: 'OPEN' } }).pipe(concatWith(NEVER));
      const out = listWatch(
        client([open], paths),
        '/apis/x',
        purpose,
        fold,
        { watchTimeoutMs: 5000, silenceMarginMs: 1000, requestTimeoutMs: 1000, scheduler: ts },
        { resourceVersion: '7', state: 0 },
      ).pipe(
        map((e) => e.type),
        catchError((e: unknown) =>
          of(isRegistryUnavailableError(e) && e.retryable ? 'dead' : `other: ${String(e)}`),
        ),
      );
      expectObservable(out).toBe('a 5999ms (d|)', { a: 'alive', d: 'dead' });
    });
  });

  it('resumes a watch the server ended from the last resourceVersion seen, a bookmark included', () => {
    const ts = scheduler();
    const paths: string[] = [];
    ts.run(({ cold, expectObservable }) => {
      const first = cold<WatchLine>('a b c |', {
        a: { type: 'OPEN' },
        b: { type: 'MODIFIED', object: { metadata: { name: 's', resourceVersion: '8' } } },
        c: { type: 'BOOKMARK', object: { metadata: { resourceVersion: '12' } } },
      });
      const second = cold<WatchLine>('a', { a: { type: 'OPEN' } }).pipe(concatWith(NEVER));
      const out = listWatch(
        client([first, second], paths),
        '/apis/x?labelSelector=l',
        purpose,
        fold,
        { watchTimeoutMs: 60_000, silenceMarginMs: 1000, requestTimeoutMs: 1000, scheduler: ts },
        { resourceVersion: '7', state: 0 },
      ).pipe(map((e) => `${e.type}@${e.cursor.resourceVersion}:${e.cursor.state}`));
      expectObservable(out, '^ 100ms !').toBe('a b c d', {
        a: 'alive@7:0',
        b: 'state@8:1',
        c: 'alive@12:1',
        d: 'alive@12:1',
      });
    });
    expect(paths).toHaveLength(2);
    expect(paths[0]).toContain(
      'labelSelector=l&watch=true&allowWatchBookmarks=true&timeoutSeconds=60&resourceVersion=7',
    );
    expect(paths[1]).toContain('resourceVersion=12');
  });
});
