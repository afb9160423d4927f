import { map, Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import {
  AuthenticationError,
  RegistryUnavailableError,
  type RxdiscoError,
} from '../../../src/core/errors.js';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import { type SourceEvent, shareWatch, watchInstances } from '../../../src/core/watch.js';
import { inst, REGISTRY } from './fixtures.js';

const newScheduler = () => new TestScheduler((a, b) => expect(a).toEqual(b));

/** A summary of an emitted set that marbles can compare: ids, staleness. */
const view = (s: InstanceSet) => ({ ids: s.instances.map((i) => i.id).join(','), stale: s.stale });

const snapshot = (ids: number[], cursor?: number): SourceEvent<number> => ({
  type: 'snapshot',
  instances: ids.map((n) => inst(n)),
  ...(cursor === undefined ? {} : { cursor }),
});
const changes = (up: number[], down: number[], cursor?: number): SourceEvent<number> => ({
  type: 'changes',
  upserts: up.map((n) => inst(n)),
  removals: down.map(String),
  ...(cursor === undefined ? {} : { cursor }),
});

const unavailable = new RegistryUnavailableError('connection refused');
const noJitter = exponentialBackoff({ initialMs: 10, maxMs: 40, jitter: 'none' });

describe('watchInstances', () => {
  it('emits the full set first, then one emission per effective change, never two equal sets', () => {
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const session = cold<SourceEvent<number>>('a-b-c-d-e', {
        a: snapshot([1, 2]),
        b: changes([3], []), // add 3
        c: changes([3], []), // same again: no emission
        d: changes([], [9]), // removing an unknown id: no emission
        e: changes([], [1]),
      });
      const set$ = watchInstances('hello', REGISTRY, () => session);
      expectObservable(set$.pipe(mapView())).toBe('a-b-----e', {
        a: { ids: '1,2', stale: false },
        b: { ids: '1,2,3', stale: false },
        e: { ids: '2,3', stale: false },
      });
      expectSubscriptions(session.subscriptions).toBe('^');
    });
  });

  it('marks the last set stale on a transient fault, retries with backoff from the last cursor, and clears staleness', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const resumes: (number | undefined)[] = [];
      const sessions = [
        cold<SourceEvent<number>>(
          'a-b-#',
          { a: snapshot([1], 5), b: changes([2], [], 7) },
          unavailable,
        ),
        cold<SourceEvent<number>>('c', { c: changes([], [1], 9) }),
      ];
      const set$ = watchInstances(
        'hello',
        REGISTRY,
        (resume: number | undefined) => {
          resumes.push(resume);
          return sessions[resumes.length - 1]!;
        },
        { backoff: noJitter },
      );
      // fault at 4, first backoff 10 ms: reconnect at 14, which delivers at once.
      expectObservable(set$.pipe(mapView())).toBe('a-b-s 9ms c', {
        a: { ids: '1', stale: false },
        b: { ids: '1,2', stale: false },
        s: { ids: '1,2', stale: true },
        c: { ids: '2', stale: false },
      });
      return () => expect(resumes).toEqual([undefined, 7]);
    });
  });

  it('emits an empty stale set when the registry is down from the start, then recovers', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      let calls = 0;
      const set$ = watchInstances(
        'hello',
        REGISTRY,
        () => {
          calls++;
          return calls < 3
            ? cold<SourceEvent<number>>('#', {}, unavailable)
            : cold('a', { a: snapshot([1]) });
        },
        { backoff: noJitter },
      );
      // faults at 0 and 10 (delays 10 then 20): third session at 30.
      expectObservable(set$.pipe(mapView())).toBe('s 29ms a', {
        s: { ids: '', stale: true },
        a: { ids: '1', stale: false },
      });
    });
  });

  it('grows the backoff exponentially up to its cap and resets it after a session delivers', () => {
    const ts = newScheduler();
    const opened: number[] = [];
    ts.run(({ expectObservable }) => {
      let n = 0;
      const set$ = watchInstances(
        'hello',
        REGISTRY,
        () =>
          new Observable<SourceEvent<number>>((s) => {
            n++;
            opened.push(ts.now());
            if (n === 5) {
              s.next(snapshot([1]));
              s.error(unavailable);
            } else s.error(unavailable);
          }),
        { backoff: noJitter },
      );
      // delays 10, 20, 40, 40 (capped): opens at 0, 10, 30, 70, 110; the 5th delivers,
      // then fails: the backoff restarted, so the 6th opens 10 ms later, at 120.
      expectObservable(set$.pipe(mapView()), '^ 125ms !').toBe('s 109ms (ab)', {
        s: { ids: '', stale: true },
        a: { ids: '1', stale: false },
        b: { ids: '1', stale: true },
      });
    });
    expect(opened).toEqual([0, 10, 30, 70, 110, 120]);
  });

  it('errors the stream with a permanent fault and does not retry', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const denied = new AuthenticationError('bad password');
      let calls = 0;
      const set$ = watchInstances(
        'hello',
        REGISTRY,
        () => {
          calls++;
          return cold<SourceEvent<number>>('a-#', { a: snapshot([1]) }, denied);
        },
        { backoff: noJitter },
      );
      expectObservable(set$.pipe(mapView())).toBe('a-#', { a: { ids: '1', stale: false } }, denied);
      return () => expect(calls).toBe(1);
    });
  });

  it.each([
    ['treats a session that completes as a transient fault', 'a|', [1], [1, 2], '1', '1,2'],
    [
      're-reads the whole set after a reconnect that cannot resume, emitting only what changed',
      'a#',
      [1, 2],
      [2, 3],
      '1,2',
      '2,3',
    ],
  ])('%s', (_, first, before, after, beforeIds, afterIds) => {
    newScheduler().run(({ cold, expectObservable }) => {
      const sessions = [
        cold<SourceEvent<number>>(first, { a: snapshot(before) }, unavailable),
        cold<SourceEvent<number>>('b', { b: snapshot(after) }),
      ];
      let calls = 0;
      const set$ = watchInstances('hello', REGISTRY, () => sessions[calls++]!, {
        backoff: noJitter,
      });
      expectObservable(set$.pipe(mapView())).toBe('as 9ms b', {
        a: { ids: beforeIds, stale: false },
        s: { ids: beforeIds, stale: true },
        b: { ids: afterIds, stale: false },
      });
    });
  });

  it('reports skipped entries and transient faults without putting them in the stream', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      const reported: RxdiscoError[] = [];
      const bad = new RegistryUnavailableError('x');
      const set$ = watchInstances(
        'hello',
        REGISTRY,
        () =>
          cold<SourceEvent<number>>('a', {
            a: { type: 'snapshot', instances: [inst(1)], skipped: [bad as never] },
          }),
        { report: (p) => reported.push(p) },
      );
      expectObservable(set$.pipe(mapView())).toBe('a', { a: { ids: '1', stale: false } });
      return () => expect(reported).toEqual([bad]);
    });
  });

  it('releases the session and any retry timer on unsubscribe', () => {
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const session = cold<SourceEvent<number>>('a---', { a: snapshot([1]) });
      const set$ = watchInstances('hello', REGISTRY, () => session);
      expectObservable(set$.pipe(mapView()), '^--!').toBe('a', { a: { ids: '1', stale: false } });
      expectSubscriptions(session.subscriptions).toBe('^--!');
    });
  });
});

describe('shareWatch', () => {
  it('shares one upstream, replays the latest set to late subscribers, and keeps it for the grace period', () => {
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const session = cold<SourceEvent<number>>('a 5ms b', {
        a: snapshot([1]),
        b: snapshot([1, 2]),
      });
      const shared = shareWatch(
        watchInstances('hello', REGISTRY, () => session).pipe(mapView()),
        10,
      );
      const values = { a: { ids: '1', stale: false }, b: { ids: '1,2', stale: false } };
      expectObservable(shared, '^--!').toBe('a', values);
      // joins after the first left, within the grace period: gets the replay, same upstream.
      expectObservable(shared, '-----^-!').toBe('-----ab', values);
      // the upstream stops 10 ms after the last unsubscribe (at 7): at 17.
      expectSubscriptions(session.subscriptions).toBe('^ 16ms !');
    });
  });

  it('starts a new upstream for a subscriber that comes after the grace period', () => {
    newScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const session = cold<SourceEvent<number>>('a', { a: snapshot([1]) });
      const shared = shareWatch(
        watchInstances('hello', REGISTRY, () => session).pipe(mapView()),
        5,
      );
      const values = { a: { ids: '1', stale: false } };
      expectObservable(shared, '^!').toBe('a', values);
      expectObservable(shared, '- 20ms ^!').toBe('- 20ms a', values);
      expectSubscriptions(session.subscriptions).toBe(['^ 5ms !', '- 20ms ^ 5ms !']);
    });
  });
});

function mapView() {
  return map(view);
}

describe('watchInstances with a source that throws', () => {
  it('treats a synchronous throw of the source function as a fault', () => {
    newScheduler().run(({ cold, expectObservable }) => {
      let calls = 0;
      const set$ = watchInstances(
        'hello',
        REGISTRY,
        () => {
          if (calls++ === 0) throw new RegistryUnavailableError('no route');
          return cold<SourceEvent<number>>('a', { a: snapshot([1]) });
        },
        { backoff: noJitter },
      );
      expectObservable(set$.pipe(mapView())).toBe('s 9ms a', {
        s: { ids: '', stale: true },
        a: { ids: '1', stale: false },
      });
    });
  });
});
