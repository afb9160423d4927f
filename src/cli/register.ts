/**
 * `rxdisco register URL SERVICE HOST:PORT [options]`: registers an instance,
 * keeps it alive, prints its lifecycle, deregisters on SIGINT/SIGTERM.
 *
 * @module
 */
import { catchError, endWith, firstValueFrom, ignoreElements, merge, of, tap } from 'rxjs';
import type { RegisterCommand } from './args.js';
import {
  type CliContext,
  cliDiscoveryOptions,
  EXIT_OK,
  errorLine,
  exitCodeFor,
  keepAlive$,
  oneLine,
} from './context.js';
import { eventToJson, formatEvent } from './format-event.js';

/**
 * Runs `register`: prints one line per lifecycle event (NDJSON with
 * `--json`); when `ctx.stop$` emits, deregisters, prints `deregistered`,
 * closes the registry and resolves 0. A permanent failure prints one line
 * on stderr and resolves 2 (configuration, e.g. a read-only registry) or 1.
 *
 * `memory://` registers in this process's own registry: only this process
 * sees it, which a note on stderr says.
 *
 * @returns the exit status.
 */
export const runRegister = async (cmd: RegisterCommand, ctx: CliContext): Promise<number> => {
  const registry = ctx.discovery(cmd.url, cliDiscoveryOptions(ctx));
  if (registry.registry.startsWith('memory://')) {
    ctx.err(
      'rxdisco: note: memory:// is in-process; only this process sees the registration (use etcd://, consul:// or eureka:// to share it)',
    );
  }
  try {
    return await firstValueFrom(
      merge(
        registry
          .register(cmd.spec, {
            until: ctx.stop$,
            ...(cmd.ttlMs === undefined ? {} : { ttlMs: cmd.ttlMs }),
          })
          .pipe(
            tap((event) => {
              ctx.out(cmd.json ? eventToJson(event) : formatEvent(event));
              if (event.type === 'deregistered' && event.error !== undefined) {
                ctx.err(
                  `rxdisco: warning: deregistration not confirmed, the registry drops the instance when its TTL runs out: ${oneLine(event.error)}`,
                );
              }
            }),
            ignoreElements(),
            endWith(EXIT_OK),
          ),
        keepAlive$,
      ).pipe(
        catchError((e: unknown) => {
          ctx.err(errorLine(e));
          return of(exitCodeFor(e));
        }),
      ),
    );
  } finally {
    await registry.close();
  }
};
