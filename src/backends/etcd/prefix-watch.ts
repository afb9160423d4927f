/**
 * One gapless watch session of a key prefix: a range read at revision R
 * (unless resuming), then a watch from R + 1 with previous values, on the
 * client's shared gRPC watch stream. Guards against the two known failures
 * of the etcd3 client's watcher:
 *
 * - a watch cancelled by the server (a compacted start revision ends the
 *   watcher with an error, etcd3 issue #72): the session re-reads the whole
 *   prefix (the caller diffs it against what it knew) and watches on from
 *   the new revision, instead of restarting from the compacted one and
 *   losing the deletions in between;
 * - a watch that silently stops delivering after reconnects (etcd3 issue
 *   #114): a watchdog reads the prefix's keys now and then; a watch found
 *   behind that read twice in a row (or never created) fails the session
 *   and replaces the client, so the core reopens it from its cursor.
 *
 * Disconnections fail the session with a retryable error: the core owns
 * retries, and resumes from the cursor (the etcd3 watcher's own resume
 * would skip the catch-up events it had not delivered yet).
 *
 * @module
 */
import type { Etcd3, IEvent, IKeyValue, IWatchResponse, Watcher } from 'etcd3';
import { type Subscription, timer } from 'rxjs';
import { type ErrorContext, RegistryUnavailableError } from '../../core/errors.js';
import type { ClientHolder, ResolvedEtcdOptions } from './client.js';
import { toEtcdError } from './errors.js';

/**
 * Where a watch resumes: the next revision to receive, and how many keys
 * the prefix holds as of the revision before it (so that a resumed
 * session's watchdog can tell a missed deletion). A number, not the keys:
 * a cursor of a whole registry costs nothing per key.
 */
export interface EtcdCursor {
  readonly revision: number;
  readonly keys: number;
}

/** Opens an (unconnected) etcd3 watcher of `prefix` from `revision`. Tests wrap it. */
export type OpenWatcher = (client: Etcd3, prefix: string, revision: number) => Watcher;

/** The default {@link OpenWatcher}: the etcd3 client's multiplexed watch manager. */
export const openWatcher: OpenWatcher = (client, prefix, revision) =>
  client.watch().prefix(prefix).withPreviousKV().startRevision(String(revision)).watcher();

/** What a prefix watch needs from its backend. */
export interface PrefixWatchDeps {
  readonly clients: ClientHolder;
  readonly options: ResolvedEtcdOptions;
  readonly context: ErrorContext;
  readonly openWatcher?: OpenWatcher;
}

/** What a session reports, in order. */
export interface PrefixWatchHandlers {
  /** Everything under the prefix at `cursor.revision - 1` (a first read or a re-read). */
  snapshot(kvs: readonly IKeyValue[], cursor: EtcdCursor): void;
  /** The events of one watch response. */
  events(events: readonly IEvent[], cursor: EtcdCursor): void;
  /** The watch is established or moved on with nothing to report under the prefix. */
  progress(cursor: EtcdCursor): void;
  /** The session failed; nothing else is reported after this. */
  fail(error: unknown): void;
}

/** etcd sends at most this many revisions per watch response; more come later. */
const WATCH_BATCH_MAX_REVS = 1000;

/** The end of the key range of a prefix (the prefix with its last byte plus one). */
export const prefixEnd = (prefix: string): Buffer => {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]! += 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
};

/** Keys per range request of a snapshot read (as etcd's own clientv3 mirror reads). */
export const READ_PAGE_KEYS = 1000;

/**
 * Every key under `prefix` at one revision, read in pages of
 * {@link READ_PAGE_KEYS} keys (the first page sets the revision, the next
 * ones read at it), so that no answer grows with the prefix: a whole
 * registry in one range answer is past grpc-js's 4 MiB message limit at a
 * few thousand services. A revision compacted between pages fails the read
 * (retryable: the next session reads again). Undefined when `cancelled()`
 * turned true between pages.
 */
export const readPrefix = async (
  client: Etcd3,
  prefix: string,
  cancelled: () => boolean = () => false,
): Promise<{ kvs: IKeyValue[]; revision: number } | undefined> => {
  const end = prefixEnd(prefix);
  const kvs: IKeyValue[] = [];
  let key = Buffer.from(prefix);
  let revision: number | undefined;
  for (;;) {
    const res = await client.kv.range({
      key,
      range_end: end,
      limit: READ_PAGE_KEYS,
      ...(revision === undefined ? {} : { revision }),
    });
    if (cancelled()) return undefined;
    revision ??= Number(res.header.revision);
    for (const kv of res.kvs) kvs.push(kv);
    const last = res.kvs[res.kvs.length - 1];
    if (!res.more || last === undefined) return { kvs, revision };
    // The next page starts right after the last key read.
    key = Buffer.concat([last.key, Buffer.from([0])]);
  }
};

/**
 * The cursor after a watch response: `header.revision + 1`, except when the
 * response carries a full batch of revisions (etcd may then have more
 * events up to the header revision to send): the last event's revision + 1.
 */
const cursorAfter = (res: IWatchResponse, keys: number): EtcdCursor => {
  const header = Number(res.header.revision);
  if (res.events.length >= WATCH_BATCH_MAX_REVS) {
    const revs = new Set(res.events.map((e) => e.kv.mod_revision));
    if (revs.size >= WATCH_BATCH_MAX_REVS) {
      return { revision: Number(res.events[res.events.length - 1]!.kv.mod_revision) + 1, keys };
    }
  }
  return { revision: header + 1, keys };
};

/**
 * Runs one watch session of `prefix` from `resume` (a read first when
 * undefined). Returns the teardown.
 */
export const watchPrefix = (
  deps: PrefixWatchDeps,
  prefix: string,
  resume: EtcdCursor | undefined,
  handlers: PrefixWatchHandlers,
): (() => void) => {
  const open = deps.openWatcher ?? openWatcher;
  const { options, context } = deps;
  let stopped = false;
  let client: Etcd3;
  let watcher: Watcher | undefined;
  let guard: Subscription | undefined;
  let cursor = resume;
  let suspect: number | undefined;
  // server cancellations in a row without any response in between
  let cancels = 0;

  const stopWatcher = (): void => {
    guard?.unsubscribe();
    guard = undefined;
    const w = watcher;
    watcher = undefined;
    if (w !== undefined) {
      w.removeAllListeners();
      w.on('error', () => undefined);
      w.cancel().catch(() => undefined);
    }
  };

  const fail = (e: unknown): void => {
    if (stopped) return;
    stopped = true;
    stopWatcher();
    handlers.fail(toEtcdError(e, context));
  };

  const stalled = (why: string): void => {
    if (stopped) return;
    deps.clients.replace(client);
    fail(
      new RegistryUnavailableError(`the etcd watch of '${prefix}' ${why}; reopening it`, context),
    );
  };

  const read = (): void => {
    readPrefix(client, prefix, () => stopped).then((res) => {
      if (stopped || res === undefined) return;
      cursor = { revision: res.revision + 1, keys: res.kvs.length };
      handlers.snapshot(res.kvs, cursor);
      if (!stopped) watch(cursor);
    }, fail);
  };

  /**
   * The prefix now, as two small answers whatever its size: how many keys it
   * holds, and the keys written at or after `since` (none, for a watch that
   * is up to date), at one revision.
   */
  const probe = async (since: number): Promise<{ now: number; keys: number; newer: number }> => {
    const key = Buffer.from(prefix);
    const range_end = prefixEnd(prefix);
    const count = await client.kv.range({ key, range_end, count_only: true });
    const now = Number(count.header.revision);
    const newer = await client.kv.range({
      key,
      range_end,
      keys_only: true,
      min_mod_revision: since,
      revision: now,
    });
    return { now, keys: Number(count.count), newer: newer.kvs.length };
  };

  const check = (): void => {
    const c = cursor;
    if (stopped || c === undefined) return;
    probe(c.revision).then((res) => {
      if (stopped || watcher === undefined) return;
      const now = res.now;
      const at = cursor!;
      // Behind: a key written since the cursor (the watch owes its event),
      // or a count that differs (a deletion it owes).
      const behind = at.revision <= now && (res.keys !== at.keys || (at === c && res.newer > 0));
      if (!behind) suspect = undefined;
      else if (suspect !== undefined && at.revision <= suspect)
        return stalled(`is behind revision ${suspect} (at ${at.revision - 1})`);
      else suspect = now;
      schedule(options.watchdogIntervalMs);
    }, fail);
  };

  const schedule = (ms: number): void => {
    guard?.unsubscribe();
    guard = ms > 0 ? timer(ms).subscribe(check) : undefined;
  };

  const watch = (from: EtcdCursor): void => {
    let connected = false;
    const w = open(client, prefix, from.revision);
    watcher = w;
    guard = timer(options.watchCreateTimeoutMs).subscribe(() => {
      if (!connected) stalled(`was not created within ${options.watchCreateTimeoutMs} ms`);
    });
    w.on('connected', () => {
      if (stopped || watcher !== w) return;
      connected = true;
      suspect = undefined;
      schedule(options.watchdogIntervalMs);
      handlers.progress(cursor!);
    });
    w.on('data', (res: IWatchResponse) => {
      if (stopped || watcher !== w) return;
      cancels = 0;
      let keys = cursor!.keys;
      for (const e of res.events) {
        if (e.type === 'Delete') keys--;
        else if (e.kv.version === '1') keys++; // created (a first version)
      }
      cursor = cursorAfter(res, keys);
      if (res.events.length === 0) handlers.progress(cursor);
      else handlers.events(res.events, cursor);
    });
    w.on('disconnected', (e: unknown) => {
      if (watcher === w) fail(e);
    });
    w.on('error', (e: unknown) => {
      // Cancelled by the server: a compacted start revision (etcd3 #72) or
      // any other reason. Re-read the whole prefix and go on from there
      // (a watch cancelled again and again fails the session instead).
      if (stopped || watcher !== w) return;
      if (++cancels > 3) return fail(e);
      watcher = undefined;
      guard?.unsubscribe();
      w.removeAllListeners();
      w.on('error', () => undefined);
      read();
    });
  };

  try {
    client = deps.clients.get();
  } catch (e) {
    fail(e);
    return () => undefined;
  }
  if (cursor === undefined) read();
  else watch(cursor);

  return () => {
    stopped = true;
    stopWatcher();
  };
};
