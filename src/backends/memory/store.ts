import { asyncScheduler, type SchedulerLike, type Subscription } from 'rxjs';
import {
  brandError,
  ConfigError,
  type ErrorContext,
  errorGuard,
  RegistryUnavailableError,
  RxdiscoError,
} from '../../core/errors.js';
import { durationOption } from '../../core/options.js';

/** One stored value and the revision that last wrote it. */
export interface MemoryEntry {
  readonly id: string;
  /** The raw value; decoded by readers, so malformed values can be stored. */
  readonly value: unknown;
  readonly modRevision: number;
  readonly lease: number | undefined;
}

/** One change in the store's history. */
export interface MemoryChange {
  readonly revision: number;
  readonly service: string;
  readonly id: string;
  /** The new value, or `undefined` for a deletion. */
  readonly value: unknown;
  readonly deleted: boolean;
}

/** What a watch of the store receives. */
export interface MemoryWatcher {
  change(change: MemoryChange): void;
  fail(error: RegistryUnavailableError): void;
}

/**
 * Thrown by {@link MemoryRegistry.watch} when the revision to watch from was
 * compacted, as etcd answers. Retryable: a watch reopened without that
 * revision reads the whole set again (the memory source does so at once).
 */
export class CompactedError extends RxdiscoError {
  static {
    brandError(CompactedError, 'CompactedError');
  }
  override readonly name: string = 'CompactedError';

  /**
   * @param compactRevision - revisions up to this one are forgotten.
   * @param fromRevision - the revision the watch asked for.
   */
  constructor(
    readonly compactRevision: number,
    fromRevision: number,
    context: ErrorContext = {},
  ) {
    super(
      `${context.registry === undefined ? '' : `registry ${context.registry}: `}revision ${fromRevision} was compacted (history kept after ${compactRevision}); watch from a read of the whole set`,
      true,
      context,
    );
  }
}

/** True when `e` is a {@link CompactedError} (of any copy of rxdisco). */
export const isCompactedError = errorGuard<CompactedError>('CompactedError');

interface Lease {
  readonly id: number;
  readonly ttlMs: number;
  readonly keys: Set<string>;
  expiry: Subscription;
}

const HISTORY_LIMIT = 1000;
const keyOf = (service: string, id: string): string => `${service}\u0000${id}`;

/**
 * An in-process registry with the semantics of a real one: a revision per
 * write, a bounded history that watchers resume from (compacted like etcd),
 * TTL leases that delete their keys when not kept alive, and an outage
 * switch for tests. Shared by every `memory://` (or `memory://name`)
 * discovery of the process; get it with {@link memoryRegistry}.
 */
export class MemoryRegistry {
  #revision = 0;
  #compacted = 0;
  #available = true;
  #nextLease = 1;
  readonly #services = new Map<string, Map<string, MemoryEntry>>();
  readonly #history: MemoryChange[] = [];
  readonly #leases = new Map<number, Lease>();
  readonly #watchers = new Map<string | null, Set<MemoryWatcher>>();

  /**
   * @param name - the registry name (`memory://name`), for messages.
   * @param scheduler - drives lease expiry (a TestScheduler in tests).
   */
  constructor(
    readonly name = '',
    private readonly scheduler: SchedulerLike = asyncScheduler,
  ) {}

  /** The revision of the last write. */
  get revision(): number {
    return this.#revision;
  }

  /** Revisions up to this one can no longer be watched from. */
  get compactedRevision(): number {
    return this.#compacted;
  }

  /** False while an outage is simulated. */
  get available(): boolean {
    return this.#available;
  }

  /**
   * Simulates an outage (`false`) or ends it (`true`). During an outage every
   * call throws a retryable {@link RegistryUnavailableError} and open
   * watches fail; leases keep ticking, as in a partition.
   */
  setAvailable(available: boolean): void {
    this.#available = available;
    if (available) return;
    const error = this.#unavailable();
    for (const set of [...this.#watchers.values()]) for (const w of [...set]) w.fail(error);
    this.#watchers.clear();
  }

  #unavailable(): RegistryUnavailableError {
    return new RegistryUnavailableError('the in-memory registry is in a simulated outage', {
      registry: `memory://${this.name}`,
    });
  }

  #check(): void {
    if (!this.#available) throw this.#unavailable();
  }

  /** Every entry of `service`, with the revision they were read at. */
  read(service: string): { readonly revision: number; readonly entries: readonly MemoryEntry[] } {
    this.#check();
    return {
      revision: this.#revision,
      entries: [...(this.#services.get(service)?.values() ?? [])],
    };
  }

  /** Every entry of every service, with the revision they were read at. */
  readAll(): {
    readonly revision: number;
    readonly services: ReadonlyMap<string, readonly MemoryEntry[]>;
  } {
    this.#check();
    const services = new Map<string, readonly MemoryEntry[]>();
    for (const [name, entries] of this.#services) services.set(name, [...entries.values()]);
    return { revision: this.#revision, services };
  }

  /** The names of services with at least one entry, and the revision. */
  serviceNames(): { readonly revision: number; readonly names: readonly string[] } {
    this.#check();
    return { revision: this.#revision, names: [...this.#services.keys()] };
  }

  /**
   * Writes a raw value (any JSON-like value; malformed ones are allowed, the
   * readers skip them). Attaching a lease makes the key go when it expires.
   */
  put(service: string, id: string, value: unknown, lease?: number): number {
    this.#check();
    if (lease !== undefined && !this.#leases.has(lease)) {
      throw new ConfigError('lease', `${lease} is not granted`, 'grant a lease first', {
        registry: `memory://${this.name}`,
        service,
      });
    }
    let entries = this.#services.get(service);
    if (entries === undefined) {
      entries = new Map();
      this.#services.set(service, entries);
    }
    const old = entries.get(id);
    if (old?.lease !== undefined) this.#leases.get(old.lease)?.keys.delete(keyOf(service, id));
    const revision = ++this.#revision;
    entries.set(id, { id, value, modRevision: revision, lease });
    if (lease !== undefined) this.#leases.get(lease)!.keys.add(keyOf(service, id));
    this.#record({ revision, service, id, value, deleted: false });
    return revision;
  }

  /** Deletes one entry; true when it existed. */
  delete(service: string, id: string): boolean {
    this.#check();
    return this.#remove(service, id);
  }

  #remove(service: string, id: string): boolean {
    const entries = this.#services.get(service);
    const old = entries?.get(id);
    if (entries === undefined || old === undefined) return false;
    entries.delete(id);
    if (entries.size === 0) this.#services.delete(service);
    if (old.lease !== undefined) this.#leases.get(old.lease)?.keys.delete(keyOf(service, id));
    this.#record({ revision: ++this.#revision, service, id, value: undefined, deleted: true });
    return true;
  }

  #record(change: MemoryChange): void {
    this.#history.push(change);
    if (this.#history.length > HISTORY_LIMIT) {
      this.#compacted = this.#history.shift()!.revision;
    }
    for (const w of [...(this.#watchers.get(change.service) ?? [])]) w.change(change);
    for (const w of [...(this.#watchers.get(null) ?? [])]) w.change(change);
  }

  /**
   * Forgets the history up to `revision` (default: all of it), like etcd's
   * compaction: watchers can no longer resume from before it.
   */
  compact(revision = this.#revision): void {
    this.#compacted = Math.max(this.#compacted, Math.min(revision, this.#revision));
    while (this.#history.length > 0 && this.#history[0]!.revision <= this.#compacted)
      this.#history.shift();
  }

  /**
   * Watches `service` (or every service, with `null`) from `fromRevision`:
   * replays the retained changes since then, then follows live.
   *
   * @throws {CompactedError} when `fromRevision` was compacted.
   * @returns a function that stops the watch.
   */
  watch(service: string | null, fromRevision: number, watcher: MemoryWatcher): () => void {
    this.#check();
    if (fromRevision <= this.#compacted) {
      throw new CompactedError(this.#compacted, fromRevision, {
        registry: `memory://${this.name}`,
      });
    }
    for (const c of this.#history) {
      if (c.revision >= fromRevision && (service === null || c.service === service))
        watcher.change(c);
    }
    let set = this.#watchers.get(service);
    if (set === undefined) {
      set = new Set();
      this.#watchers.set(service, set);
    }
    set.add(watcher);
    return () => {
      const current = this.#watchers.get(service);
      current?.delete(watcher);
      if (current?.size === 0) this.#watchers.delete(service);
    };
  }

  /**
   * Grants a lease of `ttlMs` milliseconds; keys attached to it go when it expires.
   *
   * @throws {ConfigError} when `ttlMs` is not a finite number of ms > 0.
   */
  grant(ttlMs: number): number {
    this.#check();
    durationOption(
      'ttlMs',
      ttlMs,
      ttlMs,
      { above: 0, fix: 'pass the lease TTL in milliseconds' },
      { registry: `memory://${this.name}` },
    );
    const id = this.#nextLease++;
    const lease: Lease = { id, ttlMs, keys: new Set(), expiry: this.#expireIn(id, ttlMs) };
    this.#leases.set(id, lease);
    return id;
  }

  #expireIn(id: number, ms: number): Subscription {
    return this.scheduler.schedule(() => this.#expire(id), ms);
  }

  #expire(id: number): void {
    const lease = this.#leases.get(id);
    if (lease === undefined) return;
    this.#leases.delete(id);
    lease.expiry.unsubscribe();
    for (const key of [...lease.keys]) {
      const [service, entryId] = key.split('\u0000') as [string, string];
      this.#remove(service, entryId);
    }
  }

  /** Restarts the lease's TTL; false when the lease is unknown (expired or revoked). */
  keepAlive(id: number): boolean {
    this.#check();
    const lease = this.#leases.get(id);
    if (lease === undefined) return false;
    lease.expiry.unsubscribe();
    lease.expiry = this.#expireIn(id, lease.ttlMs);
    return true;
  }

  /** Revokes a lease now, deleting its keys; false when it was unknown. */
  revoke(id: number): boolean {
    this.#check();
    if (!this.#leases.has(id)) return false;
    this.#expire(id);
    return true;
  }

  /** Ids of the leases alive now. */
  leases(): readonly number[] {
    return [...this.#leases.keys()];
  }

  /** Removes everything (entries, leases, history) and ends any outage. */
  reset(): void {
    for (const lease of this.#leases.values()) lease.expiry.unsubscribe();
    this.#leases.clear();
    this.#services.clear();
    this.#history.length = 0;
    this.#compacted = this.#revision;
    this.#available = true;
  }
}

const registries = new Map<string, MemoryRegistry>();

/**
 * The process-wide in-memory registry named `name` (`memory://name`; the
 * default `memory://` is `''`), created on first use.
 *
 * @example
 * ```ts
 * memoryRegistry().setAvailable(false); // simulate an outage in a test
 * ```
 */
export const memoryRegistry = (name = ''): MemoryRegistry => {
  let r = registries.get(name);
  if (r === undefined) {
    r = new MemoryRegistry(name);
    registries.set(name, r);
  }
  return r;
};
