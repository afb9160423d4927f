/**
 * The registration lifecycle shared by every backend: register, keep alive,
 * register again when the registry forgot us, deregister on unsubscribe.
 * A backend supplies a {@link Registrar}: three calls, no timers.
 *
 * @module
 */
import { asyncScheduler, Observable, type SchedulerLike, type Subscription, timer } from 'rxjs';
import { type Backoff, type BackoffPolicy, exponentialBackoff } from './backoff.js';
import {
  type ErrorContext,
  isRegistrationLostError,
  RegistrationLostError,
  RegistryUnavailableError,
  type RxdiscoError,
  toRxdiscoError,
} from './errors.js';
import type { Instance } from './instance.js';
import { durationOption, formatDuration } from './options.js';

/**
 * What a backend supplies to register one instance. Calls reject with an
 * {@link RxdiscoError}: retryable for transient faults,
 * {@link RegistrationLostError} from `renew` when the registry no longer
 * knows the registration.
 */
export interface Registrar<L = unknown> {
  /**
   * Registers `instance` with a time to live of `ttlMs` milliseconds, to be
   * renewed every `renewEveryMs` milliseconds (for registries told the
   * heartbeat interval); resolves to a lease handle. A registry that counts
   * in seconds rounds up (an etcd lease of `ceil(ttlMs / 1000)` s).
   */
  register(instance: Instance, ttlMs: number, renewEveryMs: number): Promise<L>;
  /** Keeps the lease alive once (etcd keepalive, Consul TTL pass, Eureka heartbeat). */
  renew(lease: L): Promise<void>;
  /** Removes the registration now (etcd revoke, Consul deregister, Eureka DELETE). */
  deregister(lease: L): Promise<void>;
}

/** One step of a registration's life, as `register()` emits it. */
export type RegistrationEvent =
  | { readonly type: 'registered'; readonly instance: Instance; readonly at: number }
  | { readonly type: 'renewed'; readonly instance: Instance; readonly at: number }
  | {
      /** A keepalive failed for a transient reason; the next one is scheduled. */
      readonly type: 'renewFailed';
      readonly instance: Instance;
      readonly error: RxdiscoError;
      readonly at: number;
    }
  | {
      /** The registry forgot us (lease expired or revoked, 404): registering again. */
      readonly type: 'lost';
      readonly instance: Instance;
      readonly error: RxdiscoError;
      readonly at: number;
    }
  | { readonly type: 'reregistered'; readonly instance: Instance; readonly at: number }
  | {
      /** A registration attempt failed for a transient reason; retrying after `delayMs`. */
      readonly type: 'retrying';
      readonly instance: Instance;
      readonly error: RxdiscoError;
      /** Milliseconds until the next attempt. */
      readonly delayMs: number;
      readonly at: number;
    }
  | {
      /**
       * Deregistered after `until` fired. With `error`, the registry could
       * not confirm; it drops the instance when its TTL runs out.
       */
      readonly type: 'deregistered';
      readonly instance: Instance;
      readonly at: number;
      readonly error?: RxdiscoError;
    };

/** Options of `register()`. */
export interface RegisterOptions {
  /**
   * Milliseconds the registry keeps the instance without a keepalive; at
   * least 1000 (registries count leases in seconds).
   * @default 10000
   */
  readonly ttlMs?: number;
  /**
   * Milliseconds between keepalives; more than 0 and less than `ttlMs`.
   * @default ttlMs / 3, rounded
   */
  readonly renewEveryMs?: number;
  /**
   * When this emits (or this signal aborts), deregister, emit
   * `deregistered`, then complete: the graceful way to stop. Unsubscribing
   * also deregisters, in the background (see `Discovery.settled()`).
   */
  readonly until?: Observable<unknown> | AbortSignal;
  /**
   * Backoff between failed registration attempts, and between failed
   * keepalives (capped at `renewEveryMs`). Each series of failures starts a
   * fresh run of it: a success ends the series.
   * @default exponentialBackoff({ initialMs: 100, maxMs: 10_000 })
   */
  readonly backoff?: BackoffPolicy;
  /**
   * Scheduler for keepalive and retry timers.
   * @default asyncScheduler
   */
  readonly scheduler?: SchedulerLike;
}

/** `work`, or `timeout()`'s error if it has not settled within `ms` (on `scheduler`). */
const withDeadline = <T>(
  work: Promise<T>,
  ms: number,
  scheduler: SchedulerLike,
  timeout: () => RxdiscoError,
): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer$ = timer(ms, scheduler).subscribe(() => reject(timeout()));
    work.then(
      (v) => {
        timer$.unsubscribe();
        resolve(v);
      },
      (e: unknown) => {
        timer$.unsubscribe();
        reject(e);
      },
    );
  });

/** Keeps track of deregistrations still in flight, so that an app can await them. */
export class PendingWork {
  readonly #pending = new Set<Promise<unknown>>();

  constructor(private readonly report: (e: RxdiscoError) => void) {}

  /** Tracks `work`; its failure is reported, never thrown. */
  track(work: Promise<unknown>): void {
    const p = work.then(
      () => undefined,
      (e: unknown) => this.report(toRxdiscoError(e)),
    );
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
  }

  /** Resolves when nothing tracked is still in flight (including work tracked meanwhile). */
  async settled(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }
}

const untilObservable = (until: RegisterOptions['until']): Observable<unknown> | undefined => {
  if (until === undefined || until instanceof Observable) return until;
  return new Observable<unknown>((subscriber) => {
    if (until.aborted) {
      subscriber.next(until.reason);
      return;
    }
    const onAbort = (): void => subscriber.next(until.reason);
    until.addEventListener('abort', onAbort, { once: true });
    return () => until.removeEventListener('abort', onAbort);
  });
};

/**
 * Checks and resolves the times of {@link RegisterOptions}.
 *
 * @throws {ConfigError} for a `ttlMs` below 1000 or not finite, or a
 *   `renewEveryMs` that is not more than 0 and less than `ttlMs`.
 */
export const resolveTimes = (
  options: RegisterOptions,
  context: ErrorContext,
): { readonly ttlMs: number; readonly renewEveryMs: number } => {
  const ttlMs = durationOption(
    'ttlMs',
    options.ttlMs,
    10_000,
    {
      min: 1000,
      fix: 'pass ttlMs in milliseconds, e.g. 10000 for 10 s',
    },
    context,
  );
  const renewEveryMs = durationOption(
    'renewEveryMs',
    options.renewEveryMs,
    Math.round(ttlMs / 3),
    { above: 0, max: ttlMs - 1, fix: 'renew well within the TTL, e.g. every ttlMs / 3' },
    context,
  );
  return { ttlMs, renewEveryMs };
};

/** The next wait of a failure series: `run` (or a fresh run of `policy`) and its successor. */
const nextWait = (
  run: Backoff | undefined,
  policy: BackoffPolicy,
): { readonly delayMs: number; readonly run: Backoff } => {
  const current = run ?? policy.start();
  return { delayMs: current.delayMs, run: current.next() };
};

const REGISTER_BACKOFF = exponentialBackoff({ initialMs: 100, maxMs: 10_000 });

/**
 * The lifecycle stream of one registration. Subscribe = register and keep
 * alive; a lost registration is registered again; unsubscribe = deregister
 * (tracked by `pending`); `options.until` = deregister, emit, complete.
 * Invalid options error the stream with a {@link ConfigError} before
 * anything is sent to the registry.
 */

export const registration = <L>(
  registrar: Registrar<L>,
  instance: Instance,
  options: RegisterOptions,
  pending: PendingWork,
): Observable<RegistrationEvent> =>
  new Observable<RegistrationEvent>((subscriber) => {
    const scheduler = options.scheduler ?? asyncScheduler;
    const { ttlMs, renewEveryMs } = resolveTimes(options, {
      registry: instance.registry,
      service: instance.service,
    });
    const policy = options.backoff ?? REGISTER_BACKOFF;
    // One run per series of failures, of registering and of renewing apart;
    // undefined while the last attempt succeeded.
    let registerRetry: Backoff | undefined;
    let renewRetry: Backoff | undefined;
    let lease: L | undefined;
    let inflight: Promise<L> | undefined;
    let wait: Subscription | undefined;
    let untilSub: Subscription | undefined;
    let everRegistered = false;
    let lastRenewed = 0;
    let stopped = false;

    const now = (): number => scheduler.now();
    const after = (ms: number, then: () => void): void => {
      wait = timer(ms, scheduler).subscribe(() => {
        wait = undefined;
        then();
      });
    };

    const fatal = (error: RxdiscoError): void => {
      stopped = true;
      wait?.unsubscribe();
      untilSub?.unsubscribe();
      subscriber.error(error);
    };

    const register = (): void => {
      const attempt = registrar.register(instance, ttlMs, renewEveryMs);
      inflight = attempt;
      attempt.then(
        (l) => {
          if (inflight === attempt) inflight = undefined;
          if (stopped) return;
          lease = l;
          lastRenewed = now();
          registerRetry = undefined;
          renewRetry = undefined;
          subscriber.next({
            type: everRegistered ? 'reregistered' : 'registered',
            instance,
            at: now(),
          });
          everRegistered = true;
          after(renewEveryMs, renew);
        },
        (e: unknown) => {
          if (inflight === attempt) inflight = undefined;
          if (stopped) return;
          const error = toRxdiscoError(e, {
            registry: instance.registry,
            service: instance.service,
          });
          if (!error.retryable) return fatal(error);
          const { delayMs, run } = nextWait(registerRetry, policy);
          registerRetry = run;
          subscriber.next({ type: 'retrying', instance, error, delayMs, at: now() });
          after(delayMs, register);
        },
      );
    };

    const lose = (error: RxdiscoError): void => {
      lease = undefined;
      subscriber.next({ type: 'lost', instance, error, at: now() });
      register();
    };

    const renew = (): void => {
      const current = lease;
      if (current === undefined) return;
      // A keepalive that has not answered by the next one is a failed keepalive.
      withDeadline(
        registrar.renew(current),
        renewEveryMs,
        scheduler,
        () =>
          new RegistryUnavailableError(
            `keepalive of '${instance.id}' got no answer within ${renewEveryMs} ms`,
            {
              registry: instance.registry,
              service: instance.service,
            },
          ),
      ).then(
        () => {
          if (stopped || lease !== current) return;
          lastRenewed = now();
          renewRetry = undefined;
          subscriber.next({ type: 'renewed', instance, at: now() });
          after(renewEveryMs, renew);
        },
        (e: unknown) => {
          if (stopped || lease !== current) return;
          const error = toRxdiscoError(e, {
            registry: instance.registry,
            service: instance.service,
          });
          if (isRegistrationLostError(error)) return lose(error);
          if (!error.retryable) return fatal(error);
          subscriber.next({ type: 'renewFailed', instance, error, at: now() });
          if (now() - lastRenewed >= ttlMs) {
            // The registry has dropped us by now, even if it cannot say so.
            return lose(
              new RegistrationLostError(
                instance.id,
                `no keepalive succeeded for ${formatDuration(ttlMs)}`,
                { registry: instance.registry, service: instance.service, cause: error },
              ),
            );
          }
          const { delayMs, run } = nextWait(renewRetry, policy);
          renewRetry = run;
          after(Math.min(renewEveryMs, Math.max(100, delayMs)), renew);
        },
      );
    };

    /** Deregisters whatever is registered or being registered. */
    const release = (): Promise<void> => {
      stopped = true;
      wait?.unsubscribe();
      untilSub?.unsubscribe();
      const held = lease;
      const attempt = inflight;
      lease = undefined;
      inflight = undefined;
      if (held !== undefined) return registrar.deregister(held);
      if (attempt !== undefined) {
        return attempt.then(
          (l) => registrar.deregister(l),
          () => undefined,
        );
      }
      return Promise.resolve();
    };

    const until$ = untilObservable(options.until);
    if (until$ !== undefined) {
      untilSub = until$.subscribe(() => {
        if (stopped) return;
        const done = release();
        pending.track(done);
        done.then(
          () => {
            subscriber.next({ type: 'deregistered', instance, at: now() });
            subscriber.complete();
          },
          (e: unknown) => {
            subscriber.next({
              type: 'deregistered',
              instance,
              at: now(),
              error: toRxdiscoError(e, { registry: instance.registry, service: instance.service }),
            });
            subscriber.complete();
          },
        );
      });
    }
    if (!stopped) register();

    return () => {
      if (!stopped) pending.track(release());
    };
  });
