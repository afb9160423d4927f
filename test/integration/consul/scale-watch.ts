/**
 * Shared plumbing of the Consul scale tests and bench: many services
 * registered through the agent API, and many `instances$()` watches whose
 * latest sets are kept to be checked together.
 */
import type { Subscription } from 'rxjs';
import type { Discovery } from '../../../src/core/discovery.js';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import type { ConsulAgent } from '../../servers/consul.js';
import { registerRaw } from './harness.js';

/** The name of scale service `i`. */
export const scaleService = (prefix: string, i: number): string =>
  `${prefix}-${String(i).padStart(5, '0')}`;

/** Runs `work` over `items`, `concurrency` at a time. */
export const eachLimited = async <T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<void>,
): Promise<void> => {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
};

/**
 * Registers one instance (`<service>-a`) for each of `count` services,
 * every other one with a passing TTL check (the others have none: both
 * kinds of registration are watched).
 */
export const registerServices = async (
  agent: ConsulAgent,
  prefix: string,
  count: number,
): Promise<string[]> => {
  const names = Array.from({ length: count }, (_, i) => scaleService(prefix, i));
  await eachLimited(names, 8, (service) =>
    registerRaw(agent, {
      id: `${service}-a`,
      service,
      host: '127.0.0.1',
      port: 20_000,
      ...(Number(service.slice(-1)) % 2 === 0 ? { check: { TTL: '10m', Status: 'passing' } } : {}),
    }),
  );
  return names;
};

/** Watches of many services, their latest sets kept. */
export class Watches {
  readonly latest = new Map<string, InstanceSet>();
  readonly #subs: Subscription[] = [];

  constructor(discovery: Discovery, names: readonly string[]) {
    for (const name of names) {
      this.#subs.push(discovery.instances$(name).subscribe((s) => this.latest.set(name, s)));
    }
  }

  /** The services whose latest set is not fresh with exactly `ids(name)`. */
  wrong(names: readonly string[], ids: (name: string) => string): string[] {
    return names.filter((n) => {
      const s = this.latest.get(n);
      return s === undefined || s.stale || s.instances.map((i) => i.id).join(',') !== ids(n);
    });
  }

  /** Unsubscribes every watch. */
  close(): void {
    for (const s of this.#subs) s.unsubscribe();
  }
}
