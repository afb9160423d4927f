/**
 * Consul's registry-wide watch (`Backend.catalog()`): every service with
 * the instances `instances$(service)` would show (passing only, the URL's
 * datacenter, the `consistency` option), from two blocking queries and
 * bounded fetches, whatever the number of services:
 *
 * - `/v1/health/state/any` (every check, with its `ServiceName` and
 *   `ModifyIndex`) says which services' checks changed: a check added,
 *   modified or gone dirties its service; a node check (`serfHealth`)
 *   dirties every service;
 * - `/v1/catalog/services` (names and tags) moves its `X-Consul-Index` on
 *   every registration and deregistration: a name added, gone or with new
 *   tags dirties that service;
 * - each dirty service is read once with a non-blocking
 *   `/v1/health/service/<name>`, as many at a time as the connections
 *   kept from blocking queries (16 of the default 64), and only its
 *   difference is emitted.
 *
 * A move of `/v1/catalog/services` that nothing explains within
 * `EXPLAIN_MS` (no check and no service answer carries its index: an
 * instance without checks was added, changed or removed) re-reads every
 * service: changes to instances without checks cost a full pass, N
 * requests. So does, at most once per `waitMs`, an answer whose index is
 * explained but that spans writes that are not (a check-less change may
 * hide behind a checked one). A full pass also runs every `RESCAN_WAITS` ×
 * `waitMs` (10 minutes by default) as anti-entropy, for what neither index
 * tells (a node's address changed). Services a check or the names marked
 * are read before those of a pass.
 *
 * Every session starts with a snapshot (Consul answers whole; nothing is
 * resumed); a fault of any request ends the session (the core retries,
 * the catalog stale meanwhile).
 *
 * @module
 */
import { setMaxListeners } from 'node:events';
import { Observable, type SchedulerLike, type Subscription, timer } from 'rxjs';
import type { CatalogEvent, CatalogRemoval, CatalogSource } from '../../core/catalog.js';
import type { DecodeError } from '../../core/errors.js';
import type { Instance } from '../../core/instance.js';
import { type BlockingRead, type BlockingTuning, blockingQuery } from './blocking.js';
import type { ConsulAnswer } from './client.js';
import {
  decodeCatalogServiceTags,
  decodeHealthSliced,
  decodeStateChecks,
  type RegistryCheck,
} from './codecs.js';
import { isAbortError, missingTokenError } from './errors.js';
import {
  anonymousMayRead,
  blockingParams,
  catalogParams,
  healthQuery,
  type SourceDeps,
} from './source.js';

/** Where a Consul catalog session stands: the indexes of its two blocking queries. */
export interface ConsulCatalogCursor {
  /** `X-Consul-Index` of `/v1/catalog/services`. */
  readonly services: number;
  /** `X-Consul-Index` of `/v1/health/state/any`. */
  readonly checks: number;
}

/** A full pass runs every this many `waitMs`. */
export const RESCAN_WAITS = 10;

/**
 * Milliseconds a move of `/v1/catalog/services` waits for a check or a
 * service answer to explain it before a full pass (the check of a
 * registration is usually seen in a few ms: the same write moves both;
 * 500 ms leaves room for a loaded agent or process).
 */
export const EXPLAIN_MS = 500;

/**
 * The pacing of the catalog's two blocking queries: they carry the changes
 * of every service, so they may go faster than one service's watch (the
 * `queryRate`, `queryBurst` and `minQueryIntervalMs` options), up to 20
 * queries a second each, 4 at once, 20 ms apart; past that, changes are
 * coalesced into one answer (each costs a decode of every check).
 */
export const catalogPacing = (t: BlockingTuning): BlockingTuning => ({
  ...t,
  minIntervalMs: Math.min(t.minIntervalMs, 20),
  ratePerSecond: Math.max(t.ratePerSecond, 20),
  burst: Math.max(t.burst, 4),
});

/** What one service was when last read. */
interface Known {
  readonly instances: readonly Instance[];
  readonly fingerprint: string;
}

/** The catalog source of a Consul backend. */
export const consulCatalog =
  (deps: SourceDeps): CatalogSource<ConsulCatalogCursor> =>
  () =>
    new Observable<CatalogEvent<ConsulCatalogCursor>>((subscriber) => {
      const registry = deps.config.url;
      const context = { registry };
      const scheduler: SchedulerLike = deps.scheduler;
      const controller = new AbortController();
      const signal = controller.signal;
      // One signal for every read of the session (up to `concurrency` at once, each listening).
      setMaxListeners(0, signal);
      const health = healthQuery({}, deps, context);
      const base = catalogParams(deps);
      const cap = deps.options.connections;
      const pacing = catalogPacing(deps.options.blocking);
      const concurrency = Math.max(1, cap.max - cap.maxBlocking);

      const known = new Map<string, Known>();
      let tags: Map<string, string> | undefined;
      let checks: Map<string, RegistryCheck> | undefined;
      let servicesIndex = 0;
      let checksIndex = 0;
      /**
       * Services to read, in order: `queue` those a check or the names
       * marked, before `sweep`, those of a full pass (a change waits for no
       * pass); `reading` are being read, `again` were marked meanwhile.
       */
      const queue = new Set<string>();
      const sweep = new Set<string>();
      const reading = new Set<string>();
      const again = new Set<string>();
      /** Services still to read before the snapshot (undefined once it is out). */
      let initial: Set<string> | undefined;
      let initialSkipped: DecodeError[] = [];
      /** Moves of `/v1/catalog/services` not explained yet, and the indexes explained. */
      const unexplained = new Set<number>();
      const explained = new Set<number>();
      const subs: Subscription[] = [];
      let explainTimer: Subscription | undefined;
      let rescanTimer: Subscription | undefined;
      let passTimer: Subscription | undefined;
      let lastPass = Number.NEGATIVE_INFINITY;
      /** The problems of the last checks answer, reported once. */
      let checkProblems = '';
      let started = false;
      let stopped = false;

      const cursor = (): ConsulCatalogCursor => ({ services: servicesIndex, checks: checksIndex });
      const fail = (e: unknown): void => {
        if (stopped || isAbortError(e, signal)) return;
        stopped = true;
        subscriber.error(e);
      };

      const dirty = (name: string): void => {
        if (reading.has(name)) again.add(name);
        else {
          sweep.delete(name);
          queue.add(name);
        }
      };
      /** A full pass now, or when one `waitMs` has gone since the last one. */
      const passSoon = (): void => {
        if (passTimer !== undefined) return;
        const due = lastPass + deps.options.blocking.waitMs - scheduler.now();
        if (due <= 0) everything();
        else {
          passTimer = timer(due, scheduler).subscribe(() => {
            passTimer = undefined;
            everything();
          });
        }
      };
      const everything = (): void => {
        lastPass = scheduler.now();
        const mark = (name: string): void => {
          if (reading.has(name)) again.add(name);
          else if (!queue.has(name)) sweep.add(name);
        };
        for (const name of tags?.keys() ?? []) mark(name);
        for (const name of known.keys()) mark(name);
        pump();
      };

      const explain = (index: number | undefined): void => {
        if (index !== undefined && index > 0) explained.add(index);
      };
      /** Settles the moves a check or an answer explained; a full pass for the others. */
      const settle = (force: boolean): void => {
        for (const i of unexplained) if (explained.has(i)) unexplained.delete(i);
        const idle = queue.size === 0 && sweep.size === 0 && reading.size === 0;
        if (unexplained.size > 0 && (force || (idle && checksIndex >= Math.max(...unexplained)))) {
          unexplained.clear();
          everything();
        }
        if (unexplained.size === 0) {
          explainTimer?.unsubscribe();
          explainTimer = undefined;
          for (const i of explained) if (i <= servicesIndex) explained.delete(i);
        } else {
          explainTimer ??= timer(EXPLAIN_MS, scheduler).subscribe(() => {
            explainTimer = undefined;
            settle(true);
          });
        }
      };

      const read = async (name: string): Promise<void> => {
        const answer = await deps.client.request({
          method: 'GET',
          path: `/v1/health/service/${encodeURIComponent(name)}`,
          searchParams: health,
          signal,
          timeout: deps.options.blocking.requestTimeoutMs,
          context: { registry, service: name },
          kind: 'read',
          gzip: true,
        });
        const value = await decodeHealthSliced(answer.text, name, registry, scheduler, signal);
        if (stopped) return;
        explain(answer.index);
        const old = known.get(name);
        if (value.instances.length === 0) known.delete(name);
        else if (old?.fingerprint !== value.fingerprint) {
          known.set(name, { instances: value.instances, fingerprint: value.fingerprint });
        }
        if (initial !== undefined) {
          initialSkipped.push(...value.skipped);
          if (initial.delete(name) && initial.size === 0) snapshot();
          return;
        }
        if (old?.fingerprint === value.fingerprint) return;
        const ids = new Set(value.instances.map((i) => i.id));
        const removals: CatalogRemoval[] = [];
        for (const i of old?.instances ?? []) {
          if (!ids.has(i.id)) removals.push({ service: name, id: i.id });
        }
        if (value.instances.length + removals.length + value.skipped.length === 0) return;
        subscriber.next({
          type: 'changes',
          upserts: value.instances,
          removals,
          cursor: cursor(),
          ...(value.skipped.length > 0 ? { skipped: value.skipped } : {}),
        });
      };

      /** Reports checks that did not decode, once while they stay the same. */
      const reportChecks = (skipped: readonly DecodeError[]): void => {
        const said = skipped.map((e) => e.message).join('\n');
        if (said === checkProblems || stopped) return;
        checkProblems = said;
        if (skipped.length === 0) return;
        if (!started || initial !== undefined) initialSkipped.push(...skipped);
        else {
          subscriber.next({
            type: 'changes',
            upserts: [],
            removals: [],
            cursor: cursor(),
            skipped,
          });
        }
      };

      const snapshot = (): void => {
        initial = undefined;
        const instances: Instance[] = [];
        for (const k of known.values()) instances.push(...k.instances);
        const skipped = initialSkipped;
        initialSkipped = [];
        subscriber.next({
          type: 'snapshot',
          instances,
          cursor: cursor(),
          ...(skipped.length > 0 ? { skipped } : {}),
        });
      };

      function pump(): void {
        while (!stopped && reading.size < concurrency && queue.size + sweep.size > 0) {
          const from = queue.size > 0 ? queue : sweep;
          const name = from.values().next().value as string;
          from.delete(name);
          reading.add(name);
          read(name).then(() => {
            reading.delete(name);
            if (again.delete(name)) queue.add(name);
            pump();
            settle(false);
          }, fail);
        }
      }

      /** The first answers of both queries are in: read every service. */
      const start = (): void => {
        if (started || tags === undefined || checks === undefined) return;
        started = true;
        initial = new Set(tags.keys());
        if (initial.size === 0) snapshot();
        else everything();
        rescanTimer = timer(
          RESCAN_WAITS * deps.options.blocking.waitMs,
          RESCAN_WAITS * deps.options.blocking.waitMs,
          scheduler,
        ).subscribe(everything);
      };

      const onServices = (next: Map<string, string>, index: number): void => {
        const previous = tags;
        tags = next;
        const from = servicesIndex;
        servicesIndex = index;
        if (previous === undefined) {
          start();
          return;
        }
        for (const [name, t] of next) if (previous.get(name) !== t) dirty(name);
        for (const name of previous.keys()) if (!next.has(name)) dirty(name);
        pump();
        if (index === from) return;
        // Writes between the last answer and this one that nothing explains
        // may hide a change without checks: a full pass, at most once per wait.
        let known = 0;
        for (const i of explained) if (i > from && i < index) known++;
        if (index > from && known < index - from - 1) passSoon();
        unexplained.add(index);
        settle(false);
      };

      const onChecks = (next: RegistryCheck[], index: number): void => {
        const previous = checks;
        const map = new Map<string, RegistryCheck>();
        for (const c of next) map.set(c.key, c);
        checks = map;
        checksIndex = index;
        if (previous === undefined) {
          start();
          return;
        }
        let nodeCheck = false;
        for (const c of next) {
          const old = previous.get(c.key);
          if (old !== undefined && old.modifyIndex === c.modifyIndex) continue;
          explain(c.modifyIndex);
          explain(c.createIndex);
          if (c.service === '') nodeCheck = true;
          else dirty(c.service);
        }
        for (const [key, c] of previous) {
          if (map.has(key)) continue;
          explain(index);
          if (c.service === '') nodeCheck = true;
          else dirty(c.service);
        }
        if (nodeCheck) everything();
        else pump();
        settle(false);
      };

      /** One query of a registry-wide endpoint (gzipped: they are large). */
      const registryRead = (
        path: string,
        index: number,
        waitMs: number,
        sig: AbortSignal,
        timeout: number,
      ): Promise<ConsulAnswer> =>
        deps.client.request({
          method: 'GET',
          path,
          searchParams: [...base, ...blockingParams(index, waitMs)],
          signal: sig,
          timeout,
          context,
          kind: index > 0 ? 'blocking' : 'read',
          gzip: true,
        });
      // Every move of an index is news (an instance may have changed
      // without its tags): the index is the fingerprint.
      const readServices: BlockingRead<Map<string, string>> = async (index, ...rest) => {
        const answer = await registryRead('/v1/catalog/services', index, ...rest);
        const value = decodeCatalogServiceTags(answer.text, registry);
        // No token, ACLs enforced and nothing visible: as a watch of one
        // service, fail rather than show an empty catalog for ever.
        if (
          index === 0 &&
          deps.options.token === undefined &&
          answer.aclDefaultPolicy === 'deny' &&
          value.size === 0 &&
          (await anonymousMayRead(deps, '', rest[1], context)) === false
        ) {
          throw missingTokenError(undefined, context);
        }
        return { index: answer.index, value, fingerprint: String(answer.index) };
      };
      const readChecks: BlockingRead<RegistryCheck[]> = async (index, ...rest) => {
        const answer = await registryRead('/v1/health/state/any', index, ...rest);
        const value = decodeStateChecks(answer.text, registry);
        reportChecks(value.skipped);
        return { index: answer.index, value: value.checks, fingerprint: String(answer.index) };
      };

      subs.push(
        blockingQuery(readChecks, pacing, scheduler).subscribe({
          next: (r) => onChecks(r.value, r.index),
          error: fail,
        }),
        blockingQuery(readServices, pacing, scheduler).subscribe({
          next: (r) => onServices(r.value, r.index),
          error: fail,
        }),
      );
      return () => {
        stopped = true;
        controller.abort();
        explainTimer?.unsubscribe();
        rescanTimer?.unsubscribe();
        passTimer?.unsubscribe();
        for (const s of subs) s.unsubscribe();
      };
    });
