/**
 * The one registry poller of a Eureka backend, shared by every service
 * view: a full `GET /apps`, then `GET /apps/delta` every `intervalMs`
 * (timed with RxJS `timer` after the previous refresh ended, so polls never
 * overlap), each delta applied to the unfiltered copy and checked against
 * the server's `apps__hashcode`; a mismatch fetches the whole registry
 * again. Emits the copy whenever it changed. A failed request errors the
 * stream with a retryable error: the views' watches (the core) back off and
 * resubscribe, which starts a new poller with a full fetch.
 *
 * @module
 */
import {
  asyncScheduler,
  defer,
  distinctUntilChanged,
  expand,
  Observable,
  ReplaySubject,
  type SchedulerLike,
  share,
  switchMap,
  timer,
} from 'rxjs';
import {
  brandError,
  ConfigError,
  type ErrorContext,
  errorGuard,
  RegistryUnavailableError,
  RxdiscoError,
} from '../../core/errors.js';
import type { EurekaClient, EurekaResponse } from './client.js';
import { decodeApplications, type RawApplications } from './codecs.js';
import { parsePayload } from './payload.js';
import {
  applyDeltaSliced,
  copyHashcode,
  fullCopySliced,
  notice,
  type RegistryCopy,
} from './registry-copy.js';

/** What one refresh did, for tests and benchmarks. */
export interface RefreshReport {
  readonly kind: 'full' | 'delta';
  readonly bytes: number;
  /** For a delta: true when the hashcodes differed and a full fetch followed. */
  readonly mismatch?: boolean;
}

/**
 * The server's `apps__hashcode` after a delta kept disagreeing with the
 * local copy: every refresh is a full fetch of the registry. Reported (at
 * most once per {@link PollerOptions.mismatchReportEveryMs}) after
 * {@link MISMATCHES_BEFORE_REPORT} mismatches in a row; the watches go on.
 */
export class HashcodeMismatchError extends RxdiscoError {
  static {
    brandError(HashcodeMismatchError, 'HashcodeMismatchError');
  }
  override readonly name: string = 'HashcodeMismatchError';
  /** Mismatches in a row so far. */
  readonly mismatches: number;

  constructor(
    mismatches: number,
    hashcodes: { readonly server: string; readonly local: string },
    fullBytes: number,
    context: ErrorContext,
  ) {
    super(
      `${context.registry === undefined ? '' : `registry ${context.registry}: `}the apps__hashcode of GET /apps/delta did not match the local copy ${mismatches} times in a row (server ${hashcodes.server}, local ${hashcodes.local}), so every refresh fetches the whole registry (GET /apps, ${fullBytes} bytes); check that every Eureka server of the URL serves the same registry (peers behind one load balancer that disagree?)`,
      true,
      context,
    );
    this.mismatches = mismatches;
  }
}

/** True when `e` is a {@link HashcodeMismatchError} (of any copy of rxdisco). */
export const isHashcodeMismatchError = errorGuard<HashcodeMismatchError>('HashcodeMismatchError');

/** Mismatches in a row before a {@link HashcodeMismatchError} is reported. */
export const MISMATCHES_BEFORE_REPORT = 3;

/** Options of {@link registryPoller}. */
export interface PollerOptions {
  /** Milliseconds from the end of one refresh to the start of the next. */
  readonly intervalMs: number;
  readonly scheduler?: SchedulerLike;
  /** Called after every request of the poller. */
  readonly onRefresh?: (report: RefreshReport) => void;
  /**
   * Milliseconds between two reports of a hashcode that keeps mismatching.
   * @default 600_000 (10 min)
   */
  readonly mismatchReportEveryMs?: number;
}

/** Runs `call` with an AbortSignal that is aborted when the subscriber leaves. */
const fromCall = <T>(call: (signal: AbortSignal) => Promise<T>): Observable<T> =>
  new Observable<T>((subscriber) => {
    const controller = new AbortController();
    let pending = true;
    call(controller.signal).then(
      (v) => {
        pending = false;
        subscriber.next(v);
        subscriber.complete();
      },
      (e: unknown) => {
        pending = false;
        subscriber.error(e);
      },
    );
    // Aborting a settled call would only build an AbortError (and its stack) for nothing.
    return () => {
      if (pending) controller.abort();
    };
  });

const readApps = (res: EurekaResponse, path: string, context: ErrorContext): RawApplications => {
  if (res.status === 403) {
    throw new RegistryUnavailableError(
      `GET ${path} answered 403 (a Eureka server refuses reads while it warms up after a start)`,
      context,
    );
  }
  if (res.status === 404) {
    throw new ConfigError(
      'url.path',
      `GET ${path} answered 404`,
      'check the Eureka path in the URL (usually /eureka)',
      context,
    );
  }
  if (res.status !== 200) {
    throw new RegistryUnavailableError(`GET ${path} answered ${res.status}`, context);
  }
  let body: unknown;
  try {
    // Instances are left as text, parsed one by one as the copy is built.
    body = parsePayload(res.text, `GET ${path}`);
  } catch (e) {
    throw new RegistryUnavailableError(
      `GET ${path} answered with invalid JSON (${(e as Error).message})`,
      context,
    );
  }
  const d = decodeApplications(body, path, context);
  // A registry payload whose envelope is wrong cannot be used at all: retry.
  if (!d.ok) {
    throw new RegistryUnavailableError(
      `GET ${path} answered a malformed registry (${d.error.problems.join('; ')})`,
      { ...context, cause: d.error },
    );
  }
  return d.value;
};

/** The shared, refcounted registry copy of one backend. */
export const registryPoller = (
  client: EurekaClient,
  options: PollerOptions,
): Observable<RegistryCopy> => {
  const scheduler = options.scheduler ?? asyncScheduler;
  const context: ErrorContext = { registry: client.registry };
  /** A request and its payload decoded into a copy (by `build`, in slices). */
  const get = (
    path: '/apps' | '/apps/delta',
    build: (body: RawApplications, signal: AbortSignal) => Promise<RegistryCopy>,
  ) =>
    fromCall(async (signal) => {
      const res = await client.request({ method: 'GET', path, signal, context });
      const body = readApps(res, path, context);
      return { res, body, copy: await build(body, signal) };
    });

  const reportEveryMs = options.mismatchReportEveryMs ?? 600_000;

  /** One poller session: its own count of mismatches in a row. */
  const session = (): Observable<RegistryCopy> => {
    let mismatches = 0;
    let reportedAt = Number.NEGATIVE_INFINITY;

    /** The report due after a full fetch that followed a mismatch, if any. */
    const due = (hashcodes: { server: string; local: string }, bytes: number) => {
      if (mismatches < MISMATCHES_BEFORE_REPORT) return undefined;
      const now = scheduler.now();
      if (now - reportedAt < reportEveryMs) return undefined;
      reportedAt = now;
      return new HashcodeMismatchError(mismatches, hashcodes, bytes, context);
    };

    const full = (mismatch?: { server: string; local: string }): Observable<RegistryCopy> =>
      get('/apps', (body, signal) => fullCopySliced(body, context, scheduler, signal)).pipe(
        switchMap(async ({ res, copy }) => {
          options.onRefresh?.({
            kind: 'full',
            bytes: res.bytes,
            ...(mismatch ? { mismatch: true } : {}),
          });
          const problem = mismatch === undefined ? undefined : due(mismatch, res.bytes);
          return problem === undefined ? copy : { ...copy, notice: notice(problem) };
        }),
      );

    const refresh = (copy: RegistryCopy): Observable<RegistryCopy> =>
      get('/apps/delta', (body, signal) =>
        applyDeltaSliced(copy, body, context, scheduler, signal),
      ).pipe(
        switchMap(({ res, body, copy: next }) => {
          const local = copyHashcode(next);
          const mismatch = body.hashcode !== undefined && body.hashcode !== local;
          options.onRefresh?.({ kind: 'delta', bytes: res.bytes, mismatch });
          mismatches = mismatch ? mismatches + 1 : 0;
          return mismatch ? full({ server: body.hashcode!, local }) : [next];
        }),
      );

    return full().pipe(
      expand((copy) => timer(options.intervalMs, scheduler).pipe(switchMap(() => refresh(copy)))),
    );
  };

  return defer(session).pipe(
    distinctUntilChanged(),
    share({
      connector: () => new ReplaySubject<RegistryCopy>(1),
      resetOnError: true,
      resetOnComplete: true,
      resetOnRefCountZero: true,
    }),
  );
};
