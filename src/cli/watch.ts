/**
 * `rxdisco watch URL SERVICE [--json]`: prints the live set of a service on
 * every change until stopped.
 *
 * @module
 */
import { catchError, firstValueFrom, ignoreElements, map, merge, of, take, tap } from 'rxjs';
import type { WatchCommand } from './args.js';
import {
  type CliContext,
  cliDiscoveryOptions,
  EXIT_OK,
  errorLine,
  exitCodeFor,
  keepAlive$,
} from './context.js';
import { formatSet, setToJson } from './format-set.js';

/**
 * Runs `watch`: one NDJSON line (`--json`) or a header and table per
 * emission, until `ctx.stop$` emits (exit 0) or the stream fails for good
 * (one line on stderr; exit 2 for a configuration error, else 1). Closes
 * the registry before it resolves.
 *
 * @returns the exit status.
 */
export const runWatch = async (cmd: WatchCommand, ctx: CliContext): Promise<number> => {
  const registry = ctx.discovery(cmd.url, cliDiscoveryOptions(ctx));
  try {
    return await firstValueFrom(
      merge(
        registry.instances$(cmd.service).pipe(
          tap((set) => {
            if (cmd.json) ctx.out(setToJson(set));
            else for (const line of [...formatSet(set), '']) ctx.out(line);
          }),
          ignoreElements(),
        ),
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
  } finally {
    await registry.close();
  }
};
