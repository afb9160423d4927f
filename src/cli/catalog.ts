/**
 * `rxdisco watch URL --all [--json]` (the whole registry, one line or one
 * table per changed service) and `rxdisco services URL [--json]` (the live
 * service names, once).
 *
 * @module
 */
import { ignoreElements, map, tap } from 'rxjs';
import type { Catalog } from '../core/catalog.js';
import { emptySet, type InstanceSet } from '../core/instance-set.js';
import type { ServicesCommand, WatchAllCommand } from './args.js';
import {
  type CliContext,
  cliDiscoveryOptions,
  EXIT_FAILURE,
  EXIT_OK,
  errorLine,
  untilStopped,
} from './context.js';
import { formatSet, setToJson } from './format-set.js';

/**
 * The sets a catalog emission changed, in service order: a service that
 * went is shown as an empty set (stale with the catalog).
 */
export const changedSets = (catalog: Catalog): InstanceSet[] =>
  catalog.changed.map(
    (name) =>
      catalog.get(name) ??
      emptySet(
        name,
        catalog.registry,
        catalog.stale
          ? { stale: true, since: catalog.staleSince!, error: catalog.error! }
          : { stale: false },
      ),
  );

/**
 * Runs `watch --all`: one NDJSON line (`--json`) or a header and table per
 * changed service of each catalog emission (every service on the first;
 * `(registry is empty)` when there is none), until `ctx.stop$` emits (exit
 * 0) or the stream fails for good (exit 2 for a configuration error, else
 * 1). Closes the registry before it resolves.
 *
 * @returns the exit status.
 */
export const runWatchAll = async (cmd: WatchAllCommand, ctx: CliContext): Promise<number> => {
  const registry = ctx.discovery(cmd.url, cliDiscoveryOptions(ctx));
  let first = true;
  try {
    return await untilStopped(
      registry.catalog$().pipe(
        tap((catalog) => {
          if (first && catalog.size === 0 && !cmd.json) {
            ctx.out(`(registry ${catalog.registry} is empty${catalog.stale ? ', STALE' : ''})`);
          }
          first = false;
          for (const set of changedSets(catalog)) {
            if (cmd.json) ctx.out(setToJson(set));
            else for (const line of [...formatSet(set), '']) ctx.out(line);
          }
        }),
        ignoreElements(),
      ),
      ctx,
    );
  } finally {
    await registry.close();
  }
};

/**
 * Runs `services`: waits for the first fresh list of service names and
 * prints it (one name a line, or one JSON array with `--json`), exit 0. A
 * registry that is unreachable prints its error (exit 1, or 2 for a
 * configuration error); `ctx.stop$` ends the wait (exit 0, nothing printed).
 *
 * @returns the exit status.
 */
export const runServices = async (cmd: ServicesCommand, ctx: CliContext): Promise<number> => {
  const registry = ctx.discovery(cmd.url, cliDiscoveryOptions(ctx));
  try {
    return await untilStopped(
      registry.services$().pipe(
        map((list) => {
          if (list.stale) {
            ctx.err(errorLine(list.error ?? 'the registry is unreachable'));
            return EXIT_FAILURE;
          }
          if (cmd.json) ctx.out(JSON.stringify(list.names));
          else for (const name of list.names) ctx.out(name);
          return EXIT_OK;
        }),
      ),
      ctx,
    );
  } finally {
    await registry.close();
  }
};
