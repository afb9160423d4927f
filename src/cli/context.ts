/**
 * What a command needs from the outside world, injected so that commands
 * run in-process in tests: output lines, a stop signal, a way to open a
 * registry. And how errors become one line and an exit status.
 *
 * @module
 */
import { catchError, firstValueFrom, interval, map, merge, Observable, of, take } from 'rxjs';
import type { Discovery, DiscoveryOptions } from '../core/discovery.js';
import { isConfigError } from '../core/errors.js';

/** The environment of a command. */
export interface CliContext {
  /** Writes one line to standard output. */
  readonly out: (line: string) => void;
  /** Writes one line to standard error. */
  readonly err: (line: string) => void;
  /** Emits when the command should stop (SIGINT/SIGTERM in the binary). */
  readonly stop$: Observable<unknown>;
  /** Opens a registry (`discovery` in the binary). */
  readonly discovery: (url: string, options?: DiscoveryOptions) => Discovery;
}

/** Exit status: done, or stopped on request. */
export const EXIT_OK = 0;
/** Exit status: a failure at runtime (authentication refused, registry gone for good...). */
export const EXIT_FAILURE = 1;
/** Exit status: bad arguments or configuration. */
export const EXIT_USAGE = 2;

/** The message of anything thrown, on one line. */
export const oneLine = (e: unknown): string =>
  (e instanceof Error ? e.message : String(e)).replace(/\s*\n\s*/g, ' ').trim();

/** `rxdisco: <message>`: how every error is printed. */
export const errorLine = (e: unknown): string => `rxdisco: ${oneLine(e)}`;

/** The exit status for an error: {@link EXIT_USAGE} for a configuration error, else {@link EXIT_FAILURE}. */
export const exitCodeFor = (e: unknown): number => (isConfigError(e) ? EXIT_USAGE : EXIT_FAILURE);

/**
 * Keeps the process alive while subscribed (a registry like `static://`
 * holds no handle of its own), without waking it: one tick every 12 days.
 */
export const keepAlive$: Observable<never> = new Observable<never>((subscriber) =>
  interval(2 ** 30).subscribe({ error: (e: unknown) => subscriber.error(e) }),
);

/**
 * The exit status of a command that runs until stopped: the first status
 * `work$` emits, {@link EXIT_OK} when `ctx.stop$` fires, or, when `work$`
 * fails, the status for its error (printed as one line). `work$` that
 * completes without a status waits for the stop. Keeps the process alive
 * meanwhile.
 */
export const untilStopped = (work$: Observable<number>, ctx: CliContext): Promise<number> =>
  firstValueFrom(
    merge(
      work$,
      ctx.stop$.pipe(
        take(1),
        map(() => EXIT_OK),
      ),
      keepAlive$,
    ).pipe(
      catchError((e: unknown) => {
        ctx.err(errorLine(e));
        return of(exitCodeFor(e));
      }),
    ),
    { defaultValue: EXIT_OK },
  );

/** Discovery options for the CLI: problems go to stderr as warnings. */
export const cliDiscoveryOptions = (ctx: CliContext): DiscoveryOptions => ({
  onProblem: (problem) => ctx.err(`rxdisco: warning: ${oneLine(problem)}`),
});
