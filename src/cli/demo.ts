/**
 * `rxdisco demo [--registry URL]`: a self-contained tour. Three HTTP
 * services register as `hello`; a client discovers them with
 * `instances$('hello').pipe(healthy(), roundRobin())` and `live()`, and calls
 * them every 50 ms; mid-run one of them goes away and the client keeps
 * succeeding on the others; at the end, the pick distribution. Runs on the
 * embedded `memory://` registry by default, on any registry URL otherwise.
 *
 * @module
 */
import {
  exhaustMap,
  filter,
  firstValueFrom,
  from,
  interval,
  lastValueFrom,
  merge,
  type Observable,
  Subject,
  Subscription,
  take,
  takeUntil,
  throwError,
  timeout,
  timer,
} from 'rxjs';
import type { Discovery } from '../core/discovery.js';
import { NoInstanceError } from '../core/errors.js';
import { formatDuration } from '../core/options.js';
import { roundRobin } from '../operators/balancers/round-robin.js';
import { healthy } from '../operators/healthy.js';
import { live } from '../operators/live.js';
import type { DemoCommand } from './args.js';
import {
  type CliContext,
  cliDiscoveryOptions,
  EXIT_OK,
  errorLine,
  exitCodeFor,
  oneLine,
} from './context.js';
import { callOnce } from './demo-client.js';
import { type HelloServer, startHelloServer } from './demo-server.js';
import { DemoStats } from './demo-stats.js';
import { setHeader, setTable } from './format-set.js';

/** The pace of the demo. */
export interface DemoTiming {
  /**
   * Milliseconds between two calls of the client.
   * @default 50
   */
  readonly callEveryMs: number;
  /**
   * Milliseconds between two progress lines.
   * @default 1000
   */
  readonly reportEveryMs: number;
  /**
   * Milliseconds of calls before an instance goes away.
   * @default 4000
   */
  readonly beforeStopMs: number;
  /**
   * Milliseconds between the server of the leaving instance closing and its
   * deregistration (the calls it gets meanwhile fail and are retried).
   * @default 300
   */
  readonly deregisterAfterMs: number;
  /**
   * Milliseconds of calls after the instance went away.
   * @default 4000
   */
  readonly afterStopMs: number;
  /**
   * Milliseconds the registered instances have to appear to the client.
   * @default 15000
   */
  readonly appearWithinMs: number;
  /**
   * Milliseconds of TTL of the registrations.
   * @default 3000
   */
  readonly ttlMs: number;
}

/** The default pace: about 9 seconds in all. */
export const DEMO_TIMING: DemoTiming = Object.freeze({
  callEveryMs: 50,
  reportEveryMs: 1000,
  beforeStopMs: 4000,
  deregisterAfterMs: 300,
  afterStopMs: 4000,
  appearWithinMs: 15_000,
  ttlMs: 3000,
});

const SERVICE = 'hello';
const NAMES = ['hello-1', 'hello-2', 'hello-3'] as const;

/** Raised into the demo's waits by SIGINT/SIGTERM. */
class Interrupted extends Error {}

interface Deferred {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
}

const deferred = (): Deferred => {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
};

/** One demo service: its server and its registration. */
interface DemoService {
  readonly server: HelloServer;
  /** Emits to deregister (the registration's `until`). */
  readonly leave$: Subject<void>;
  readonly registered: Deferred;
  /** Resolves when the registration stream has completed (after `deregistered`). */
  readonly ended: Deferred;
  readonly subscription: Subscription;
}

const startService = async (
  name: string,
  registry: Discovery,
  ttlMs: number,
  say: (line: string) => void,
  renewed: () => void,
  fail: (e: unknown) => void,
): Promise<DemoService> => {
  const server = await startHelloServer(name);
  const leave$ = new Subject<void>();
  const registered = deferred();
  const ended = deferred();
  const at = `${server.host}:${server.port}`;
  const subscription = registry
    .register(
      {
        service: SERVICE,
        id: name,
        host: server.host,
        port: server.port,
        tags: ['demo'],
        metadata: { server: name },
      },
      { ttlMs, until: leave$ },
    )
    .subscribe({
      next: (e) => {
        if (e.type === 'renewed') return renewed();
        const why = 'error' in e && e.error !== undefined ? `: ${oneLine(e.error)}` : '';
        say(`${name} (${SERVICE}@${at}) ${e.type}${why}`);
        if (e.type === 'registered') registered.resolve();
      },
      error: fail,
      complete: ended.resolve,
    });
  return { server, leave$, registered, ended, subscription };
};

const allVisible = (registry: Discovery, appearWithinMs: number): Observable<unknown> =>
  registry.instances$(SERVICE).pipe(
    healthy(),
    filter((set) => NAMES.every((n) => set.get(n) !== undefined)),
    take(1),
    timeout({
      first: appearWithinMs,
      with: () =>
        throwError(
          () =>
            new NoInstanceError(
              `the ${NAMES.length} demo instances did not all appear within ${appearWithinMs} ms`,
              { registry: registry.registry, service: SERVICE },
            ),
        ),
    }),
  );

/**
 * Runs the demo; resolves with the exit status once everything it started
 * (servers, registrations, watches, the registry) is released: 0 when done
 * or interrupted by `ctx.stop$`, 1 or 2 (configuration) on failure, with
 * one line on stderr.
 *
 * @param timing - the pace; tests pass a faster one.
 */
export const runDemo = async (
  cmd: DemoCommand,
  ctx: CliContext,
  timing: DemoTiming = DEMO_TIMING,
): Promise<number> => {
  const say =
    (who: string) =>
    (line: string): void =>
      ctx.out(`[${who}] ${line}`);
  const demo = say('demo');
  const client = say('client');
  const summary = say('summary');
  const registry = ctx.discovery(cmd.registry, cliDiscoveryOptions(ctx));
  const abort$ = new Subject<never>();
  const fail = (e: unknown): void => abort$.error(e);
  const wait = <T>(source: Observable<T>): Promise<T> => firstValueFrom(merge(source, abort$));
  const sleep = (ms: number): Promise<unknown> => wait(timer(ms));
  const stopSignal = ctx.stop$.pipe(take(1)).subscribe(() => fail(new Interrupted()));
  const clientSubs = new Subscription();
  const stopCalls$ = new Subject<void>();
  const services: DemoService[] = [];
  const stats = new DemoStats();
  let hello: ReturnType<typeof live> | undefined;
  let calls: Promise<unknown> = Promise.resolve();
  let renewals = 0;

  try {
    demo(
      `registry ${registry.registry}: starting ${NAMES.length} HTTP servers on 127.0.0.1; each registers itself as '${SERVICE}' (ttl ${formatDuration(timing.ttlMs)}, renewed every ${formatDuration(Math.round(timing.ttlMs / 3))})`,
    );
    for (const name of NAMES) {
      services.push(await startService(name, registry, timing.ttlMs, demo, () => renewals++, fail));
    }
    await wait(from(Promise.all(services.map((s) => s.registered.promise))));

    client(
      `discovering '${SERVICE}': live(registry.instances$('${SERVICE}').pipe(healthy(), roundRobin()))`,
    );
    clientSubs.add(
      registry
        .instances$(SERVICE)
        .pipe(healthy())
        .subscribe({
          next: (set) => {
            client(`live set changed: ${setHeader(set)}`);
            for (const line of setTable(set)) client(`  ${line}`);
          },
          error: fail,
        }),
    );
    hello = live(registry.instances$(SERVICE).pipe(healthy(), roundRobin()));
    await wait(allVisible(registry, timing.appearWithinMs));

    const picker = hello;
    client(
      `calling GET / every ${timing.callEveryMs} ms with call(hello, ...): round robin picks, a failed attempt is retried once on another instance`,
    );
    calls = lastValueFrom(
      interval(timing.callEveryMs).pipe(
        takeUntil(stopCalls$),
        exhaustMap(() =>
          callOnce(picker, stats, (failed, why, next, ok) =>
            client(
              next === undefined
                ? `call to ${failed.id} failed (${why}), no other instance to retry on`
                : `call to ${failed.id} failed (${why}), retried on ${next.id}: ${ok ? 'ok' : 'failed too'}`,
            ),
          ),
        ),
      ),
      { defaultValue: undefined },
    );
    clientSubs.add(
      interval(timing.reportEveryMs).subscribe(() =>
        client(`${stats.line()}; picks: ${stats.picksLine()}`),
      ),
    );
    await sleep(timing.beforeStopMs);

    const leaving = services[1]!;
    demo(
      `${leaving.server.name} goes away: its server stops now, its registration is withdrawn ${timing.deregisterAfterMs} ms later`,
    );
    await leaving.server.close();
    demo(`${leaving.server.name} server closed; calls that reach it now fail and are retried`);
    await sleep(timing.deregisterAfterMs);
    demo(`${leaving.server.name} withdraws its registration`);
    leaving.leave$.next();
    await wait(from(leaving.ended.promise));
    await sleep(timing.afterStopMs);

    stopCalls$.next();
    await wait(from(calls));
    clientSubs.unsubscribe();
    hello.close();
    hello = undefined;
    client(`stopped: ${stats.line()}`);

    const staying = services.filter((s) => s !== leaving);
    demo(`stopping ${staying.map((s) => s.server.name).join(' and ')}: deregister, then close`);
    for (const s of staying) s.leave$.next();
    await wait(from(Promise.all(staying.map((s) => s.ended.promise))));
    await Promise.all(staying.map((s) => s.server.close()));

    summary(stats.line());
    summary(`keepalives: ${renewals} renewals`);
    summary('picks per instance (round robin; a retry is a second pick):');
    for (const line of stats.table()) summary(`  ${line}`);
    return EXIT_OK;
  } catch (e) {
    if (e instanceof Interrupted) {
      demo('interrupted: releasing everything');
      return EXIT_OK;
    }
    ctx.err(errorLine(e));
    return exitCodeFor(e);
  } finally {
    stopCalls$.next();
    await calls;
    hello?.close();
    clientSubs.unsubscribe();
    for (const s of services) s.subscription.unsubscribe();
    await Promise.all(services.map((s) => s.server.close()));
    await registry.close();
    stopSignal.unsubscribe();
    demo('servers closed, registrations withdrawn, registry closed: exiting');
  }
};
