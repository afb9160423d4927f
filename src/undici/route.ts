/**
 * One service behind the dispatcher: its live balancer and one keep-alive
 * pool per instance. A pool is made on the first request to its instance
 * and closed (gracefully: its in-flight requests finish first) once the
 * instance has left the registry's set or changed its address.
 *
 * @module
 */
import { type Observable, tap } from 'rxjs';
import { Pool } from 'undici';
import type { Discovery } from '../core/discovery.js';
import type { Instance } from '../core/instance.js';
import type { InstanceSet } from '../core/instance-set.js';
import { formatHostPort } from '../core/url.js';
import type { Balancer } from '../operators/balancers/balancer.js';
import { type LiveBalancer, live } from '../operators/live.js';

/** One instance's pool, and the address it was made for. */
interface PoolEntry {
  readonly pool: Pool;
  readonly instance: Instance;
}

const originOf = (instance: Instance, secure: boolean): string =>
  `${secure || instance.secure ? 'https' : 'http'}://${formatHostPort(instance.host, instance.port)}`;

const sameAddress = (a: Instance, b: Instance): boolean =>
  a.host === b.host && a.port === b.port && a.secure === b.secure;

/** A service's balancer and pools. */
export class Route {
  readonly service: string;
  readonly registry: string;
  readonly balancer: LiveBalancer;
  readonly #pools = new Map<string, PoolEntry>();
  readonly #poolOptions: Pool.Options;
  #closed = false;

  constructor(
    discovery: Discovery,
    service: string,
    balancer: (instances$: Observable<InstanceSet>, service: string) => Observable<Balancer>,
    poolOptions: Pool.Options,
  ) {
    this.service = service;
    this.registry = discovery.registry;
    this.#poolOptions = poolOptions;
    // Pools are pruned against the registry's set (not the filtered one:
    // an ejected or DOWN instance keeps its pool for when it comes back).
    const instances$ = discovery.instances$(service).pipe(tap((set) => this.#prune(set)));
    this.balancer = live(balancer(instances$, service));
  }

  /** The pool of `instance` (made on first use); `secure` when the request asked for https. */
  pool(instance: Instance, secure: boolean): Pool {
    const origin = originOf(instance, secure);
    const key = `${instance.id}\u0000${origin}`;
    const entry = this.#pools.get(key);
    if (entry !== undefined) return entry.pool;
    const pool = new Pool(origin, this.#poolOptions);
    if (!this.#closed) this.#pools.set(key, { pool, instance });
    else void pool.close().catch(() => undefined);
    return pool;
  }

  /** How many instance pools are open (for monitoring and tests). */
  get pools(): number {
    return this.#pools.size;
  }

  #prune(set: InstanceSet): void {
    for (const [key, entry] of this.#pools) {
      const now = set.get(entry.instance.id);
      if (now !== undefined && sameAddress(now, entry.instance)) continue;
      this.#pools.delete(key);
      // Graceful: the requests already on it finish, then its sockets close.
      entry.pool.close().catch(() => undefined);
    }
  }

  /** Stops the balancer and closes (or destroys) every pool. */
  async close(destroy: boolean): Promise<void> {
    this.#closed = true;
    this.balancer.close();
    const pools = [...this.#pools.values()].map((e) => e.pool);
    this.#pools.clear();
    await Promise.all(pools.map((p) => (destroy ? p.destroy() : p.close()).catch(() => undefined)));
  }
}
