/**
 * The connection slots of one Consul backend: at most `max` requests in
 * flight to the agents at once, so at most `max` sockets (the keep-alive
 * pool only opens a socket when no idle one is free), whatever the number
 * of watches. Consul counts connections per client IP
 * (`limits.http_max_conns_per_client`, 200 by default) and answers 429 past
 * it; every blocking query holds its connection for up to `wait`.
 *
 * Three kinds of requests share the slots:
 * - `write` (registrations, renewals, deregistrations): served first;
 * - `read` (queries that do not block): served next; they return at once,
 *   so slots held by reads turn over in milliseconds;
 * - `blocking` (queries with an `index`): never more than `maxBlocking`
 *   at once, so `max - maxBlocking` slots always turn over quickly and a
 *   renewal never waits behind blocking queries that hold every
 *   connection for a minute.
 *
 * @module
 */

/** What a request is, for its slot. */
export type SlotKind = 'write' | 'read' | 'blocking';

/** A slot, held until released (once). */
export type Release = () => void;

/** The slots of one backend. */
export interface Slots {
  /**
   * Waits for a slot of `kind` (rejects with the signal's reason when it is
   * aborted first) and resolves with its release.
   */
  acquire(kind: SlotKind, signal?: AbortSignal): Promise<Release>;
  /** Requests in flight (holding a slot) now. */
  readonly inUse: number;
  /** Blocking queries in flight now. */
  readonly blockingInUse: number;
}

interface Waiter {
  readonly kind: SlotKind;
  readonly grant: (release: Release) => void;
}

const abortReason = (signal: AbortSignal): Error =>
  signal.reason instanceof Error
    ? signal.reason
    : new DOMException('The operation was aborted.', 'AbortError');

/**
 * Slots for `max` requests in flight, of which at most `maxBlocking`
 * blocking queries.
 *
 * @example
 * ```ts
 * const slots = connectionSlots(64, 48);
 * const release = await slots.acquire('blocking', signal);
 * try { await send(); } finally { release(); }
 * ```
 */
export const connectionSlots = (max: number, maxBlocking: number): Slots => {
  let inUse = 0;
  let blockingInUse = 0;
  const queues: Record<SlotKind, Waiter[]> = { write: [], read: [], blocking: [] };

  const release = (kind: SlotKind): Release => {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      inUse--;
      if (kind === 'blocking') blockingInUse--;
      pump();
    };
  };
  const take = (kind: SlotKind): Release => {
    inUse++;
    if (kind === 'blocking') blockingInUse++;
    return release(kind);
  };
  const next = (): Waiter | undefined =>
    queues.write.shift() ??
    queues.read.shift() ??
    (blockingInUse < maxBlocking ? queues.blocking.shift() : undefined);
  function pump(): void {
    while (inUse < max) {
      const w = next();
      if (w === undefined) return;
      w.grant(take(w.kind));
    }
  }
  const free = (kind: SlotKind): boolean =>
    inUse < max &&
    (kind !== 'blocking' || blockingInUse < maxBlocking) &&
    // Never overtake a waiter served before this kind.
    queues.write.length === 0 &&
    (kind === 'write' || queues.read.length === 0);

  return {
    acquire: (kind, signal) => {
      if (signal?.aborted) return Promise.reject(abortReason(signal));
      if (free(kind)) return Promise.resolve(take(kind));
      return new Promise<Release>((resolve, reject) => {
        const queue = queues[kind];
        const onAbort = (): void => {
          const at = queue.indexOf(waiter);
          if (at >= 0) queue.splice(at, 1);
          reject(abortReason(signal!));
        };
        const waiter: Waiter = {
          kind,
          grant: (r) => {
            signal?.removeEventListener('abort', onAbort);
            resolve(r);
          },
        };
        queue.push(waiter);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    get inUse() {
      return inUse;
    },
    get blockingInUse() {
      return blockingInUse;
    },
  };
};
