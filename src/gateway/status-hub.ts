/**
 * The status page's event stream, shared by every client: one subscription
 * to the catalog and one counters tick while at least one client listens,
 * each frame serialized once. A client joins with the full state, then
 * gets what changed: the services a catalog names as changed, the counters
 * that moved since the last tick. The counters kept are those of the
 * instances in the current catalog only.
 *
 * @module
 */
import { type SchedulerLike, Subscription, timer } from 'rxjs';
import type { Catalog } from '../core/catalog.js';
import type { InstanceSet } from '../core/instance-set.js';
import type { StatusSource } from './status-source.js';
import {
  catalogStaleness,
  readStats,
  type StatsTuple,
  type StatusService,
  type StatusState,
  sameStats,
  serviceState,
  statusState,
} from './status-state.js';

/** One listener of the stream (an open `text/event-stream` response). */
export interface StatusClient {
  /** Writes one frame (`event: ...\ndata: ...\n\n`, or a comment). */
  send(frame: string): void;
  /** The stream is over (the catalog failed or completed): end the response. */
  end(): void;
}

/** The timers of a {@link StatusHub}. */
export interface StatusHubTiming {
  /** How often the counters are compared. */
  readonly statsIntervalMs: number;
  /** How often a comment goes to every client. */
  readonly heartbeatMs: number;
  /** Drives both. */
  readonly scheduler: SchedulerLike;
}

/** One server-sent event frame. */
export const sseFrame = (event: string, data: unknown): string =>
  `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

const HEARTBEAT = ': heartbeat\n\n';

/** The shared event stream of one status page. */
export class StatusHub {
  readonly #clients = new Set<StatusClient>();
  #subscription: Subscription | undefined;
  #catalog: Catalog | undefined;
  #closed = false;
  /** The counters last sent, per service then instance id: the instances of #catalog only. */
  readonly #sent = new Map<string, Map<string, StatsTuple>>();

  constructor(
    private readonly source: StatusSource,
    private readonly timing: StatusHubTiming,
  ) {}

  /** Number of clients listening. */
  get clients(): number {
    return this.#clients.size;
  }

  /** The state as last sent, or undefined before the first catalog or without clients. */
  current(): StatusState | undefined {
    const c = this.#catalog;
    return c === undefined
      ? undefined
      : statusState(
          this.source.registry,
          c,
          (service, id) => this.#sent.get(service)?.get(id) ?? readStats(this.source, service, id),
        );
  }

  /** Adds a client; it gets the full state now (or with the first catalog). Returns its leave. */
  join(client: StatusClient): () => void {
    if (this.#closed) {
      client.end();
      return () => undefined;
    }
    this.#clients.add(client);
    if (this.#subscription === undefined) this.#start();
    else {
      const state = this.current();
      if (state !== undefined) client.send(sseFrame('state', state));
    }
    return () => {
      if (this.#clients.delete(client) && this.#clients.size === 0) this.#stop();
    };
  }

  /** Ends every client's stream and releases the catalog and the timers; a later join is ended at once. */
  close(): void {
    this.#closed = true;
    this.#finish(undefined);
  }

  #start(): void {
    const { statsIntervalMs, heartbeatMs, scheduler } = this.timing;
    const sub = new Subscription();
    this.#subscription = sub;
    sub.add(timer(statsIntervalMs, statsIntervalMs, scheduler).subscribe(() => this.#tick()));
    sub.add(timer(heartbeatMs, heartbeatMs, scheduler).subscribe(() => this.#broadcast(HEARTBEAT)));
    // Added last: a catalog that fails at once stops `sub` before this returns.
    sub.add(
      this.source.catalog$.subscribe({
        next: (c) => this.#onCatalog(c),
        error: (e: unknown) => this.#finish(e),
        complete: () => this.#finish(undefined),
      }),
    );
  }

  #stop(): void {
    const sub = this.#subscription;
    this.#subscription = undefined;
    this.#catalog = undefined;
    this.#sent.clear();
    sub?.unsubscribe();
  }

  #finish(error: unknown): void {
    const clients = [...this.#clients];
    this.#clients.clear();
    this.#stop();
    const frame =
      error === undefined
        ? undefined
        : sseFrame('failure', { error: error instanceof Error ? error.message : String(error) });
    for (const c of clients) {
      if (frame !== undefined) c.send(frame);
      c.end();
    }
  }

  #broadcast(frame: string): void {
    for (const c of [...this.#clients]) c.send(frame);
  }

  /** The service's entry, recording its counters as sent. */
  #service(name: string, set: InstanceSet): StatusService {
    const row = new Map<string, StatsTuple>();
    this.#sent.set(name, row);
    return serviceState(name, set, (id) => {
      const s = readStats(this.source, name, id);
      row.set(id, s);
      return s;
    });
  }

  #onCatalog(catalog: Catalog): void {
    const first = this.#catalog === undefined;
    this.#catalog = catalog;
    if (first) {
      this.#sent.clear();
      const services: StatusService[] = [];
      for (const [name, set] of catalog.entries()) services.push(this.#service(name, set));
      this.#broadcast(
        sseFrame('state', {
          registry: this.source.registry,
          ...catalogStaleness(catalog),
          services,
        }),
      );
      return;
    }
    const services: StatusService[] = [];
    const removed: string[] = [];
    for (const name of catalog.changed) {
      const set = catalog.get(name);
      if (set === undefined) {
        this.#sent.delete(name);
        removed.push(name);
      } else {
        services.push(this.#service(name, set));
      }
    }
    this.#broadcast(sseFrame('catalog', { ...catalogStaleness(catalog), services, removed }));
  }

  #tick(): void {
    const changes: (string | number | boolean)[][] = [];
    for (const [service, row] of this.#sent) {
      for (const [id, last] of row) {
        const now = readStats(this.source, service, id);
        if (sameStats(now, last)) continue;
        row.set(id, now);
        changes.push([service, id, ...now]);
      }
    }
    if (changes.length > 0) this.#broadcast(sseFrame('stats', { changes }));
  }
}
