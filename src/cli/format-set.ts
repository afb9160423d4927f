/**
 * How `rxdisco watch` (and the demo) show an {@link InstanceSet}: one NDJSON
 * line, or a header and a table.
 *
 * @module
 */
import { toRecord } from '../core/codecs.js';
import type { Instance } from '../core/instance.js';
import type { InstanceSet } from '../core/instance-set.js';
import { formatHostPort } from '../core/url.js';
import { formatTable } from './table.js';

/** An instance as a plain JSON-ready object: every field, `zone` only when set. */
export const instanceJson = (i: Instance): Record<string, unknown> => ({
  ...toRecord(i),
  registry: i.registry,
});

/**
 * One NDJSON line for a set:
 * `{"service":"hello","stale":false,"instances":[...]}`; a stale set also
 * carries `staleSince` (ISO time) and `error` (the message).
 */
export const setToJson = (set: InstanceSet): string =>
  JSON.stringify({
    service: set.service,
    stale: set.stale,
    ...(set.stale
      ? { staleSince: new Date(set.staleSince).toISOString(), error: set.error.message }
      : {}),
    instances: set.instances.map(instanceJson),
  });

/** `host:port`, IPv6 hosts bracketed. */
export const address = (i: Instance): string => formatHostPort(i.host, i.port);

/**
 * The header line of a set: service, count, registry, and fresh or
 * `STALE since <ISO> (<n>s): <why>`.
 *
 * @param now - epoch milliseconds, to say how long a set has been stale.
 */
export const setHeader = (set: InstanceSet, now: number = Date.now()): string => {
  const count = `${set.size} instance${set.size === 1 ? '' : 's'}`;
  const state = set.stale
    ? `STALE since ${new Date(set.staleSince).toISOString()} (${Math.max(0, Math.round((now - set.staleSince) / 1000))}s): ${set.error.message}`
    : 'fresh';
  return `${set.service} @ ${set.registry}: ${count}, ${state}`;
};

/** The instances of a set as table lines (id, host:port, status, weight, zone, tags). */
export const setTable = (set: InstanceSet): string[] =>
  set.size === 0
    ? ['(no instances)']
    : formatTable(
        ['ID', 'ADDRESS', 'STATUS', 'WEIGHT', 'ZONE', 'TAGS'],
        set.instances.map((i) => [
          i.id,
          address(i),
          i.status,
          String(i.weight),
          i.zone ?? '-',
          i.tags.length === 0 ? '-' : i.tags.join(','),
        ]),
      );

/** Header and table: what `rxdisco watch` prints per emission without `--json`. */
export const formatSet = (set: InstanceSet, now: number = Date.now()): string[] => [
  setHeader(set, now),
  ...setTable(set),
];
