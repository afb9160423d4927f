/**
 * A hostile Consul on loopback: real answer shapes (the recorded health
 * entries), one fault each. For each: no crash, no hang, the good entries
 * used, the problem reported with registry and service named.
 */
import type { ServerResponse } from 'node:http';
import { deflateSync } from 'node:zlib';
import { filter, firstValueFrom, type Subscription, timeout } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { consulDiscovery } from '../../../src/backends/consul/index.js';
import type { ConsulOptions } from '../../../src/backends/consul/options.js';
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

/** The recorded health of `web` (less its malformed entry), plus `extra` raw entries. */
const health = (...extra: string[]): string => {
  const good = (
    JSON.parse(recorded('consul/health-all.json')) as { Service: { ID: string } }[]
  ).filter((e) => e.Service.ID !== 'web-bad');
  const text = JSON.stringify(good);
  return extra.length === 0 ? text : `${text.slice(0, -1)},${extra.join(',')}]`;
};
const GOOD = ['web-1', 'web-2', 'web-3', 'web-4'];

/** A health entry `web-x` with raw JSON for `Service.<field>`. */
const entry = (field: string, raw: string): string =>
  `{"Node":{"Node":"n9","Address":"10.0.0.9"},"Service":{"ID":"web-x","Service":"web","Port":80,"Address":"","${field}":${raw}},"Checks":[]}`;

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

/** The first read answers `first`; blocking reads (with `index`) go to `blocking`. */
const start = async (first: string, blocking: Route, options: ConsulOptions = {}) => {
  fake = await fakeRegistry({
    'GET /v1/health/service/web': (req, res, url) => {
      if (url.searchParams.has('index')) blocking(req, res, url);
      else json(res, first, { 'X-Consul-Index': '10' });
    },
  });
  const problems: RxdiscoError[] = [];
  registry = consulDiscovery(`consul://${fake.address}`, {
    graceMs: 0,
    backoff: exponentialBackoff({ initialMs: 20, maxMs: 200 }),
    onProblem: (p) => problems.push(p),
    ...options,
  });
  // Held for the whole test: the watch is not released between two waits.
  held = registry.instances$('web').subscribe();
  return { problems, registry };
};

const holdOpen: Route = () => undefined;

const until = (d: Discovery, ok: (s: InstanceSet) => boolean, ms = 5000): Promise<InstanceSet> =>
  firstValueFrom(d.instances$('web').pipe(filter(ok), timeout({ first: ms })));

const ids = (s: InstanceSet): string[] => s.instances.map((i) => i.id);

describe('a hostile Consul', () => {
  it('skips and reports a deeply nested entry; the good entries of the same answer are used', async () => {
    const { problems, registry } = await start(health(entry('Meta', nested(4100))), holdOpen);
    const set = await until(registry, (s) => !s.stale);
    expect(ids(set)).toEqual(GOOD);
    const reported = problems.find(isDecodeError);
    expect(reported).toMatchObject({ key: 'web/web-x', service: 'web' });
    expect(reported?.registry).toContain(fake!.address);
    expect(reported?.message).toContain('levels of nesting');
  });

  it('drops and reports a go-micro tag that is a decompression bomb, and keeps the instance', async () => {
    const bomb = `t-${deflateSync(Buffer.alloc(32 << 20, 48)).toString('hex')}`;
    const { problems, registry } = await start(
      health(entry('Tags', JSON.stringify(['primary', bomb]))),
      holdOpen,
    );
    const set = await until(registry, (s) => !s.stale);
    expect(set.get('web-x')?.tags).toEqual(['primary']);
    expect(problems.find(isDecodeError)).toMatchObject({ key: 'web/web-x (tags)', service: 'web' });
  });

  it('turns a trickling answer stale at the body deadline, not at the query deadline', async () => {
    let drips: NodeJS.Timeout | undefined;
    const trickle: Route = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'X-Consul-Index': '11' });
      res.write('[');
      drips = setInterval(() => res.write(' '), 50);
      res.once('close', () => clearInterval(drips));
    };
    const { problems, registry } = await start(health(), trickle, {
      idleReadTimeoutMs: 300,
      bodyTimeoutMs: 800,
    });
    await until(registry, (s) => !s.stale);
    const stale = await until(registry, (s) => s.stale, 3000);
    expect(ids(stale)).toEqual(GOOD);
    expect(stale.stale && stale.error.message).toContain('bodyTimeoutMs (800 ms)');
    expect(problems.some((p) => p.service === 'web' && p.message.includes('bodyTimeoutMs'))).toBe(
      true,
    );
  });

  it('turns a stalled answer stale at the idle-read timeout', async () => {
    const stall: Route = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'X-Consul-Index': '11' });
      res.write('[');
    };
    const { registry } = await start(health(), stall, { idleReadTimeoutMs: 300 });
    await until(registry, (s) => !s.stale);
    const stale = await until(registry, (s) => s.stale, 3000);
    expect(stale.stale && stale.error.message).toContain('idleReadTimeoutMs (300 ms)');
  });

  it('stops reading an answer over maxAnswerBytes, reports it, and keeps the last set stale', async () => {
    let sent = 0;
    let closed: (finished: boolean) => void = () => undefined;
    const finished = new Promise<boolean>((resolve) => {
      closed = resolve;
    });
    const flood: Route = (_req, res: ServerResponse) => {
      res.writeHead(200, { 'content-type': 'application/json', 'X-Consul-Index': '11' });
      const chunk = Buffer.alloc(64 * 1024, 32);
      const pump = (): void => {
        while (sent < 256 << 20 && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.once('close', () => closed(res.writableFinished));
      pump();
    };
    const { problems, registry } = await start(health(), flood, { maxAnswerBytes: 1 << 20 });
    await until(registry, (s) => !s.stale);
    const stale = await until(registry, (s) => s.stale, 3000);
    expect(ids(stale)).toEqual(GOOD);
    expect(stale.stale && stale.error).toMatchObject({
      name: 'AnswerTooLargeError',
      limit: 1 << 20,
      option: 'maxAnswerBytes',
      service: 'web',
    });
    expect(stale.stale && stale.error.message).toContain('maxAnswerBytes');
    expect(problems.some((p) => p.name === 'AnswerTooLargeError')).toBe(true);
    expect(await finished).toBe(false);
    expect(sent).toBeLessThan(64 << 20);
  });

  it('refuses an answer whose Content-Length is over maxAnswerBytes without reading it', async () => {
    const declared: Route = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(8 << 20) });
      res.write('[');
    };
    const { registry } = await start(health(), declared, { maxAnswerBytes: 1 << 20 });
    await until(registry, (s) => !s.stale);
    const stale = await until(registry, (s) => s.stale, 3000);
    expect(stale.stale && stale.error).toMatchObject({
      name: 'AnswerTooLargeError',
      bytes: 8 << 20,
    });
  });
  it('turns stale on headers then a reset, and is fresh again when the agent answers', async () => {
    let resets = 2;
    const reset: Route = (req, res) => {
      if (resets-- > 0) {
        res.writeHead(200, { 'content-type': 'application/json', 'X-Consul-Index': '11' });
        res.write('[{"Node":');
        setImmediate(() => req.socket.destroy());
      } else json(res, health(), { 'X-Consul-Index': '12' });
    };
    const { registry } = await start(health(), reset);
    await until(registry, (s) => !s.stale);
    const stale = await until(registry, (s) => s.stale, 3000);
    expect(ids(stale)).toEqual(GOOD);
    expect(ids(await until(registry, (s) => !s.stale, 3000))).toEqual(GOOD);
  });

  it('rides out a burst of 5xx and invalid JSON, stale meanwhile, fresh after', async () => {
    let faults = 4;
    let over: () => void = () => undefined;
    const recovered = new Promise<void>((resolve) => {
      over = resolve;
    });
    const flaky: Route = (_req, res) => {
      faults--;
      if (faults >= 2) res.writeHead(500).end('No cluster leader');
      else if (faults >= 0) json(res, '[{"Node":', { 'X-Consul-Index': '11' });
      else {
        json(res, health(), { 'X-Consul-Index': '12' });
        over();
      }
    };
    const { problems, registry } = await start(health(), flaky);
    await until(registry, (s) => !s.stale);
    await until(registry, (s) => s.stale, 3000);
    // Each fault ends a session; the next one starts with a read that does not block.
    await recovered;
    expect(ids(await until(registry, (s) => !s.stale))).toEqual(GOOD);
    expect(problems.some((p) => p.message.includes('No cluster leader'))).toBe(true);
    expect(problems.some((p) => p.message.includes('not JSON'))).toBe(true);
  });

  it('keeps its query rate bounded when the index is abused (0, or going backwards)', async () => {
    let n = 0;
    let began = 0;
    let twelfth: (ms: number) => void = () => undefined;
    const elapsed = new Promise<number>((resolve) => {
      twelfth = resolve;
    });
    const abuse: Route = (_req, res) => {
      n++;
      if (n === 1) began = Date.now();
      if (n === 12) twelfth(Date.now() - began);
      json(res, health(), { 'X-Consul-Index': n % 2 === 0 ? '0' : String(1000 - n) });
    };
    await start(health(), abuse, { queryRate: 10, queryBurst: 2 });
    // A token bucket of 10 per second with a burst of 2: 12 queries take about a second.
    expect(await elapsed).toBeGreaterThanOrEqual(800);
  });
});
