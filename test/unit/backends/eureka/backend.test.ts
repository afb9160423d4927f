/**
 * The Eureka backend over a scripted fake server (recorded payloads):
 * full fetch then deltas, the hashcode reconcile, per-service emissions,
 * malformed and partial payloads, peer failover, registration calls.
 */
import { filter, firstValueFrom, type Observable, timeout } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type EurekaBackendOptions,
  eurekaDiscovery,
  type RefreshReport,
  setEurekaStatus,
} from '../../../../src/backends/eureka/index.js';
import { memoryDiscovery } from '../../../../src/backends/memory/index.js';
import { exponentialBackoff } from '../../../../src/core/backoff.js';
import type { Discovery } from '../../../../src/core/discovery.js';
import {
  isAuthenticationError,
  isDecodeError,
  isRegistryUnavailableError,
  type RxdiscoError,
} from '../../../../src/core/errors.js';
import type { InstanceSet } from '../../../../src/core/instance-set.js';
import type { RegistrationEvent } from '../../../../src/core/registration.js';
import { eventually } from '../../../helpers/handles.js';
import { clone, fakeEureka, fixture } from './fake-eureka.js';

const URL1 = 'eureka://127.0.0.1:8761/eureka';
const opened: Discovery[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((d) => d.close()));
});

const open = (
  fake: { fetch: typeof fetch },
  problems: RxdiscoError[] = [],
  extra: EurekaBackendOptions = {},
  url: string = URL1,
): Discovery => {
  const d = eurekaDiscovery(url, {
    fetch: fake.fetch,
    intervalMs: 10,
    graceMs: 0,
    backoff: exponentialBackoff({ initialMs: 5, maxMs: 20 }),
    onProblem: (p) => problems.push(p),
    ...extra,
  });
  opened.push(d);
  return d;
};

const ids = (s: InstanceSet): string => s.instances.map((i) => i.id).join(',');
const waitFor = <T>(source$: Observable<T>, p: (v: T) => boolean, what: string): Promise<T> =>
  firstValueFrom(
    source$.pipe(
      filter(p),
      timeout({
        first: 5000,
        with: () => {
          throw new Error(`timed out waiting for ${what}`);
        },
      }),
    ),
  );

const EMPTY_DELTA = (hashcode: string) => ({
  json: { applications: { versions__delta: '2', apps__hashcode: hashcode, application: [] } },
});

describe('the Eureka backend over a fake server', () => {
  it('fetches the full registry, then applies deltas, and skips and reports malformed instances', async () => {
    const fake = fakeEureka({
      'GET /eureka/apps': [{ json: fixture('full.json') }],
      'GET /eureka/apps/delta': [
        { json: fixture('delta.json') },
        EMPTY_DELTA('OUT_OF_SERVICE_1_UP_4_'),
      ],
    });
    const problems: RxdiscoError[] = [];
    const d = open(fake, problems);
    const hello = d.instances$('hello');
    const keep = hello.subscribe(); // keeps the poller running between the waits
    const first = await waitFor(hello, () => true, 'the first set');
    expect(ids(first)).toBe('hello-1,hello-2,hello-4');
    expect(first.instances.every((i) => i.service === 'hello')).toBe(true);
    const decode = problems.filter(isDecodeError);
    expect(decode.map((e) => e.key)).toEqual(['HELLO/hello-3']);
    const after = await waitFor(hello, (s) => ids(s) === 'hello-2,hello-4,hello-5', 'the delta');
    expect(after.get('hello-2')!.port).toBe(9090);
    expect(after.get('hello-4')!.status).toBe('OUT_OF_SERVICE');
    // the malformed instance is reported once, not at every poll
    await eventually(() => fake.requests.length >= 6, 5000, 'more polls');
    keep.unsubscribe();
    expect(problems.filter(isDecodeError)).toHaveLength(1);
    // one full fetch: every hashcode matched
    expect(fake.requests.filter((r) => r.url.endsWith('/eureka/apps'))).toHaveLength(1);
  });

  it('fetches the whole registry again when the hashcode after a delta does not match', async () => {
    const lossy = clone(fixture('delta.json')) as {
      applications: { application: { name: string; instance: { instanceId: string }[] }[] };
    };
    const hello = lossy.applications.application.find((a) => a.name === 'HELLO')!;
    hello.instance = hello.instance.filter((i) => i.instanceId !== 'hello-5'); // a lost ADDED
    const fake = fakeEureka({
      'GET /eureka/apps': [{ json: fixture('full.json') }, { json: fixture('full-after.json') }],
      'GET /eureka/apps/delta': [{ json: lossy }, EMPTY_DELTA('OUT_OF_SERVICE_1_UP_4_')],
    });
    const reports: RefreshReport[] = [];
    const d = open(fake, [], { onRefresh: (r) => reports.push(r) });
    const keep = d.instances$('hello').subscribe();
    const set = await waitFor(
      d.instances$('hello'),
      (s) => ids(s) === 'hello-2,hello-4,hello-5',
      'hello-5 from the full fetch after the mismatch',
    );
    expect(set.stale).toBe(false);
    expect(reports.slice(0, 3)).toEqual([
      { kind: 'full', bytes: expect.any(Number) },
      { kind: 'delta', bytes: expect.any(Number), mismatch: true },
      { kind: 'full', bytes: expect.any(Number), mismatch: true },
    ]);
    await eventually(() => reports.length >= 5, 5000, 'more polls');
    keep.unsubscribe();
    expect(reports.slice(3).every((r) => r.kind === 'delta' && !r.mismatch)).toBe(true);
  });

  it('emits on a service stream only when its own instances changed', async () => {
    const delta1 = clone(fixture('delta.json'));
    const fake = fakeEureka({
      'GET /eureka/apps': [{ json: fixture('full.json') }],
      'GET /eureka/apps/delta': [
        EMPTY_DELTA('STARTING_1_UP_4_'),
        { json: delta1 },
        EMPTY_DELTA('OUT_OF_SERVICE_1_UP_4_'),
      ],
    });
    const d = open(fake);
    const greeter: InstanceSet[] = [];
    const sub = d.instances$('greeter').subscribe((s) => greeter.push(s));
    await waitFor(d.instances$('hello'), (s) => ids(s) === 'hello-2,hello-4,hello-5', 'the delta');
    await eventually(() => fake.requests.length >= 6, 5000, 'more polls');
    sub.unsubscribe();
    expect(greeter).toHaveLength(1);
    expect(ids(greeter[0]!)).toBe('greeter-java-1');
  });

  it('marks the set stale on a partial payload, reports it, and recovers with a full fetch', async () => {
    const fake = fakeEureka({
      'GET /eureka/apps': [{ json: fixture('full.json') }, { json: fixture('full-after.json') }],
      'GET /eureka/apps/delta': [
        { text: '{"applications":{"apps__hashcode":"UP_5_","application":[{"name":"HEL' },
        EMPTY_DELTA('OUT_OF_SERVICE_1_UP_4_'),
      ],
    });
    const problems: RxdiscoError[] = [];
    const d = open(fake, problems);
    const hello = d.instances$('hello');
    const seen: InstanceSet[] = [];
    const sub = hello.subscribe((s) => seen.push(s));
    await waitFor(hello, (s) => ids(s) === 'hello-2,hello-4,hello-5' && !s.stale, 'recovery');
    sub.unsubscribe();
    expect(seen.map((s) => [ids(s), s.stale])).toEqual([
      ['hello-1,hello-2,hello-4', false],
      ['hello-1,hello-2,hello-4', true],
      ['hello-2,hello-4,hello-5', false],
    ]);
    const unavailable = problems.filter(isRegistryUnavailableError);
    expect(unavailable[0]!.message).toContain('invalid JSON');
    expect(unavailable[0]!.retryable).toBe(true);
  });

  it('tries the peers in order, skips a failed one, and comes back to it after the cooldown', async () => {
    const fake = fakeEureka({
      'GET 127.0.0.1:1/eureka/apps': [{ fail: 'ECONNREFUSED' }, { json: fixture('full.json') }],
      'GET 127.0.0.1:2/eureka/apps': [{ json: fixture('full.json') }],
      'GET 127.0.0.1:1/eureka/apps/delta': [EMPTY_DELTA('STARTING_1_UP_4_')],
      'GET 127.0.0.1:2/eureka/apps/delta': [EMPTY_DELTA('STARTING_1_UP_4_')],
    });
    const problems: RxdiscoError[] = [];
    const d = open(
      fake,
      problems,
      { peerCooldownMs: 150 },
      'eureka://127.0.0.1:1,127.0.0.1:2/eureka',
    );
    const keep = d.instances$('hello').subscribe();
    const first = await waitFor(d.instances$('hello'), () => true, 'the first set');
    expect(first.stale).toBe(false);
    const hosts = () => fake.requests.map((r) => new URL(r.url).port);
    expect(hosts().slice(0, 2)).toEqual(['1', '2']);
    await eventually(() => hosts().slice(2).includes('1'), 5000, 'the first peer again');
    const back = hosts().indexOf('1', 2);
    expect(
      hosts()
        .slice(2, back)
        .every((p) => p === '2'),
    ).toBe(true);
    expect(
      hosts()
        .slice(back)
        .every((p) => p === '1'),
    ).toBe(true);
    keep.unsubscribe();
    // a peer that failed over is no problem: only the malformed fixture instance is reported
    expect(problems.filter((p) => !isDecodeError(p))).toEqual([]);
  });

  it('marks the set stale while every peer is down, and errors the stream on 401', async () => {
    const fake = fakeEureka({
      'GET /eureka/apps': [{ fail: 'ECONNREFUSED' }],
    });
    const problems: RxdiscoError[] = [];
    const d = open(fake, problems, {}, 'eureka://127.0.0.1:1,127.0.0.1:2/eureka');
    const stale = await waitFor(d.instances$('hello'), () => true, 'a stale empty set');
    expect(stale.stale && stale.size).toBe(0);
    expect(stale.stale && stale.error.message).toMatch(/127\.0\.0\.1:1.*127\.0\.0\.1:2/);

    const auth = fakeEureka({ 'GET /eureka/apps': [{ status: 401, text: 'Unauthorized' }] });
    const e = open(auth, [], {}, 'eureka://u:wrong@127.0.0.1:1/eureka');
    await expect(firstValueFrom(e.instances$('hello'))).rejects.toSatisfy(isAuthenticationError);
    expect(auth.requests.length).toBe(1);
  });

  it('never overlaps two polls, even when the server is slower than the interval', async () => {
    const fake = fakeEureka({
      'GET /eureka/apps': [{ json: fixture('full.json') }],
      'GET /eureka/apps/delta': [EMPTY_DELTA('STARTING_1_UP_4_')],
    });
    let inFlight = 0;
    let most = 0;
    const slow = (async (input: Request | string | URL, init?: RequestInit) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 30));
      try {
        return await fake.fetch(input, init);
      } finally {
        inFlight--;
      }
    }) as typeof fetch;
    const d = open({ fetch: slow }, [], { intervalMs: 1 });
    const a = d.instances$('hello').subscribe();
    const b = d.instances$('greeter').subscribe();
    const c = d.services$().subscribe();
    await eventually(() => fake.requests.length >= 6, 5000, 'several polls');
    for (const s of [a, b, c]) s.unsubscribe();
    expect(most).toBe(1);
    // one poller for every stream: the full fetch happened once
    expect(fake.requests.filter((r) => r.url.endsWith('/eureka/apps'))).toHaveLength(1);
  });

  it('lists services as lower-case application names', async () => {
    const fake = fakeEureka({
      'GET /eureka/apps': [{ json: fixture('full.json') }],
      'GET /eureka/apps/delta': [EMPTY_DELTA('STARTING_1_UP_4_')],
    });
    const list = await firstValueFrom(open(fake).services$());
    expect(list.names).toEqual(['greeter', 'hello']);
  });

  it('reads the poll interval from ?interval= (a duration), below intervalMs', async () => {
    const fake = fakeEureka({
      'GET /eureka/apps': [{ json: fixture('full.json') }],
      'GET /eureka/apps/delta': [EMPTY_DELTA('STARTING_1_UP_4_')],
    });
    const d = eurekaDiscovery(`${URL1}?interval=20ms`, {
      fetch: fake.fetch,
      graceMs: 0,
      onProblem: () => undefined,
    });
    opened.push(d);
    const sub = d.instances$('hello').subscribe();
    await eventually(() => fake.requests.length >= 4, 3000, 'polls every 20 ms');
    sub.unsubscribe();
    expect(() => eurekaDiscovery(`${URL1}?interval=soon`)).toThrow(/url\.interval/);
  });

  it.each([
    [{ intervalMs: -1 }, 'intervalMs must be a number of ms >= 1 (got -1)'],
    [{ intervalMs: 0 }, 'intervalMs must be a number of ms'],
    [{ timeoutMs: Number.NaN }, 'timeoutMs must be a number of ms'],
    [{ peerCooldownMs: Number.POSITIVE_INFINITY }, 'peerCooldownMs must be a number of ms'],
  ] as const)('refuses %j when eurekaDiscovery() is called', (options, message) => {
    expect(() => eurekaDiscovery(URL1, options)).toThrow(message);
  });
});

describe('Eureka registration over a fake server', () => {
  it('posts an InstanceInfo, heartbeats, registers again on 404, keeps a status set, and deletes', async () => {
    const fake = fakeEureka({
      'POST /eureka/apps/HELLO': [{ status: 204 }],
      'PUT /eureka/apps/HELLO/h1': [{ status: 200 }, { status: 404 }, { status: 200 }],
      'PUT /eureka/apps/HELLO/h1/status': [{ status: 200 }],
      'DELETE /eureka/apps/HELLO/h1': [{ status: 200 }],
    });
    const d = open(fake);
    const events: RegistrationEvent[] = [];
    const sub = d
      .register(
        { service: 'hello', id: 'h1', host: '10.0.0.1', port: 8080 },
        { ttlMs: 3000, renewEveryMs: 20 },
      )
      .subscribe((e) => events.push(e));
    await eventually(() => events.some((e) => e.type === 'renewed'), 3000, 'a heartbeat');
    await setEurekaStatus(d, 'hello', 'h1', 'OUT_OF_SERVICE');
    await eventually(
      () => events.some((e) => e.type === 'reregistered'),
      3000,
      'the re-registration',
    );
    sub.unsubscribe();
    await d.settled();
    const calls = fake.requests.map(
      (r) => `${r.method} ${new URL(r.url).pathname}${new URL(r.url).search}`,
    );
    expect(calls[0]).toBe('POST /eureka/apps/HELLO');
    expect(calls).toContain('PUT /eureka/apps/HELLO/h1/status?value=OUT_OF_SERVICE');
    expect(calls[calls.length - 1]).toBe('DELETE /eureka/apps/HELLO/h1');
    expect(events.map((e) => e.type)).toContain('lost');
    const posts = fake.requests.filter((r) => r.method === 'POST').map((r) => JSON.parse(r.body));
    expect(posts).toHaveLength(2);
    expect(posts[0].instance).toMatchObject({
      instanceId: 'h1',
      app: 'HELLO',
      hostName: '10.0.0.1',
      status: 'UP',
      port: { $: 8080, '@enabled': 'true' },
      leaseInfo: { durationInSecs: 3, renewalIntervalInSecs: 1 },
      dataCenterInfo: { name: 'MyOwn' },
      vipAddress: 'hello',
    });
    // the status set through Eureka survives the re-registration
    expect(posts[1].instance.status).toBe('OUT_OF_SERVICE');
  });

  it('sets the status through the discovery passed only, not every discovery of the URL', async () => {
    const script = () => ({
      'POST /eureka/apps/HELLO': [{ status: 204 }],
      // the first heartbeat passes, the second finds the lease gone: re-register
      'PUT /eureka/apps/HELLO/h1': [{ status: 200 }, { status: 404 }, { status: 200 }],
      'PUT /eureka/apps/HELLO/h1/status': [{ status: 200 }],
      'DELETE /eureka/apps/HELLO/h1': [{ status: 200 }],
    });
    const fakes = [fakeEureka(script()), fakeEureka(script())];
    const [d1, d2] = fakes.map((fake) => open(fake)) as [Discovery, Discovery];
    const events: RegistrationEvent[][] = [[], []];
    const regs = [d1, d2].map((d, i) =>
      d
        .register(
          { service: 'hello', id: 'h1', host: '10.0.0.1', port: 8080 },
          { ttlMs: 3000, renewEveryMs: 20 },
        )
        .subscribe((e) => events[i]!.push(e)),
    );
    await eventually(
      () => events.every((es) => es.some((e) => e.type === 'renewed')),
      3000,
      'a heartbeat of each',
    );
    await setEurekaStatus(d1, 'hello', 'h1', 'OUT_OF_SERVICE');
    await eventually(
      () => events.every((es) => es.some((e) => e.type === 'reregistered')),
      3000,
      'both re-registrations',
    );
    for (const r of regs) r.unsubscribe();
    await Promise.all([d1.settled(), d2.settled()]);
    const statusPuts = fakes.map(
      (f) => f.requests.filter((r) => r.url.includes('/status?value=')).length,
    );
    expect(statusPuts).toEqual([1, 0]);
    const reposted = fakes.map(
      (f) => JSON.parse(f.requests.filter((r) => r.method === 'POST')[1]!.body).instance.status,
    );
    expect(reposted).toEqual(['OUT_OF_SERVICE', 'UP']);
  });

  it('refuses a status Eureka cannot set, a discovery that is not Eureka, and one with nothing loaded', async () => {
    const fake = fakeEureka({});
    const d = open(fake);
    await expect(setEurekaStatus(memoryDiscovery(), 'hello', 'h1', 'DOWN')).rejects.toThrow(
      'discovery memory:// is not a Eureka discovery',
    );
    await expect(setEurekaStatus(d, 'hello', 'h1', 'UNKNOWN' as 'UP')).rejects.toThrow(
      /status must be/,
    );
    const other = eurekaDiscovery('eureka://127.0.0.1:9/eureka', { fetch: fake.fetch });
    opened.push(other);
    // not loaded yet: a one-off client of the same URL does the call
    await expect(setEurekaStatus(other, 'hello', 'h1', 'DOWN')).rejects.toThrow(/not registered/);
    expect(fake.requests.at(-1)!.url).toBe(
      'http://127.0.0.1:9/eureka/apps/HELLO/h1/status?value=DOWN',
    );
  });
});
