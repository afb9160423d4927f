/**
 * The backend-agnostic conformance suite: the stream semantics and the
 * registration lifecycle of docs/architecture.md, as tests. Every backend runs it against its real server through a
 * {@link Harness}; a behaviour is "supported" only when its test passes.
 */
import { filter, firstValueFrom, type Observable, take, timeout, toArray } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import type { Catalog } from '../../src/core/catalog.js';
import type { Discovery } from '../../src/core/discovery.js';
import { isConfigError, isDecodeError, type RxdiscoError } from '../../src/core/errors.js';
import type { Instance } from '../../src/core/instance.js';
import type { InstanceSet } from '../../src/core/instance-set.js';
import type { RegistrationEvent } from '../../src/core/registration.js';
import { eventually } from '../helpers/handles.js';

/** What a backend's test file provides to run the suite against its server. */
export interface Harness {
  /** A new client of the registry under test (short backoff and grace, for tests). */
  discovery(): Discovery;
  /** Writes an instance record behind rxdisco's back, as another stack would. */
  writeRaw(record: {
    id: string;
    service: string;
    host: string;
    port: number;
    metadata?: Record<string, string>;
  }): Promise<void>;
  /** Deletes an instance behind rxdisco's back. */
  deleteRaw(service: string, id: string): Promise<void>;
  /** Writes an entry under `service` that must not decode, whose key or id contains `id`. */
  writeMalformed(service: string, id: string): Promise<void>;
  /** Makes the registry forget every registration of `service` (lease revoked, agent restarted). */
  dropRegistrations(service: string): Promise<void>;
  /** Makes the registry unreachable. */
  outage(): Promise<void>;
  /** Makes it reachable again (same data). */
  recover(): Promise<void>;
  /** Registration TTL to use, in ms. */
  readonly ttlMs: number;
  /** Generous wait for one expected event, in ms. */
  readonly patience: number;
  /**
   * The id `writeRaw` gave `instance`, for a registry that makes its own ids
   * (DNS: `address:port`).
   * @default the instance's id
   */
  idOf?(instance: Instance): string;
}

/** What a backend can do beyond reading; the cases it cannot run are not registered. */
export interface Capabilities {
  /**
   * The registry is read-only (DNS): the registration cases give way to one
   * that checks `register()` is refused with a `ConfigError`.
   * @default false
   */
  readonly readOnly?: boolean;
  /**
   * `services$()` lists the registry's services (DNS cannot).
   * @default true
   */
  readonly listsServices?: boolean;
  /**
   * `catalog$()` watches the whole registry (the backend implements
   * `Backend.catalog`).
   * @default false
   */
  readonly catalog?: boolean;
  /**
   * The host the registration cases register (Kubernetes refuses loopback
   * addresses in EndpointSlices; nothing connects to it in those cases).
   * @default '127.0.0.1'
   */
  readonly registerHost?: string;
}

let serial = 0;
/** A service name unique to one test. */
const uniqueService = (): string => `conf-${process.pid}-${++serial}`;

const ids = (s: InstanceSet, h?: Pick<Harness, 'idOf'>): string =>
  s.instances
    .map((i) => h?.idOf?.(i) ?? i.id)
    .sort()
    .join(',');

/** The first value of `source$` that satisfies `predicate`, within `ms`. */
export const waitFor = <T>(
  source$: Observable<T>,
  predicate: (v: T) => boolean,
  ms: number,
  what: string,
): Promise<T> =>
  firstValueFrom(
    source$.pipe(
      filter(predicate),
      timeout({
        first: ms,
        with: () => {
          throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        },
      }),
    ),
  );

/** Runs the conformance suite for one backend. */
export const conformance = (
  backend: string,
  harness: () => Harness,
  capabilities: Capabilities = {},
): void => {
  const writable = capabilities.readOnly !== true;
  const registerHost = capabilities.registerHost ?? '127.0.0.1';
  // A case the backend cannot run is not registered at all (never a skipped test).
  const itIf = (run: boolean): typeof it =>
    run ? it : ((() => undefined) as unknown as typeof it);
  describe(`conformance: ${backend}`, () => {
    const opened: Discovery[] = [];
    const client = (): Discovery => {
      const d = harness().discovery();
      opened.push(d);
      return d;
    };
    afterAll(async () => {
      await Promise.all(opened.map((d) => d.close()));
    });

    if (!writable) {
      it('refuses to register, with a ConfigError naming the registry to register in', async () => {
        const d = client();
        const error = await firstValueFrom(
          d.register({ service: uniqueService(), host: '127.0.0.1', port: 18079 }),
        ).catch((e: unknown) => e);
        expect(isConfigError(error)).toBe(true);
        expect((error as Error).message).toMatch(/read-only/);
        expect((error as Error).message).toMatch(/register in .*:\/\//);
      });
    }

    itIf(writable)(
      'registers an instance, sees it with its fields, and sees it removed on unsubscribe',
      async () => {
        const h = harness();
        const d = client();
        const service = uniqueService();
        const set$ = d.instances$(service);
        const reg = d
          .register(
            { service, host: registerHost, port: 18080, id: 'a1', metadata: { version: '1.2.3' } },
            { ttlMs: h.ttlMs },
          )
          .subscribe();
        const seen = await waitFor(
          set$,
          (s) => s.size === 1,
          h.patience,
          'the registered instance',
        );
        expect(seen.stale).toBe(false);
        expect(seen.instances[0]).toMatchObject({
          id: 'a1',
          service,
          host: registerHost,
          port: 18080,
          status: 'UP',
          metadata: { version: '1.2.3' },
          registry: d.registry,
        });
        reg.unsubscribe();
        await d.settled();
        await waitFor(set$, (s) => s.size === 0, h.patience, 'the deregistered instance to go');
      },
    );

    it('sees instances that other writers add and remove', async () => {
      const h = harness();
      const d = client();
      const service = uniqueService();
      await h.writeRaw({ id: 'x1', service, host: '127.0.0.1', port: 18081 });
      const set$ = d.instances$(service);
      const first = await waitFor(set$, () => true, h.patience, 'the first set');
      expect(ids(first, h)).toBe('x1');
      await h.writeRaw({ id: 'x2', service, host: '127.0.0.1', port: 18082 });
      await waitFor(set$, (s) => ids(s, h) === 'x1,x2', h.patience, 'x2 to appear');
      await h.deleteRaw(service, 'x1');
      await waitFor(set$, (s) => ids(s, h) === 'x2', h.patience, 'x1 to go');
    });

    it('emits the full current set first to every subscriber, and shares one upstream watch', async () => {
      const h = harness();
      const d = client();
      const service = uniqueService();
      await h.writeRaw({ id: 's1', service, host: '127.0.0.1', port: 18083 });
      await h.writeRaw({ id: 's2', service, host: '127.0.0.1', port: 18084 });
      const a = await waitFor(d.instances$(service), () => true, h.patience, 'a first set');
      const b = await waitFor(d.instances$(service), () => true, h.patience, 'a second first set');
      expect(ids(a, h)).toBe('s1,s2');
      expect(b).toBe(a); // the same immutable set object: one upstream, replayed
    });

    it('is gapless and never emits two equal sets in a row under a burst of changes', async () => {
      const h = harness();
      const d = client();
      const service = uniqueService();
      const emissions: InstanceSet[] = [];
      const sub = d.instances$(service).subscribe((s) => emissions.push(s));
      await waitFor(d.instances$(service), () => true, h.patience, 'the first set');
      const expected = new Set<string>();
      for (let i = 0; i < 20; i++) {
        const id = `g${i % 7}`;
        if (expected.has(id) && i % 3 === 0) {
          await h.deleteRaw(service, id);
          expected.delete(id);
        } else {
          await h.writeRaw({ id, service, host: '127.0.0.1', port: 19000 + i });
          expected.add(id);
        }
      }
      const want = [...expected].sort().join(',');
      await waitFor(
        d.instances$(service),
        (s) => ids(s, h) === want,
        h.patience,
        `the final set ${want}`,
      );
      sub.unsubscribe();
      for (let i = 1; i < emissions.length; i++) {
        const [prev, cur] = [emissions[i - 1]!, emissions[i]!];
        const same =
          prev.stale === cur.stale &&
          prev.instances.length === cur.instances.length &&
          prev.instances.every((x, k) => JSON.stringify(x) === JSON.stringify(cur.instances[k]));
        expect(same, `emission ${i} repeats emission ${i - 1}`).toBe(false);
      }
      // a late subscriber sees the same final set at once
      const late = await waitFor(d.instances$(service), () => true, h.patience, 'a late first set');
      expect(ids(late, h)).toBe(want);
    });

    it('does not emit when an instance is rewritten unchanged', async () => {
      const h = harness();
      const d = client();
      const service = uniqueService();
      const record = { id: 'd1', service, host: '127.0.0.1', port: 18085 };
      await h.writeRaw(record);
      const set$ = d.instances$(service);
      const next2 = firstValueFrom(set$.pipe(take(2), toArray(), timeout(h.patience * 2)));
      await waitFor(set$, (s) => s.size === 1, h.patience, 'd1');
      await h.writeRaw(record); // same content again
      await h.writeRaw({ ...record, port: 18086 }); // an effective change
      const [first, second] = await next2;
      expect(first!.instances[0]!.port).toBe(18085);
      expect(second!.instances[0]!.port).toBe(18086);
    });

    itIf(writable)(
      'registers again by itself after the registry drops the registration',
      async () => {
        const h = harness();
        const d = client();
        const service = uniqueService();
        const events: RegistrationEvent[] = [];
        const reg = d
          .register({ service, host: registerHost, port: 18087, id: 'l1' }, { ttlMs: h.ttlMs })
          .subscribe((e) => events.push(e));
        const set$ = d.instances$(service);
        await waitFor(set$, (s) => s.size === 1, h.patience, 'l1 registered');
        await h.dropRegistrations(service);
        await waitFor(set$, (s) => s.size === 0, h.patience, 'l1 dropped');
        await waitFor(set$, (s) => s.size === 1, h.patience + h.ttlMs * 2, 'l1 registered again');
        await eventually(
          () => events.some((e) => e.type === 'reregistered'),
          h.patience,
          'the reregistered event',
        );
        const types = events.map((e) => e.type);
        expect(types[0]).toBe('registered');
        expect(types).toContain('lost');
        expect(types.indexOf('reregistered')).toBeGreaterThan(types.indexOf('lost'));
        reg.unsubscribe();
        await d.settled();
      },
    );

    it('keeps the last set marked stale during an outage and resumes after it', async () => {
      const h = harness();
      const d = client();
      const service = uniqueService();
      await h.writeRaw({ id: 'o1', service, host: '127.0.0.1', port: 18088 });
      const set$ = d.instances$(service);
      const sub = set$.subscribe();
      await waitFor(set$, (s) => s.size === 1 && !s.stale, h.patience, 'o1');
      try {
        await h.outage();
        const stale = await waitFor(set$, (s) => s.stale, h.patience, 'the set to go stale');
        expect(ids(stale, h)).toBe('o1');
        expect(stale.stale && stale.error.retryable).toBe(true);
        expect(stale.staleSince).toBeLessThanOrEqual(Date.now());
      } finally {
        await h.recover();
      }
      const fresh = await waitFor(
        set$,
        (s) => !s.stale,
        h.patience * 3,
        'the set to be fresh again',
      );
      expect(ids(fresh, h)).toBe('o1');
      await h.writeRaw({ id: 'o2', service, host: '127.0.0.1', port: 18089 });
      await waitFor(set$, (s) => ids(s, h) === 'o1,o2', h.patience, 'a change after the outage');
      sub.unsubscribe();
    });

    it('skips and reports a malformed entry, keeping the rest of the set', async () => {
      const h = harness();
      const d = client();
      const service = uniqueService();
      const problems: RxdiscoError[] = [];
      const psub = d.problems$.subscribe((p) => problems.push(p));
      await h.writeRaw({ id: 'm1', service, host: '127.0.0.1', port: 18090 });
      await h.writeMalformed(service, 'broken1');
      const set$ = d.instances$(service);
      const first = await waitFor(set$, () => true, h.patience, 'the first set');
      expect(ids(first, h)).toBe('m1');
      await h.writeRaw({ id: 'm2', service, host: '127.0.0.1', port: 18091 });
      await waitFor(set$, (s) => ids(s, h) === 'm1,m2', h.patience, 'm2 after the malformed entry');
      const decode = problems.filter(isDecodeError);
      expect(decode.length).toBeGreaterThan(0);
      expect(decode[0]!.key).toContain('broken1');
      expect(decode[0]!.problems.length).toBeGreaterThan(0);
      psub.unsubscribe();
    });

    itIf(capabilities.listsServices !== false)('lists services live', async () => {
      const h = harness();
      const d = client();
      const service = uniqueService();
      const list$ = d.services$();
      await h.writeRaw({ id: 'n1', service, host: '127.0.0.1', port: 18092 });
      await waitFor(
        list$,
        (l) => l.names.includes(service),
        h.patience,
        `${service} in the service list`,
      );
      await h.deleteRaw(service, 'n1');
      await waitFor(
        list$,
        (l) => !l.names.includes(service),
        h.patience,
        `${service} to leave the list`,
      );
    });

    const catalogIds = (c: Catalog, service: string): string => {
      const set = c.get(service);
      return set === undefined ? '' : ids(set, harness());
    };

    itIf(capabilities.catalog === true)(
      'catalog: a service appears, changes and disappears, each emission naming it as changed',
      async () => {
        const h = harness();
        const d = client();
        const service = uniqueService();
        const other = uniqueService();
        await h.writeRaw({ id: 'k0', service: other, host: '127.0.0.1', port: 18094 });
        const catalog$ = d.catalog$();
        const seen: Catalog[] = [];
        const sub = catalog$.subscribe((c) => seen.push(c));
        const first = await waitFor(catalog$, (c) => c.has(other), h.patience, `${other}`);
        expect(first.stale).toBe(false);
        expect(catalogIds(first, other)).toBe('k0');
        const otherSet = first.get(other);
        await h.writeRaw({ id: 'k1', service, host: '127.0.0.1', port: 18095 });
        const appeared = await waitFor(catalog$, (c) => c.has(service), h.patience, 'appears');
        expect(appeared.changed).toContain(service);
        expect(appeared.changed).not.toContain(other);
        expect(appeared.get(other)).toBe(otherSet); // untouched services keep their set
        expect(appeared.names()).toContain(service);
        await h.writeRaw({ id: 'k2', service, host: '127.0.0.1', port: 18096 });
        const changed = await waitFor(
          catalog$,
          (c) => catalogIds(c, service) === 'k1,k2',
          h.patience,
          'k2 in the catalog',
        );
        expect(changed.changed).toContain(service);
        await h.deleteRaw(service, 'k1');
        await h.deleteRaw(service, 'k2');
        const gone = await waitFor(catalog$, (c) => !c.has(service), h.patience, 'it to go');
        expect(gone.changed).toContain(service);
        expect(gone.names()).not.toContain(service);
        // a late subscriber shares the upstream: the same catalog object at once
        const late = await firstValueFrom(catalog$);
        expect(late).toBe(seen[seen.length - 1]);
        sub.unsubscribe();
        for (let i = 1; i < seen.length; i++) {
          expect(seen[i], `emission ${i} repeats emission ${i - 1}`).not.toBe(seen[i - 1]);
          expect(seen[i]!.changed.length > 0 || seen[i]!.stale !== seen[i - 1]!.stale).toBe(true);
        }
      },
    );

    itIf(capabilities.catalog === true)(
      'catalog: keeps the last catalog marked stale during an outage and resumes after it',
      async () => {
        const h = harness();
        const d = client();
        const service = uniqueService();
        await h.writeRaw({ id: 'q1', service, host: '127.0.0.1', port: 18097 });
        const catalog$ = d.catalog$();
        const sub = catalog$.subscribe();
        await waitFor(catalog$, (c) => c.has(service) && !c.stale, h.patience, 'q1');
        try {
          await h.outage();
          const stale = await waitFor(catalog$, (c) => c.stale, h.patience, 'the catalog stale');
          expect(catalogIds(stale, service)).toBe('q1');
          expect(stale.get(service)!.stale).toBe(true);
          expect(stale.error?.retryable).toBe(true);
        } finally {
          await h.recover();
        }
        const fresh = await waitFor(catalog$, (c) => !c.stale, h.patience * 3, 'fresh again');
        expect(catalogIds(fresh, service)).toBe('q1');
        expect(fresh.get(service)!.stale).toBe(false);
        await h.writeRaw({ id: 'q2', service, host: '127.0.0.1', port: 18098 });
        await waitFor(
          catalog$,
          (c) => catalogIds(c, service) === 'q1,q2',
          h.patience,
          'a change after the outage',
        );
        sub.unsubscribe();
      },
    );

    itIf(capabilities.catalog === true)(
      'catalog: skips and reports a malformed entry, keeping the rest',
      async () => {
        const h = harness();
        const d = client();
        const service = uniqueService();
        const problems: RxdiscoError[] = [];
        const psub = d.problems$.subscribe((p) => problems.push(p));
        await h.writeRaw({ id: 'p1', service, host: '127.0.0.1', port: 18099 });
        await h.writeMalformed(service, 'broken2');
        const catalog$ = d.catalog$();
        const first = await waitFor(catalog$, (c) => c.has(service), h.patience, 'p1');
        expect(catalogIds(first, service)).toBe('p1');
        await h.writeMalformed(service, 'broken3');
        await h.writeRaw({ id: 'p2', service, host: '127.0.0.1', port: 18100 });
        await waitFor(catalog$, (c) => catalogIds(c, service) === 'p1,p2', h.patience, 'p2');
        const keys = problems.filter(isDecodeError).map((p) => p.key ?? '');
        expect(keys.some((k) => k.includes('broken2'))).toBe(true);
        expect(keys.some((k) => k.includes('broken3'))).toBe(true);
        psub.unsubscribe();
      },
    );

    itIf(capabilities.catalog === true)(
      'catalog: close() completes the catalog stream and releases it; later subscribers get a typed error',
      async () => {
        const h = harness();
        const d = harness().discovery();
        const service = uniqueService();
        await h.writeRaw({ id: 'r1', service, host: '127.0.0.1', port: 18101 });
        const all = firstValueFrom(d.catalog$().pipe(toArray(), timeout(h.patience)));
        await waitFor(d.catalog$(), (c) => c.has(service), h.patience, 'r1');
        await d.close();
        const emitted = await all; // completed by close(), not left open
        expect(emitted.length).toBeGreaterThan(0);
        await expect(firstValueFrom(d.catalog$())).rejects.toThrow(/is closed/);
      },
    );

    itIf(writable)(
      'releases the upstream after the last unsubscribe and close() deregisters what is left',
      async () => {
        const h = harness();
        const d = harness().discovery();
        const service = uniqueService();
        d.register(
          { service, host: registerHost, port: 18093, id: 'c1' },
          { ttlMs: h.ttlMs },
        ).subscribe();
        const observer = client();
        await waitFor(observer.instances$(service), (s) => s.size === 1, h.patience, 'c1');
        await d.close();
        await waitFor(
          observer.instances$(service),
          (s) => s.size === 0,
          h.patience,
          'c1 to go on close()',
        );
        // the closed client refuses new work with a typed error
        await expect(firstValueFrom(d.instances$(service))).rejects.toThrow(/is closed/);
      },
    );
  });
};
