/**
 * A hostile Eureka on loopback: the recorded `/apps` and `/apps/delta`
 * shapes, one fault each. For each: no crash, no hang, the good instances
 * used, the problem reported with registry (and service) named.
 */
import { filter, firstValueFrom, type Subscription, timeout } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { type EurekaBackendOptions, eurekaDiscovery } from '../../../src/backends/eureka/index.js';
import { isHashcodeMismatchError } from '../../../src/backends/eureka/poller.js';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import type { Discovery } from '../../../src/core/discovery.js';
import { isDecodeError, type RxdiscoError } from '../../../src/core/errors.js';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import {
  type FakeRegistry,
  fakeRegistry,
  json,
  nested,
  type Route,
  recorded,
} from './fake-registry.js';

/** The instances of HELLO in full.json that decode (hello-3 is malformed there). */
const HELLO = ['hello-1', 'hello-2', 'hello-4'];
const FULL = recorded('eureka/full.json');
/** An empty delta whose hashcode matches full.json. */
const delta = (hashcode = 'STARTING_1_UP_4_'): string =>
  JSON.stringify({
    applications: { versions__delta: '2', apps__hashcode: hashcode, application: [] },
  });

/** full.json plus application OTHER with one instance whose `field` is raw JSON. */
const fullWith = (field: string, raw: string): string => {
  const body = JSON.parse(FULL) as { applications: { application: object[] } };
  body.applications.application.push({
    name: 'OTHER',
    instance: [{ instanceId: 'other-1', hostName: 'h', status: 'UP', port: 80, [field]: '@@' }],
  });
  return JSON.stringify(body).replace('"@@"', raw);
};

let fake: FakeRegistry | undefined;
let registry: Discovery | undefined;
let held: Subscription | undefined;
afterEach(async () => {
  held?.unsubscribe();
  await registry?.close();
  await fake?.close();
  registry = undefined;
  fake = undefined;
});

const start = async (
  apps: Route,
  deltas: Route,
  options: EurekaBackendOptions = {},
): Promise<{ problems: RxdiscoError[]; registry: Discovery }> => {
  fake = await fakeRegistry({ 'GET /eureka/apps': apps, 'GET /eureka/apps/delta': deltas });
  const problems: RxdiscoError[] = [];
  registry = eurekaDiscovery(`eureka://${fake.address}/eureka`, {
    graceMs: 0,
    backoff: exponentialBackoff({ initialMs: 20, maxMs: 200 }),
    onProblem: (p) => problems.push(p),
    intervalMs: 50,
    timeoutMs: 60_000,
    ...options,
  });
  // Held for the whole test: the watch is not released between two waits.
  held = registry.instances$('hello').subscribe();
  return { problems, registry };
};
const answer =
  (body: string): Route =>
  (_req, res) =>
    json(res, body);

const until = (d: Discovery, ok: (s: InstanceSet) => boolean, ms = 5000): Promise<InstanceSet> =>
  firstValueFrom(d.instances$('hello').pipe(filter(ok), timeout({ first: ms })));
const ids = (s: InstanceSet): string[] => s.instances.map((i) => i.id);

describe('a hostile Eureka', () => {
  it('one deeply nested instance of an unrelated application does not make watched services stale', async () => {
    for (const field of ['metadata', 'instanceId']) {
      const { problems, registry } = await start(
        answer(fullWith(field, nested(4100))),
        answer(delta('STARTING_1_UP_4_')),
      );
      const set = await until(registry, (s) => !s.stale && s.instances.length > 0);
      expect(ids(set)).toEqual(HELLO);
      const other = await firstValueFrom(registry.instances$('other').pipe(timeout(5000)));
      expect(other.instances).toEqual([]);
      const reported = problems.find((p) => isDecodeError(p) && p.service === 'other');
      const key = field === 'instanceId' ? "'OTHER/#0'" : "'OTHER/other-1'";
      expect(reported?.message).toContain(key);
      expect(reported?.message).toContain('levels of nesting');
      await registry.close();
      await fake!.close();
    }
  });

  it('turns a trickling delta stale at the body deadline, not at the request deadline', async () => {
    let drips: NodeJS.Timeout | undefined;
    const trickle: Route = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{');
      drips = setInterval(() => res.write(' '), 50);
      res.once('close', () => clearInterval(drips));
    };
    const { problems, registry } = await start(answer(FULL), trickle, {
      idleReadTimeoutMs: 300,
      bodyTimeoutMs: 800,
    });
    await until(registry, (s) => !s.stale && s.instances.length > 0);
    const stale = await until(registry, (s) => s.stale, 3000);
    expect(ids(stale)).toEqual(HELLO);
    expect(stale.stale && stale.error.message).toContain('bodyTimeoutMs (800 ms)');
    expect(problems.some((p) => p.message.includes('bodyTimeoutMs'))).toBe(true);
  });

  it('stops reading a registry over maxAnswerBytes and keeps the last set, stale', async () => {
    const big = fullWith('junk', JSON.stringify('x'.repeat(2 << 20)));
    let first = true;
    const apps: Route = (_req, res) => {
      json(res, first ? FULL : big);
      first = false;
    };
    // Every delta mismatches: each refresh is a full fetch, the second one too large.
    const { registry } = await start(apps, answer(delta('UP_1_')), { maxAnswerBytes: 1 << 20 });
    await until(registry, (s) => !s.stale && s.instances.length > 0);
    const stale = await until(registry, (s) => s.stale, 3000);
    expect(ids(stale)).toEqual(HELLO);
    expect(stale.stale && stale.error).toMatchObject({
      name: 'AnswerTooLargeError',
      option: 'maxAnswerBytes',
      limit: 1 << 20,
    });
  });

  it('reports a hashcode that never matches, once (rate-limited), and keeps the set fresh', async () => {
    let deltas = 0;
    let tenth: () => void = () => undefined;
    const ten = new Promise<void>((resolve) => {
      tenth = resolve;
    });
    const { problems, registry } = await start(answer(FULL), answer(delta('UP_99_')), {
      onRefresh: (r) => {
        if (r.kind === 'delta' && ++deltas === 10) tenth();
      },
    });
    const sub = registry.instances$('hello').subscribe();
    await ten;
    sub.unsubscribe();
    const reports = problems.filter(isHashcodeMismatchError);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.message).toContain(
      '3 times in a row (server UP_99_, local STARTING_1_UP_4_)',
    );
    expect(reports[0]!.registry).toContain(fake!.address);
  });

  it('names the endpoint of a malformed envelope as an endpoint, not as an entry', async () => {
    const { registry } = await start(answer(FULL), answer('{"applications":[]}'));
    await until(registry, (s) => !s.stale && s.instances.length > 0);
    const stale = await until(registry, (s) => s.stale, 3000);
    expect(stale.stale && stale.error.message).toContain(
      'GET /apps/delta answered a malformed registry',
    );
    expect(stale.stale && stale.error.message).not.toContain('skipped malformed entry');
  });
});
