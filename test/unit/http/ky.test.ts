import { HTTPError } from 'ky';
import { of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import type { Instance } from '../../../src/core/instance.js';
import { kyFor } from '../../../src/http/index.js';
import type { Balancer, Outcome } from '../../../src/operators/balancers/balancer.js';
import { consistentHash } from '../../../src/operators/balancers/consistent-hash.js';
import { roundRobin } from '../../../src/operators/balancers/round-robin.js';
import { isCallError } from '../../../src/operators/call-error.js';
import { live } from '../../../src/operators/live.js';
import { drive } from '../operators/balancers/helpers.js';
import { inst, setOf } from '../operators/fixtures.js';

const a = inst('a');
const b = inst('b');
const c = inst('c');

const noWait = () => exponentialBackoff({ random: () => 0 });

/** A LiveBalancer-like target over a, b, c in rotation that records reports. */
const target = () => {
  const inner = drive(roundRobin({ start: 'first' })).push(setOf(a, b, c));
  const log: string[] = [];
  const holder = live(of(inner.set).pipe(roundRobin({ start: 'first' })));
  const spy = {
    ...holder,
    get set() {
      return holder.set;
    },
    get current() {
      return holder.current;
    },
    get error() {
      return holder.error;
    },
    pick: (key?: string) => holder.pick(key),
    pickAsync: holder.pickAsync.bind(holder),
    close: () => holder.close(),
    started: (i: Instance) => log.push(`start ${i.id}`),
    finished: (i: Instance, o: Outcome) =>
      log.push(`end ${i.id} ${o.cancelled ? 'cancelled' : o.ok}`),
  };
  return { holder: spy, log };
};

const refused = () =>
  Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
const reset = () => Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNRESET' } });

type Handler = (request: Request) => Promise<Response>;

const recordingFetch = (handler: Handler) => {
  const seen: { url: string; method: string; body: string; header: string | null }[] = [];
  const fetch = async (request: Request): Promise<Response> => {
    seen.push({
      url: request.url,
      method: request.method,
      body: request.body === null ? '' : await request.clone().text(),
      header: request.headers.get('x-test'),
    });
    return handler(request);
  };
  return { fetch, seen };
};

describe('kyFor()', () => {
  it('sends each request to a picked instance, path and query kept, and reports the outcome', async () => {
    const { holder, log } = target();
    const { fetch, seen } = recordingFetch(async () => new Response('{"hi":1}'));
    const api = kyFor(holder, {
      fetch,
      retry: { budget: false },
      ky: { prefixUrl: 'http://hello/api' },
    });
    expect(await api.get('users/1?x=2', { headers: { 'x-test': 'yes' } }).json()).toEqual({
      hi: 1,
    });
    expect(seen).toEqual([
      { url: 'http://a.example:8080/api/users/1?x=2', method: 'GET', body: '', header: 'yes' },
    ]);
    expect(log).toEqual(['start a', 'end a true']);
  });

  it('retries an idempotent request on another instance after a network error', async () => {
    const { holder, log } = target();
    const { fetch, seen } = recordingFetch(async (r) => {
      if (r.url.startsWith('http://a.')) throw reset();
      return new Response('ok');
    });
    const api = kyFor(holder, { fetch, retry: { budget: false, backoff: noWait() } });
    expect(await api.get('x').text()).toBe('ok');
    expect(seen.map((s) => s.url)).toEqual(['http://a.example:8080/x', 'http://b.example:8080/x']);
    expect(log).toEqual(['start a', 'end a false', 'start b', 'end b true']);
  });

  it('retries a POST only when the connection was refused, re-sending its body', async () => {
    const { holder } = target();
    const { fetch, seen } = recordingFetch(async (r) => {
      if (r.url.startsWith('http://a.')) throw refused();
      if (r.url.startsWith('http://b.')) throw reset();
      return new Response('created');
    });
    const api = kyFor(holder, { fetch, retry: { budget: false, backoff: noWait() } });
    const error = await api.post('orders', { json: { n: 1 } }).catch((e: unknown) => e);
    expect(seen.map((s) => [s.url, s.body])).toEqual([
      ['http://a.example:8080/orders', '{"n":1}'],
      ['http://b.example:8080/orders', '{"n":1}'],
    ]);
    expect(isCallError(error)).toBe(true);
    expect((error as Error).message).toMatch(
      /service 'hello'.*#1 a .*ECONNREFUSED.*#2 b .*ECONNRESET/,
    );
  });

  it('retries 503 for GET and returns the last response when out of attempts', async () => {
    const { holder, log } = target();
    const { fetch, seen } = recordingFetch(async () => new Response('busy', { status: 503 }));
    const api = kyFor(holder, { fetch, retry: { budget: false, backoff: noWait(), attempts: 2 } });
    const error = await api.get('x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HTTPError);
    expect((error as HTTPError).response.status).toBe(503);
    expect(await (error as HTTPError).response.text()).toBe('busy');
    expect(seen).toHaveLength(2);
    expect(log.filter((l) => l.startsWith('end'))).toEqual(['end a false', 'end b false']);
    const post = await api.post('x').catch((e: unknown) => e);
    expect((post as HTTPError).response.status).toBe(503);
    expect(seen).toHaveLength(3); // POST: no retry on 503
  });

  it('takes retry as a number of attempts or grouped options with statusCodes', async () => {
    const { holder } = target();
    const { fetch, seen } = recordingFetch(async () => new Response('gone', { status: 500 }));
    const once = kyFor(holder, { fetch, retry: 1 });
    expect(((await once.get('x').catch((e: unknown) => e)) as HTTPError).response.status).toBe(500);
    expect(seen).toHaveLength(1);
    const on500 = kyFor(holder, {
      fetch,
      retry: { attempts: 3, statusCodes: [500], budget: false, backoff: noWait() },
    });
    await on500.get('x').catch((e: unknown) => e);
    expect(seen).toHaveLength(4); // 500 is retried now: 3 attempts
  });

  it('checks its options when it is made, with the call() wording', () => {
    const { holder } = target();
    expect(() => kyFor(holder, { retry: 0 })).toThrow(
      /^retry\.attempts must be an integer from 1 to 100 \(got 0\)/,
    );
    expect(() => kyFor(holder, { attemptTimeoutMs: 0 })).toThrow(
      /^attemptTimeoutMs must be a number of ms > 0/,
    );
    expect(() => kyFor(holder, { retry: { statusCodes: [5030] } })).toThrow(
      /^retry\.statusCodes\[0\] must be an integer from 100 to 599 \(got 5030\)/,
    );
    expect(() => kyFor(holder, { retry: { budget: 3 as never } })).toThrow(
      /^retry\.budget must be/,
    );
  });

  it('does not retry a 4xx, which counts as a success of the instance', async () => {
    const { holder, log } = target();
    const { fetch, seen } = recordingFetch(async () => new Response('no', { status: 404 }));
    const api = kyFor(holder, { fetch, retry: { budget: false } });
    const error = await api.get('x').catch((e: unknown) => e);
    expect((error as HTTPError).response.status).toBe(404);
    expect(seen).toHaveLength(1);
    expect(log).toEqual(['start a', 'end a true']);
  });

  it('takes a balancer stream, routes by key, and closes what it opened', async () => {
    const balancer$ = of(setOf(a, b, c)).pipe(consistentHash());
    const { fetch, seen } = recordingFetch(async () => new Response('ok'));
    const api = kyFor(balancer$, {
      fetch,
      key: (r) => new URL(r.url).searchParams.get('user') ?? undefined,
    });
    for (let k = 0; k < 5; k++) await api.get('x?user=42').text();
    expect(new Set(seen.map((s) => new URL(s.url).host)).size).toBe(1);
    const owner = (api.balancer.current as Balancer).pick('42')!;
    expect(seen[0]!.url).toBe(`http://${owner.host}:8080/x?user=42`);
    api.close();
    expect(api.balancer.pick()).toBeUndefined();
  });

  it('aborts the attempt when ky times out', async () => {
    const { holder } = target();
    let attemptSignal: AbortSignal | undefined;
    const fetch = (r: Request) => {
      attemptSignal = r.signal;
      return new Promise<Response>((_, reject) => {
        r.signal.addEventListener('abort', () => reject(r.signal.reason));
      });
    };
    const controller = new AbortController();
    const api = kyFor(holder, { fetch, retry: { budget: false } });
    const pending = api.get('slow', { signal: controller.signal }).catch((e: unknown) => e);
    await new Promise((r) => setImmediate(r));
    controller.abort(new Error('stop'));
    expect(((await pending) as Error).message).toBe('stop');
    expect(attemptSignal!.aborted).toBe(true);
  });
});
