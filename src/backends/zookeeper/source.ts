/**
 * The ZooKeeper watch sources: the instances of one service (the children
 * of `<base>/<service>` and their data) and the service names (the children
 * of `<base>` that have instances).
 *
 * ZooKeeper watches are one-shot: a notification says that something
 * changed, not what. So every notification re-lists the children (arming
 * the child watch again in the same request) and reads the data of every
 * new child and of every child whose data watch fired, then emits what
 * changed (the whole set first); a notification that arrives meanwhile runs one more round. No change
 * is lost between a watch firing and being set again, and the set is exact
 * once a burst is over. A dropped connection or an ended session errors the
 * session (the set turns stale); the core reopens it, which lists again.
 *
 * @module
 */
import { Observable } from 'rxjs';
import type { DecodeError, ErrorContext } from '../../core/errors.js';
import type { Instance } from '../../core/instance.js';
import type { ServiceListEvent, SourceEvent, WatchSource } from '../../core/watch.js';
import { decodeNode } from './codecs.js';
import { type SessionHolder, toZkError, type ZkSession } from './session.js';
import { ZK_CODES, type ZkEvent, type ZkStat, zkCode } from './zk-client.js';

/** Children of `path` with the child watch armed; `undefined` when the node does not exist (exists watch armed). */
const listChildren = async (s: ZkSession, path: string): Promise<string[] | undefined> => {
  try {
    return await s.call<string[]>(`getChildren ${path}`, (done) =>
      s.client.getChildren(path, s.arm('child', path)!, (e, children) => done(e, children)),
    );
  } catch (e) {
    if (zkCode(e) !== ZK_CODES.NO_NODE) throw e;
  }
  // Not there (yet): watch for its creation; it may have appeared in between.
  const stat = await s.call<ZkStat | null>(`exists ${path}`, (done) =>
    s.client.exists(path, s.arm('exists', path)!, (e, st) => done(e, st)),
  );
  return stat === null ? undefined : listChildren(s, path);
};

/** A stream that runs `round` once at start and again after every `poke`, never two at once. */
const rounds = (round: () => Promise<void>, fail: (e: unknown) => void) => {
  let running = false;
  let again = false;
  let stopped = false;
  const run = async (): Promise<void> => {
    running = true;
    try {
      do {
        again = false;
        await round();
      } while (again && !stopped);
    } catch (e) {
      if (!stopped) fail(e);
    } finally {
      running = false;
    }
  };
  return {
    poke: (): void => {
      if (stopped) return;
      if (running) again = true;
      else void run();
    },
    stop: (): void => {
      stopped = true;
    },
  };
};

/** The watch source of `service`: children of `<base>/<service>` plus their data. */
export const zookeeperSource =
  (
    sessions: SessionHolder,
    base: string,
    service: string,
    registry: string,
  ): WatchSource<unknown> =>
  () =>
    new Observable<SourceEvent<unknown>>((subscriber) => {
      const context: ErrorContext = { registry, service };
      const path = `${base}/${service}`;
      const known = new Map<string, Instance | undefined>();
      const dirty = new Set<string>();
      const releases = new Map<string, () => void>();
      let session: ZkSession | undefined;
      const fail = (e: unknown): void => subscriber.error(toZkError(e, context));

      const onData = (e: ZkEvent): void => {
        dirty.add(e.path.slice(path.length + 1));
        work.poke();
      };
      const read = async (
        s: ZkSession,
        name: string,
      ): Promise<{ instance?: Instance; skipped?: DecodeError; gone?: true }> => {
        const child = `${path}/${name}`;
        if (!releases.has(child)) releases.set(child, s.watcher('data', child, onData).release);
        try {
          const data = await s.call<Buffer | undefined>(`getData ${child}`, (done) =>
            s.client.getData(child, s.arm('data', child)!, (e, d) => done(e, d)),
          );
          const d = decodeNode({ path: child, service, id: name }, data, registry);
          return d.ok ? { instance: d.value } : { skipped: d.error };
        } catch (e) {
          // Deleted since the listing: the child watch has fired, the next round drops it.
          if (zkCode(e) === ZK_CODES.NO_NODE) return { gone: true };
          throw e;
        }
      };

      let first = true;
      const work = rounds(async () => {
        const s = session!;
        const children = (await listChildren(s, path)) ?? [];
        const present = new Set(children);
        const removals: string[] = [];
        for (const name of [...known.keys()]) {
          if (!present.has(name)) {
            known.delete(name);
            dirty.delete(name);
            releases.get(`${path}/${name}`)?.();
            releases.delete(`${path}/${name}`);
            removals.push(name);
          }
        }
        const toRead = children.filter((n) => !known.has(n) || dirty.has(n));
        for (const n of toRead) dirty.delete(n);
        const results = await Promise.all(toRead.map((n) => read(s, n)));
        const skipped: DecodeError[] = [];
        const upserts: Instance[] = [];
        toRead.forEach((n, i) => {
          const r = results[i]!;
          if (r.gone) known.delete(n);
          else known.set(n, r.instance);
          if (r.instance) upserts.push(r.instance);
          // gone, or no longer decodes: out of the set
          else removals.push(n);
          if (r.skipped) skipped.push(r.skipped);
        });
        if (subscriber.closed) return;
        const extra = skipped.length > 0 ? { skipped } : {};
        if (first) {
          // A session starts with the whole set; later rounds send what they changed.
          first = false;
          const instances: Instance[] = [];
          for (const i of known.values()) if (i !== undefined) instances.push(i);
          subscriber.next({ type: 'snapshot', instances, ...extra });
        } else if (upserts.length > 0 || removals.length > 0 || skipped.length > 0) {
          subscriber.next({ type: 'changes', upserts, removals, ...extra });
        }
      }, fail);

      const childWatch = { release: (): void => undefined };
      const existsWatch = { release: (): void => undefined };
      let interruption: { unsubscribe(): void } | undefined;
      sessions.current().then(
        (s) => {
          if (subscriber.closed) return;
          session = s;
          interruption = s.interrupted$.subscribe((e) => fail(e));
          if (!s.connected || !s.alive) return fail(new Error('the ZooKeeper connection dropped'));
          childWatch.release = s.watcher('child', path, () => work.poke()).release;
          existsWatch.release = s.watcher('exists', path, () => work.poke()).release;
          work.poke();
        },
        (e) => fail(e),
      );
      return () => {
        work.stop();
        interruption?.unsubscribe();
        childWatch.release();
        existsWatch.release();
        for (const r of releases.values()) r();
        releases.clear();
      };
    });

/**
 * The service-name source: the children of `<base>` that have at least one
 * child, re-listed on every notification of the base or of a service node.
 */
export const zookeeperServices =
  (sessions: SessionHolder, base: string, registry: string) =>
  (_resume: unknown): Observable<ServiceListEvent<unknown>> =>
    new Observable<ServiceListEvent<unknown>>((subscriber) => {
      const context: ErrorContext = { registry };
      const releases = new Map<string, () => void>();
      let session: ZkSession | undefined;
      const fail = (e: unknown): void => subscriber.error(toZkError(e, context));
      const watchOf = (s: ZkSession, p: string): void => {
        if (!releases.has(`child${p}`))
          releases.set(`child${p}`, s.watcher('child', p, () => work.poke()).release);
        if (!releases.has(`exists${p}`))
          releases.set(`exists${p}`, s.watcher('exists', p, () => work.poke()).release);
      };
      const work = rounds(async () => {
        const s = session!;
        watchOf(s, base);
        const names = (await listChildren(s, base)) ?? [];
        const counts = await Promise.all(
          names.map(async (n) => {
            watchOf(s, `${base}/${n}`);
            return ((await listChildren(s, `${base}/${n}`)) ?? []).length;
          }),
        );
        if (!subscriber.closed)
          subscriber.next({ names: names.filter((_, i) => counts[i]! > 0).sort() });
      }, fail);
      let interruption: { unsubscribe(): void } | undefined;
      sessions.current().then(
        (s) => {
          if (subscriber.closed) return;
          session = s;
          interruption = s.interrupted$.subscribe((e) => fail(e));
          work.poke();
        },
        (e) => fail(e),
      );
      return () => {
        work.stop();
        interruption?.unsubscribe();
        for (const r of releases.values()) r();
        releases.clear();
      };
    });
