import {
  concat,
  firstValueFrom,
  NEVER,
  Observable,
  of,
  type SchedulerAction,
  type SchedulerLike,
  Subscription,
  VirtualAction,
  VirtualTimeScheduler,
} from 'rxjs';
import { describe, expect, it } from 'vitest';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import { type Backend, createDiscovery, type WatchParams } from '../../../src/core/discovery.js';
import {
  ConfigError,
  RegistryUnavailableError,
  type RxdiscoError,
} from '../../../src/core/errors.js';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import type { SourceEvent, WatchSource } from '../../../src/core/watch.js';
import { inst } from './fixtures.js';

/** A backend whose watch sessions answer with one snapshot then stay open; counts `instances()`. */
const fakeBackend = (
  session: (service: string) => Observable<SourceEvent> = () =>
    concat(of<SourceEvent>({ type: 'snapshot', instances: [inst(1)] }), NEVER),
) => {
  const calls = { instances: 0, sessions: 0 };
  const backend: Backend = {
    instances: (service: string, _params: WatchParams): WatchSource<unknown> => {
      calls.instances++;
      return () => {
        calls.sessions++;
        return session(service);
      };
    },
    services: () => () => NEVER,
    registrar: undefined,
    close: async () => undefined,
  };
  return { calls, backend };
};

/** A scheduler whose time only moves when flushed, up to `frames` ms. */
const virtualTime = (frames = 60_000) => new VirtualTimeScheduler(VirtualAction, frames);

/**
 * A scheduler for many timers at once: time moves only in {@link ManualTime.advance}
 * (VirtualTimeScheduler re-sorts its queue on every timer: quadratic for 10,000).
 */
class ManualTime implements SchedulerLike {
  #now = 0;
  #due = new Set<{ at: number; run: () => void; cancelled: boolean }>();

  now(): number {
    return this.#now;
  }

  schedule<T>(
    work: (this: SchedulerAction<T>, state?: T) => void,
    delay = 0,
    state?: T,
  ): Subscription {
    const action = new Subscription() as SchedulerAction<T>;
    const entry = { at: this.#now + delay, run: () => work.call(action, state), cancelled: false };
    action.schedule = (next?: T, again = 0) => this.schedule(work, again, next);
    action.add(() => {
      entry.cancelled = true;
      this.#due.delete(entry);
    });
    this.#due.add(entry);
    return action;
  }

  /** Moves time forward by `ms`, running every timer due by then. */
  advance(ms: number): void {
    this.#now += ms;
    for (const entry of [...this.#due]) {
      if (entry.cancelled || entry.at > this.#now) continue;
      this.#due.delete(entry);
      entry.run();
    }
  }
}

/** Lets promise callbacks (the backend's load) run. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await Promise.resolve();
};

/** Runs due timers and the promise callbacks they start, until nothing is left (or 100 rounds). */
const runAll = async (scheduler: VirtualTimeScheduler): Promise<void> => {
  await settle();
  for (let round = 0; round < 100 && scheduler.actions.length > 0; round++) {
    scheduler.flush();
    await settle();
  }
};

describe('createDiscovery', () => {
  it('opens a watch source once per watch: reconnections reuse it', async () => {
    let n = 0;
    const { calls, backend } = fakeBackend(() =>
      n++ === 0
        ? new Observable<SourceEvent>((s) => s.error(new RegistryUnavailableError('refused')))
        : concat(of<SourceEvent>({ type: 'snapshot', instances: [inst(1)] }), NEVER),
    );
    const scheduler = virtualTime();
    const d = createDiscovery('fake://', async () => backend, {
      scheduler,
      onProblem: () => undefined,
      backoff: exponentialBackoff({ initialMs: 10, jitter: 'none' }),
    });
    const sets: InstanceSet[] = [];
    const sub = d.instances$('hello').subscribe((s) => sets.push(s));
    await runAll(scheduler);
    expect(sets.map((s) => s.stale)).toEqual([true, false]);
    expect(calls).toEqual({ instances: 1, sessions: 2 });
    sub.unsubscribe();
    await d.close();
  });

  it('forgets a watch nobody has observed for the grace period (10,000 services do not accumulate)', async () => {
    const { calls, backend } = fakeBackend();
    const time = new ManualTime();
    const d = createDiscovery('fake://', async () => backend, { scheduler: time, graceMs: 1000 });
    const services = Array.from({ length: 10_000 }, (_, i) => `svc-${i}`);
    const readAll = () => Promise.all(services.map((s) => firstValueFrom(d.instances$(s))));

    await readAll();
    expect(calls.instances).toBe(10_000);
    // Within the grace period: each watch is still there, and reused.
    time.advance(999);
    await readAll();
    expect(calls.instances).toBe(10_000);
    // Past it: every watch was released and forgotten; asking again opens a fresh one.
    time.advance(1000);
    await readAll();
    expect(calls.instances).toBe(20_000);
    time.advance(1000);
    await d.close();
  });

  it('also forgets a watch that ended with an error', async () => {
    const { calls, backend } = fakeBackend(
      () => new Observable<SourceEvent>((s) => s.error(new ConfigError('x', 'bad', 'fix it'))),
    );
    const d = createDiscovery('fake://', async () => backend, { scheduler: virtualTime() });
    await expect(firstValueFrom(d.instances$('hello'))).rejects.toBeInstanceOf(ConfigError);
    await expect(firstValueFrom(d.instances$('hello'))).rejects.toBeInstanceOf(ConfigError);
    expect(calls.instances).toBe(2);
    await d.close();
  });

  it('errors every stream with a permanent ConfigError naming the package when the backend fails to load, without retrying', async () => {
    let loads = 0;
    const missing = Object.assign(
      new Error("Cannot find package 'etcd3' imported from /app/dist/backends/etcd/client.js"),
      { code: 'ERR_MODULE_NOT_FOUND' },
    );
    const scheduler = virtualTime();
    const problems: RxdiscoError[] = [];
    const d = createDiscovery(
      'etcd://127.0.0.1:2379/',
      () => {
        loads++;
        return Promise.reject(missing);
      },
      { scheduler, onProblem: (p) => problems.push(p) },
    );
    const errors: unknown[] = [];
    d.instances$('hello').subscribe({ error: (e) => errors.push(e) });
    d.register({ service: 'hello', host: '127.0.0.1', port: 8080 }).subscribe({
      error: (e) => errors.push(e),
    });
    await settle();
    scheduler.flush();
    await settle();
    expect(errors).toHaveLength(2);
    for (const e of errors) {
      expect(e).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).retryable).toBe(false);
      expect((e as ConfigError).message).toMatch(/etcd3/);
      expect((e as ConfigError).message).toMatch(/npm install etcd3/);
      expect((e as ConfigError).cause).toBe(missing);
    }
    expect(problems).toEqual([]);
    expect(loads).toBe(1);
    await d.close();
  });

  it('treats a loader that throws at once like one that rejects: permanent, not retried', async () => {
    let loads = 0;
    const scheduler = virtualTime();
    const d = createDiscovery(
      'fake://',
      () => {
        loads++;
        throw new TypeError('backend constructor failed');
      },
      { scheduler, onProblem: () => undefined },
    );
    const errors: unknown[] = [];
    d.instances$('hello').subscribe({ error: (e) => errors.push(e) });
    await runAll(scheduler);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(ConfigError);
    expect((errors[0] as ConfigError).message).toMatch(
      /^registry fake:\/\/: backend failed to load \(backend constructor failed\)/,
    );
    expect(loads).toBe(1);
    await d.close();
  });

  it('keeps a ConfigError thrown by the loader as it is', async () => {
    const own = new ConfigError('etcd3', 'is not installed', 'run npm install etcd3');
    const d = createDiscovery('etcd://h:1/', () => Promise.reject(own), {
      scheduler: virtualTime(),
    });
    await expect(firstValueFrom(d.instances$('hello'))).rejects.toBe(own);
    await d.close();
  });

  it.each([
    [{ graceMs: -1 }, /graceMs must be a number of ms >= 0 \(got -1\)/],
    [{ graceMs: Number.NaN }, /graceMs must be a number of ms >= 0 \(got NaN\)/],
  ])('checks %j when it is called, not on first subscribe', (options, message) => {
    const { backend } = fakeBackend();
    expect(() => createDiscovery('fake://', async () => backend, options)).toThrow(ConfigError);
    expect(() => createDiscovery('fake://', async () => backend, options)).toThrow(message);
  });
});
