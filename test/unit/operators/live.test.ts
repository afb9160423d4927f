import { of, Subject, throwError } from 'rxjs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, NoInstanceError } from '../../../src/core/errors.js';
import type { Instance } from '../../../src/core/instance.js';
import { applyChanges, emptySet, type InstanceSet } from '../../../src/core/instance-set.js';
import type { Balancer } from '../../../src/operators/balancers/balancer.js';
import { leastRequest } from '../../../src/operators/balancers/least-request.js';
import { roundRobin } from '../../../src/operators/balancers/round-robin.js';
import { live } from '../../../src/operators/live.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import { inst, mulberry32, REGISTRY, setOf, testScheduler } from './fixtures.js';

expectNoLeakedHandles();

const a = inst('a');
const b = inst('b');
const c = inst('c');

/** Records how a promise settles, without awaiting it. */
const watch = <T>(p: Promise<T>) => {
  const state: { status: 'pending' | 'resolved' | 'rejected'; value?: T; reason?: unknown } = {
    status: 'pending',
  };
  p.then(
    (value) => Object.assign(state, { status: 'resolved', value }),
    (reason: unknown) => Object.assign(state, { status: 'rejected', reason }),
  );
  return state;
};

/** Lets pending promise callbacks run (works under fake timers too). */
const microtasks = async (): Promise<void> => {
  for (let k = 0; k < 5; k++) await Promise.resolve();
};

const source = () => {
  const sets = new Subject<InstanceSet>();
  return { sets, hello: live(sets.pipe(roundRobin({ start: 'first' }))) };
};

afterEach(() => {
  vi.useRealTimers();
});

describe('live()', () => {
  it('returns undefined before the first set, then picks from the latest balancer', () => {
    const { sets, hello } = source();
    expect(sets.observed).toBe(true); // subscribed at once
    expect(hello.pick()).toBeUndefined();
    expect(hello.current).toBeUndefined();
    expect(hello.set).toBeUndefined();
    const s0 = setOf(a, b);
    sets.next(s0);
    expect(hello.set).toBe(s0);
    expect([hello.pick()?.id, hello.pick()?.id, hello.pick()?.id]).toEqual(['a', 'b', 'a']);
    sets.next(applyChanges(s0, [c], []));
    expect([hello.pick()?.id, hello.pick()?.id]).toEqual(['b', 'c']); // rotation kept
    hello.close();
  });

  it('holds a synchronous source at once and keeps its last balancer after completion', () => {
    const hello = live(of(setOf(a)).pipe(roundRobin({ start: 'first' })));
    expect(hello.pick()?.id).toBe('a');
    expect(hello.current?.size).toBe(1);
    hello.close();
  });

  it('returns undefined from an empty set; pickAsync rejects naming service and registry', async () => {
    const { sets, hello } = source();
    sets.next(emptySet('hello', REGISTRY));
    expect(hello.pick()).toBeUndefined();
    const error = await hello.pickAsync().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoInstanceError);
    expect((error as NoInstanceError).service).toBe('hello');
    expect((error as NoInstanceError).registry).toBe(REGISTRY);
    expect((error as Error).message).toMatch(/registry memory:\/\/ops, service 'hello'.*empty/);
    hello.close();
  });

  it('pickAsync waits for the first set; each waiter gets its own pick; the timer is released', async () => {
    vi.useFakeTimers();
    const { sets, hello } = source();
    const one = watch(hello.pickAsync());
    const two = watch(hello.pickAsync('key', { timeoutMs: 60_000 }));
    expect(vi.getTimerCount()).toBe(2);
    await microtasks();
    expect([one.status, two.status]).toEqual(['pending', 'pending']);
    sets.next(setOf(a, b));
    await microtasks();
    expect([one.value?.id, two.value?.id]).toEqual(['a', 'b']);
    expect(vi.getTimerCount()).toBe(0);
    hello.close();
  });

  it('pickAsync rejects with NoInstanceError after the default 5000 ms', async () => {
    vi.useFakeTimers();
    const { hello } = source();
    const pending = watch(hello.pickAsync());
    await vi.advanceTimersByTimeAsync(4999);
    expect(pending.status).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(pending.status).toBe('rejected');
    expect(pending.reason).toBeInstanceOf(NoInstanceError);
    expect((pending.reason as Error).message).toMatch(/5000 ms/);
    expect(vi.getTimerCount()).toBe(0);
    hello.close();
  });

  it('pickAsync times out on virtual time under TestScheduler', async () => {
    let outcome: unknown;
    testScheduler().run(({ cold, flush }) => {
      const hello = live(cold('----a', { a: setOf(a) }).pipe(roundRobin({ start: 'first' })));
      hello.pickAsync(undefined, { timeoutMs: 3 }).then(
        (i) => {
          outcome = i;
        },
        (e: unknown) => {
          outcome = e;
        },
      );
      flush();
      expect(hello.pick()?.id).toBe('a'); // the set came after the timeout
      hello.close();
    });
    await microtasks();
    expect(outcome).toBeInstanceOf(NoInstanceError);
  });

  it('pickAsync rejects with the reason of an aborted signal and releases its timer', async () => {
    vi.useFakeTimers();
    const { hello } = source();
    const controller = new AbortController();
    const pending = watch(hello.pickAsync(undefined, { signal: controller.signal }));
    controller.abort(new Error('caller gave up'));
    await microtasks();
    expect((pending.reason as Error).message).toBe('caller gave up');
    expect(vi.getTimerCount()).toBe(0);
    const already = await hello.pickAsync(undefined, { signal: controller.signal }).catch((e) => e);
    expect((already as Error).message).toBe('caller gave up');
    expect(vi.getTimerCount()).toBe(0);
    hello.close();
  });

  it('pickAsync refuses a bad timeoutMs and can wait without one', async () => {
    vi.useFakeTimers();
    const { sets, hello } = source();
    await expect(hello.pickAsync(undefined, { timeoutMs: -1 })).rejects.toBeInstanceOf(ConfigError);
    await expect(hello.pickAsync(undefined, { timeoutMs: Number.NaN })).rejects.toThrow(
      /^timeoutMs must be a number of ms >= 0 \(or Infinity for none\) \(got NaN\); pass a timeoutMs/,
    );
    const forever = watch(hello.pickAsync(undefined, { timeoutMs: Infinity }));
    expect(vi.getTimerCount()).toBe(0);
    sets.next(setOf(c));
    await microtasks();
    expect(forever.value?.id).toBe('c');
    hello.close();
  });

  it('reports a stream error: waiters reject with it, the last balancer stays in use', async () => {
    const failing = new Subject<Balancer>();
    const hello = live(failing);
    const waiting = watch(hello.pickAsync());
    const boom = new Error('auth refused');
    failing.error(boom);
    await microtasks();
    expect(waiting.reason).toBe(boom);
    expect(hello.error).toBe(boom);
    expect(hello.pick()).toBeUndefined();
    await expect(hello.pickAsync()).rejects.toBe(boom);

    const sets = new Subject<InstanceSet>();
    const later = live(sets.pipe(roundRobin({ start: 'first' })));
    sets.next(setOf(a));
    sets.error(boom);
    expect(later.error).toBe(boom);
    expect(later.pick()?.id).toBe('a');
    expect((await later.pickAsync()).id).toBe('a');
    hello.close();
    later.close();
  });

  it('rejects waiters when the stream ends before any set', async () => {
    const empty = new Subject<Balancer>();
    const hello = live(empty);
    const waiting = watch(hello.pickAsync());
    empty.complete();
    await microtasks();
    expect(waiting.reason).toBeInstanceOf(NoInstanceError);
    await expect(live(throwError(() => new Error('x'))).pickAsync()).rejects.toThrow('x');
  });

  it('close() unsubscribes, rejects waiters, and later picks return undefined', async () => {
    vi.useFakeTimers();
    const { sets, hello } = source();
    const waiting = watch(hello.pickAsync());
    hello.close();
    expect(sets.observed).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    await microtasks();
    expect(waiting.reason).toBeInstanceOf(NoInstanceError);
    sets.next(setOf(a));
    expect(hello.pick()).toBeUndefined();
    expect(hello.current).toBeUndefined();
    await expect(hello.pickAsync()).rejects.toBeInstanceOf(NoInstanceError);
    hello.close(); // idempotent
  });

  it('forwards started() and finished() to the latest balancer', () => {
    const sets = new Subject<InstanceSet>();
    const hello = live(sets.pipe(leastRequest({ random: mulberry32(3) })));
    hello.started(a); // before any set: ignored, no throw
    const s0 = setOf(a, b);
    sets.next(s0);
    hello.started(a);
    sets.next(applyChanges(s0, [inst('a', { port: 81 })], []));
    const seen = new Set<string>();
    for (let k = 0; k < 50; k++) seen.add((hello.pick() as Instance).id);
    expect(seen).toEqual(new Set(['b']));
    hello.finished(a, { ok: true, latencyMs: 3 });
    for (let k = 0; k < 200; k++) seen.add((hello.pick() as Instance).id);
    expect(seen).toEqual(new Set(['a', 'b']));
    hello.close();
  });

  it('on real timers, a resolved pickAsync leaves no timer behind', async () => {
    const { sets, hello } = source();
    const p = hello.pickAsync();
    setTimeout(() => sets.next(setOf(a)), 5);
    expect((await p).id).toBe('a');
    const never = live(new Subject<Balancer>());
    await expect(never.pickAsync(undefined, { timeoutMs: 10 })).rejects.toBeInstanceOf(
      NoInstanceError,
    );
    never.close();
    hello.close();
  });
});
