/**
 * The Consul catalog's rules for which services to read, against a small
 * scripted model of Consul's indexes (one raft index per write; blocking
 * queries answer when their table's index passes theirs), on fake timers:
 * a checked change is read at once; a change without checks is found by
 * the full pass of an unexplained move; one hidden behind a checked write
 * in the same answer is found by a full pass within `waitMs`.
 */
import { asyncScheduler, type Subscription } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { consulCatalog } from '../../../../src/backends/consul/catalog.js';
import type {
  ConsulAnswer,
  ConsulClient,
  ConsulConfig,
  ConsulRequest,
} from '../../../../src/backends/consul/client.js';
import { resolveConsulOptions } from '../../../../src/backends/consul/options.js';
import type { CatalogEvent } from '../../../../src/core/catalog.js';
import { parseRegistryUrl } from '../../../../src/registry-url.js';

interface Svc {
  readonly id: string;
  readonly name: string;
  readonly checked: boolean;
  readonly index: number;
}

/** Consul's catalog as far as the catalog watch sees it. */
class Model implements ConsulClient {
  raft = 10;
  servicesIndex = 10;
  checksIndex = 10;
  readonly services = new Map<string, Svc>();
  readonly reads: string[] = [];
  #waiting: Array<() => void> = [];

  write(id: string, name: string, checked: boolean): void {
    const index = ++this.raft;
    this.services.set(id, { id, name, checked, index });
    this.servicesIndex = index;
    if (checked) this.checksIndex = index;
    this.#wake();
  }

  remove(id: string): void {
    const s = this.services.get(id)!;
    this.services.delete(id);
    const index = ++this.raft;
    this.servicesIndex = index;
    if (s.checked) this.checksIndex = index;
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiting;
    this.#waiting = [];
    // answered after the writes of this tick: they coalesce
    queueMicrotask(() => {
      for (const f of w) f();
    });
  }

  async request(req: ConsulRequest): Promise<ConsulAnswer> {
    const sent = Number(req.searchParams?.find(([k]) => k === 'index')?.[1] ?? 0);
    const table = req.path === '/v1/health/state/any' ? 'checksIndex' : 'servicesIndex';
    if (req.path === '/v1/health/state/any' || req.path === '/v1/catalog/services') {
      while (sent > 0 && this[table] <= sent) {
        await new Promise<void>((resolve, reject) => {
          this.#waiting.push(resolve);
          req.signal?.addEventListener('abort', () => reject(req.signal!.reason), { once: true });
        });
      }
    }
    const all = [...this.services.values()];
    const answer = (body: unknown, index: number): ConsulAnswer => ({
      status: 200,
      text: JSON.stringify(body),
      index,
      filteredByAcls: false,
      aclDefaultPolicy: undefined,
    });
    if (req.path === '/v1/catalog/services') {
      return answer(Object.fromEntries(all.map((s) => [s.name, []])), this.servicesIndex);
    }
    if (req.path === '/v1/health/state/any') {
      const checks = all
        .filter((s) => s.checked)
        .map((s) => ({
          Node: 'n1',
          CheckID: `service:${s.id}`,
          ServiceName: s.name,
          ModifyIndex: s.index,
          CreateIndex: s.index,
        }));
      return answer(checks, this.checksIndex);
    }
    const name = decodeURIComponent(req.path.slice('/v1/health/service/'.length));
    this.reads.push(name);
    const mine = all.filter((s) => s.name === name);
    return answer(
      mine.map((s) => ({
        Node: { Node: 'n1', Address: '127.0.0.1' },
        Service: { ID: s.id, Service: s.name, Port: 8080, Address: '' },
        Checks: [],
      })),
      Math.max(1, ...mine.map((s) => s.index)),
    );
  }

  close(): void {}
}

const config = parseRegistryUrl('consul://127.0.0.1:8500') as ConsulConfig;
const WAIT_MS = 10_000;

let model: Model;
let sub: Subscription | undefined;
let ids: Map<string, Set<string>>;

const watch = (): void => {
  const source = consulCatalog({
    client: model,
    config,
    options: resolveConsulOptions({ waitMs: WAIT_MS }, config.url, undefined),
    scheduler: asyncScheduler,
  });
  sub = source(undefined).subscribe((e: CatalogEvent) => {
    if (e.type === 'snapshot') {
      ids = new Map();
      for (const i of e.instances) ids.set(i.service, (ids.get(i.service) ?? new Set()).add(i.id));
    } else if (e.type === 'changes') {
      for (const i of e.upserts) ids.set(i.service, (ids.get(i.service) ?? new Set()).add(i.id));
      for (const r of e.removals) ids.get(r.service)?.delete(r.id);
    }
  });
};
const has = (service: string, id: string): boolean => ids?.get(service)?.has(id) === true;

beforeEach(() => {
  vi.useFakeTimers();
  model = new Model();
  model.write('a0', 'a', true);
  model.write('b0', 'b', true);
});
afterEach(() => {
  sub?.unsubscribe();
  vi.useRealTimers();
});

describe('consulCatalog: which services it reads', () => {
  it('reads just the service whose check appeared', async () => {
    watch();
    await vi.advanceTimersByTimeAsync(100);
    expect(has('a', 'a0') && has('b', 'b0')).toBe(true);
    model.reads.length = 0;
    model.write('a1', 'a', true);
    await vi.advanceTimersByTimeAsync(100);
    expect(has('a', 'a1')).toBe(true);
    expect(model.reads).toEqual(['a']);
  });

  it('finds an instance without checks by a full pass once nothing explains the move', async () => {
    watch();
    await vi.advanceTimersByTimeAsync(100);
    model.reads.length = 0;
    model.write('b1', 'b', false);
    await vi.advanceTimersByTimeAsync(100);
    expect(has('b', 'b1')).toBe(false); // waiting for a check to explain it
    await vi.advanceTimersByTimeAsync(1000);
    expect(has('b', 'b1')).toBe(true);
    expect([...model.reads].sort()).toEqual(['a', 'b']);
  });

  it('finds one hidden behind a checked write in the same answer, within waitMs', async () => {
    watch();
    await vi.advanceTimersByTimeAsync(100);
    model.write('b1', 'b', false); // no check: moves only /v1/catalog/services
    model.write('a1', 'a', true); // same tick: one answer at a1's index, explained by its check
    await vi.advanceTimersByTimeAsync(1000);
    expect(has('a', 'a1')).toBe(true);
    await vi.advanceTimersByTimeAsync(WAIT_MS);
    expect(has('b', 'b1')).toBe(true);
  });
});
