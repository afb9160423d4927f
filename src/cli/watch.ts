/**
 * `rxdisco watch URL SERVICE [--json] [--explain]`: prints the live set of a
 * service on every change until stopped; with `--explain`, a round-robin
 * pick over it and its `explain()`.
 *
 * @module
 */
import { ignoreElements, Subject, tap } from 'rxjs';
import type { InstanceSet } from '../core/instance-set.js';
import { roundRobin } from '../operators/balancers/round-robin.js';
import type { PickExplanation } from '../operators/explain.js';
import { live } from '../operators/live.js';
import type { WatchCommand } from './args.js';
import { type CliContext, cliDiscoveryOptions, untilStopped } from './context.js';
import { formatSet, setToJson } from './format-set.js';

/** The lines of `--explain` without `--json`. */
export const formatExplanation = (e: PickExplanation): string[] => {
  const b = e.balancer;
  const lines = [
    e.picked === undefined
      ? `explain: ${b?.kind ?? 'no balancer'} picked nothing (${e.size} instances)`
      : `explain: ${b?.kind} picked ${e.picked.id} (${e.picked.address}): ${b?.rule}`,
  ];
  for (const c of b?.candidates ?? []) {
    lines.push(
      `  candidate ${c.id} ${c.address} weight ${c.weight}${c.score === undefined ? '' : ` score ${c.score}`}`,
    );
  }
  for (const x of b?.excluded ?? []) lines.push(`  excluded ${x.id}: ${x.why}`);
  for (const n of e.notes) lines.push(`  ${n.operator}: ${JSON.stringify(n.detail)}`);
  return lines;
};

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
  // --explain: each set also goes to a round-robin live balancer; one pick, then why.
  const sets = new Subject<InstanceSet>();
  const balancer = cmd.explain === true ? live(sets.pipe(roundRobin())) : undefined;
  const explain = (set: InstanceSet): void => {
    if (balancer === undefined) return;
    sets.next(set);
    balancer.pick();
    const e = balancer.explain();
    if (cmd.json) ctx.out(JSON.stringify({ explain: e }));
    else for (const line of [...formatExplanation(e), '']) ctx.out(line);
  };
  try {
    return await untilStopped(
      registry.instances$(cmd.service).pipe(
        tap((set) => {
          if (cmd.json) ctx.out(setToJson(set));
          else for (const line of [...formatSet(set), '']) ctx.out(line);
          explain(set);
        }),
        ignoreElements(),
      ),
      ctx,
    );
  } finally {
    balancer?.close();
    await registry.close();
  }
};
