import { Subject, type Subscription } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { memoryDiscovery } from '../../../src/backends/memory/index.js';
import { MemoryRegistry } from '../../../src/backends/memory/store.js';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import {
  AuthenticationError,
  ConfigError,
  RegistryUnavailableError,
} from '../../../src/core/errors.js';
import {
  PendingWork,
  type Registrar,
  type RegistrationEvent,
  registration,
} from '../../../src/core/registration.js';
import { inst } from './fixtures.js';

/** A scripted registrar: records calls; each call's outcome comes from `script`. */
const scripted = () => {
  const calls: string[] = [];
  const script: { register: (() => Promise<number>)[]; renew: (() => Promise<void>)[] } = {
    register: [],
    renew: [],
  };
  let lease = 0;
  const registrar: Registrar<number> = {
    register: async () => {
      calls.push('register');
      const next = script.register.shift();
      if (next) return next();
      return ++lease;
    },
    renew: async (l) => {
      calls.push(`renew ${l}`);
      const next = script.renew.shift();
      if (next) return next();
    },
    deregister: async (l) => {
      calls.push(`deregister ${l}`);
    },
  };
  return { calls, script, registrar };
};

const types = (events: RegistrationEvent[]) => events.map((e) => e.type);

describe('registration lifecycle', () => {
  let sub: Subscription | undefined;
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    sub?.unsubscribe();
    vi.useRealTimers();
  });

  it('registers, renews every ttlMs / 3, and deregisters on unsubscribe (awaitable)', async () => {
    const { calls, registrar } = scripted();
    const pending = new PendingWork(() => undefined);
    const events: RegistrationEvent[] = [];
    sub = registration(registrar, inst(1), { ttlMs: 3000 }, pending).subscribe((e) =>
      events.push(e),
    );
    await vi.advanceTimersByTimeAsync(0);
    expect(types(events)).toEqual(['registered']);
    await vi.advanceTimersByTimeAsync(2000);
    expect(types(events)).toEqual(['registered', 'renewed', 'renewed']);
    sub.unsubscribe();
    await pending.settled();
    expect(calls).toEqual(['register', 'renew 1', 'renew 1', 'deregister 1']);
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls).toHaveLength(4);
  });

  it('registers again when the registry forgot the lease', async () => {
    const { calls, script, registrar } = scripted();
    const { RegistrationLostError } = await import('../../../src/core/errors.js');
    script.renew.push(async () => {
      throw new RegistrationLostError('1', 'lease expired');
    });
    const events: RegistrationEvent[] = [];
    sub = registration(
      registrar,
      inst(1),
      { ttlMs: 3000 },
      new PendingWork(() => undefined),
    ).subscribe((e) => events.push(e));
    await vi.advanceTimersByTimeAsync(1000);
    expect(types(events)).toEqual(['registered', 'lost', 'reregistered']);
    expect(calls).toEqual(['register', 'renew 1', 'register']);
    await vi.advanceTimersByTimeAsync(1000);
    expect(calls.at(-1)).toBe('renew 2');
  });

  it('retries a failed registration with backoff, then registers', async () => {
    const { script, registrar } = scripted();
    const down = async (): Promise<number> => {
      throw new RegistryUnavailableError('refused');
    };
    script.register.push(down, down);
    const events: RegistrationEvent[] = [];
    sub = registration(
      registrar,
      inst(1),
      { ttlMs: 3000 },
      new PendingWork(() => undefined),
    ).subscribe((e) => events.push(e));
    await vi.advanceTimersByTimeAsync(1000);
    expect(types(events)).toEqual(['retrying', 'retrying', 'registered']);
  });

  it('treats keepalives failing for a whole TTL as a loss and registers again', async () => {
    const { script, registrar } = scripted();
    for (let i = 0; i < 10; i++) {
      script.renew.push(async () => {
        throw new RegistryUnavailableError('timeout');
      });
    }
    const events: RegistrationEvent[] = [];
    sub = registration(
      registrar,
      inst(1),
      { ttlMs: 3000 },
      new PendingWork(() => undefined),
    ).subscribe((e) => events.push(e));
    await vi.advanceTimersByTimeAsync(4000);
    const t = types(events);
    expect(t[0]).toBe('registered');
    expect(t).toContain('renewFailed');
    expect(t).toContain('lost');
    expect(t.at(-1)).not.toBe('lost');
  });

  it('counts a keepalive that never answers as failed, and re-registers after a whole TTL of them', async () => {
    const { calls, script, registrar } = scripted();
    for (let i = 0; i < 10; i++) script.renew.push(() => new Promise<void>(() => undefined));
    const events: RegistrationEvent[] = [];
    sub = registration(
      registrar,
      inst(1),
      { ttlMs: 3000 },
      new PendingWork(() => undefined),
    ).subscribe((e) => events.push(e));
    await vi.advanceTimersByTimeAsync(2000);
    expect(types(events)).toEqual(['registered', 'renewFailed']);
    expect((events[1] as { error: Error }).error.message).toMatch(
      /keepalive of '1' got no answer within 1000 ms/,
    );
    await vi.advanceTimersByTimeAsync(3000);
    expect(types(events)).toContain('lost');
    expect(calls.filter((c) => c === 'register')).toHaveLength(2);
  });

  it('errors on a permanent fault without retrying', async () => {
    const { calls, script, registrar } = scripted();
    script.register.push(async () => {
      throw new AuthenticationError('bad token');
    });
    const errors: unknown[] = [];
    sub = registration(
      registrar,
      inst(1),
      { ttlMs: 3000 },
      new PendingWork(() => undefined),
    ).subscribe({
      error: (e) => errors.push(e),
    });
    await vi.advanceTimersByTimeAsync(5000);
    expect(errors[0]).toBeInstanceOf(AuthenticationError);
    expect(calls).toEqual(['register']);
  });

  it('deregisters when `until` fires, emits deregistered, then completes', async () => {
    const { calls, registrar } = scripted();
    const stop = new Subject<void>();
    const events: RegistrationEvent[] = [];
    let completed = false;
    sub = registration(
      registrar,
      inst(1),
      { ttlMs: 3000, until: stop },
      new PendingWork(() => undefined),
    ).subscribe({
      next: (e) => events.push(e),
      complete: () => {
        completed = true;
      },
    });
    await vi.advanceTimersByTimeAsync(0);
    stop.next();
    await vi.advanceTimersByTimeAsync(0);
    expect(types(events)).toEqual(['registered', 'deregistered']);
    expect(completed).toBe(true);
    expect(calls).toEqual(['register', 'deregister 1']);
  });

  it('deregisters a registration still in flight when unsubscribed (nothing half-registered)', async () => {
    const { calls, script, registrar } = scripted();
    let resolve!: (n: number) => void;
    script.register.push(() => new Promise<number>((r) => (resolve = r)));
    const pending = new PendingWork(() => undefined);
    sub = registration(registrar, inst(1), { ttlMs: 3000 }, pending).subscribe();
    await vi.advanceTimersByTimeAsync(0);
    sub.unsubscribe();
    resolve(7);
    await pending.settled();
    expect(calls).toEqual(['register', 'deregister 7']);
  });

  it('starts a fresh renewal backoff after a successful renewal, and a fresh registration backoff after a loss', async () => {
    const { script, registrar } = scripted();
    const at: Record<string, number[]> = { register: [], renew: [] };
    const timed = (kind: 'register' | 'renew', outcome: () => Promise<never>) => async () => {
      at[kind]!.push(Date.now());
      return outcome();
    };
    const down = async (): Promise<never> => {
      throw new RegistryUnavailableError('timeout');
    };
    const lost = async (): Promise<never> => {
      const { RegistrationLostError } = await import('../../../src/core/errors.js');
      throw new RegistrationLostError('1', 'lease expired');
    };
    // Two failed renewals, a success, two failed renewals, then the lease is lost
    // and the next registration attempt fails once.
    script.renew.push(
      timed('renew', down),
      timed('renew', down),
      async () => undefined,
      timed('renew', down),
      timed('renew', down),
      timed('renew', lost),
    );
    script.register.push(
      async () => {
        at.register!.push(Date.now());
        return 1;
      },
      timed('register', down),
    );
    const events: RegistrationEvent[] = [];
    const backoff = exponentialBackoff({ initialMs: 100, maxMs: 10_000, jitter: 'none' });
    const start = Date.now();
    sub = registration(
      registrar,
      inst(1),
      { ttlMs: 30_000, renewEveryMs: 10_000, backoff },
      new PendingWork(() => undefined),
    ).subscribe((e) => events.push(e));
    await vi.advanceTimersByTimeAsync(60_000);
    // Failed renewals at 10 s, 10.1 s (+100), then success at 10.3 s (+200);
    // the next series starts again at 100 ms.
    expect(at.renew!.map((t) => t - start)).toEqual([10_000, 10_100, 20_300, 20_400, 20_600]);
    // The registration retry after the loss starts its own series: 100 ms, not 800.
    const retrying = events.filter((e) => e.type === 'retrying');
    expect(retrying.map((e) => (e as { delayMs: number }).delayMs)).toEqual([100]);
  });

  it.each([
    [{ ttlMs: 0 }, 'ttlMs'],
    [{ ttlMs: -5 }, 'ttlMs'],
    [{ ttlMs: 999 }, 'ttlMs'],
    [{ ttlMs: Number.NaN }, 'ttlMs'],
    [{ ttlMs: 10_000, renewEveryMs: 10_000 }, 'renewEveryMs'],
    [{ ttlMs: 10_000, renewEveryMs: 0 }, 'renewEveryMs'],
  ])('rejects %j with a ConfigError before contacting the registry', async (options, field) => {
    const { calls, registrar } = scripted();
    const errors: unknown[] = [];
    sub = registration(registrar, inst(1), options, new PendingWork(() => undefined)).subscribe({
      error: (e) => errors.push(e),
    });
    expect(errors[0]).toBeInstanceOf(ConfigError);
    expect((errors[0] as ConfigError).field).toBe(field);
    expect(calls).toEqual([]);
  });

  it('words a bad ttlMs as every option check does', async () => {
    const errors: unknown[] = [];
    sub = registration(
      scripted().registrar,
      inst(1),
      { ttlMs: 999 },
      new PendingWork(() => undefined),
    ).subscribe({ error: (e) => errors.push(e) });
    expect((errors[0] as ConfigError).message).toMatch(
      /ttlMs must be a number of ms >= 1000 \(got 999\); pass ttlMs in milliseconds/,
    );
  });
});

describe('memory registry leases', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('expires a lease exactly at its TTL unless kept alive, deleting its keys', () => {
    const store = new MemoryRegistry('leases');
    const lease = store.grant(2000);
    store.put('hello', 'a', { any: 'value' }, lease);
    vi.advanceTimersByTime(1999);
    expect(store.read('hello').entries).toHaveLength(1);
    expect(store.keepAlive(lease)).toBe(true);
    vi.advanceTimersByTime(1999);
    expect(store.read('hello').entries).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(store.read('hello').entries).toHaveLength(0);
    expect(store.keepAlive(lease)).toBe(false);
  });

  it('register() on memory:// keeps the instance while subscribed and removes it at once on unsubscribe', async () => {
    const store = new MemoryRegistry('lifecycle');
    const registry = memoryDiscovery(store);
    const s = registry
      .register({ service: 'hello', host: '127.0.0.1', port: 9000 }, { ttlMs: 1000 })
      .subscribe();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(store.read('hello').entries.map((e) => e.id)).toEqual(['127.0.0.1:9000']);
    s.unsubscribe();
    await registry.settled();
    expect(store.read('hello').entries).toEqual([]);
    expect(store.leases()).toEqual([]);
    await registry.close();
  });
});
