/**
 * A hostile or broken resolver on loopback (a UDP socket that answers what
 * each test tells it; Knot never sends these): a malformed message is
 * reported and the set kept stale, never thrown; an answer with another
 * transaction id or for another question is ignored; a resolver that does
 * not answer is left for the next one after the deadline.
 */
import { createSocket, type Socket } from 'node:dgram';
import * as packet from 'dns-packet';
import { filter, firstValueFrom, timeout } from 'rxjs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { dnsDiscovery } from '../../../src/backends/dns/index.js';
import { exponentialBackoff } from '../../../src/core/backoff.js';
import type { Discovery } from '../../../src/core/discovery.js';
import type { RxdiscoError } from '../../../src/core/errors.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import { type KnotServer, startKnot } from '../../servers/dns.js';

expectNoLeakedHandles();

type Reply = (query: packet.DecodedPacket, raw: Buffer) => readonly Buffer[];

const sockets: Socket[] = [];
const opened: Discovery[] = [];
let knot: KnotServer | undefined;

afterEach(async () => {
  await Promise.all(opened.splice(0).map((d) => d.close()));
});
afterAll(async () => {
  await Promise.all(sockets.map((s) => new Promise<void>((r) => s.close(() => r()))));
  await knot?.destroy();
});

/** A UDP "resolver" answering each query with what `reply` makes. */
const fakeResolver = (reply: Reply): Promise<number> =>
  new Promise((resolve) => {
    const s = createSocket('udp4');
    sockets.push(s);
    s.on('message', (raw, from) => {
      for (const b of reply(packet.decode(raw), raw)) s.send(b, from.port, from.address);
    });
    s.bind(0, '127.0.0.1', () => resolve(s.address().port));
  });

const answer = (q: packet.DecodedPacket, id = q.id, name = q.questions![0]!.name): Buffer =>
  packet.encode({
    type: 'response',
    id,
    flags: packet.AUTHORITATIVE_ANSWER,
    questions: [{ type: 'SRV', name }],
    answers: [
      { type: 'SRV', name, ttl: 30, data: { priority: 0, weight: 1, port: 8080, target: 't.x' } },
    ],
    additionals: [{ type: 'A', name: 't.x', ttl: 30, data: '10.0.0.1' }],
  });

const open = (url: string, problems: RxdiscoError[] = []): Discovery => {
  const d = dnsDiscovery(url, {
    graceMs: 0,
    timeoutMs: 300,
    attempts: 1,
    backoff: exponentialBackoff({ initialMs: 50, maxMs: 100 }),
    onProblem: (p) => problems.push(p),
  });
  opened.push(d);
  return d;
};

const first = <T>(
  source: import('rxjs').Observable<T>,
  ok: (v: T) => boolean,
  ms = 5000,
): Promise<T> => firstValueFrom(source.pipe(filter(ok), timeout(ms)));

describe('a hostile resolver', () => {
  it('sends a malformed message: reported, the set stale, never thrown', async () => {
    const port = await fakeResolver((_q, raw) => [
      Buffer.concat([raw.subarray(0, 2), Buffer.from([0x81, 0x80, 0, 1, 0, 5, 0, 0, 0, 0, 0xff])]),
    ]);
    const problems: RxdiscoError[] = [];
    const d = open(`dns+srv://127.0.0.1:${port}/`, problems);
    const set = await first(d.instances$('s.x'), (s) => s.stale);
    expect(set.size).toBe(0);
    expect(set.stale && set.error.message).toMatch(
      /SRV s\.x to 127\.0\.0\.1:\d+ got a malformed answer/,
    );
    expect(problems.some((p) => /malformed answer/.test(p.message) && p.retryable)).toBe(true);
  });

  it('sends a record that dns-packet decodes but the codecs refuse: that record skipped and reported', async () => {
    const port = await fakeResolver((q) => {
      const question = q.questions![0]!;
      if (question.type !== 'SRV') {
        // A and AAAA of the target: no data.
        return [packet.encode({ type: 'response', id: q.id, questions: [question] })];
      }
      const b = answer(q);
      // The last record is the A of t.x (16 bytes: name pointer, type, class,
      // TTL, length, address): a TTL of 2^32 - 1 seconds is no valid TTL.
      b.writeUInt32BE(0xffffffff, b.length - 10);
      return [b];
    });
    const problems: RxdiscoError[] = [];
    const d = open(`dns+srv://127.0.0.1:${port}/?minTtl=50ms&maxTtl=100ms`, problems);
    const set = await first(d.instances$('s.x'), () => true);
    expect(set.stale).toBe(false);
    expect(set.size).toBe(0);
    expect(
      problems.some((p) =>
        /skipped malformed entry 'A t\.x': ttl: expected Ttl, got 4294967295/.test(p.message),
      ),
    ).toBe(true);
    expect(
      problems.some((p) =>
        /'SRV s\.x -> t\.x:8080': target: expected a name with A or AAAA records/.test(p.message),
      ),
    ).toBe(true);
  });

  it('answers with another transaction id or for another question first: ignored, the real answer taken', async () => {
    const port = await fakeResolver((q) => [
      answer(q, (q.id! + 1) % 65536),
      answer(q, q.id, 'other.x'),
      answer(q),
    ]);
    const d = open(`dns+srv://127.0.0.1:${port}/`);
    const set = await first(d.instances$('s.x'), () => true);
    expect(set.stale).toBe(false);
    expect(set.instances.map((i) => i.id)).toEqual(['10.0.0.1:8080']);
  });

  it('does not answer: after the deadline the next resolver is asked', async () => {
    const silent = await fakeResolver(() => []);
    knot = await startKnot(['s 30 IN SRV 0 1 8080 t', 't 30 IN A 10.0.0.3']);
    const d = dnsDiscovery(`dns+srv://127.0.0.1:${silent},${knot.address}/`, {
      graceMs: 0,
      timeoutMs: 200,
      onProblem: () => undefined,
    });
    opened.push(d);
    const started = performance.now();
    const set = await first(d.instances$('s.rxdisco.test'), () => true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(set.stale).toBe(false);
    expect(set.instances.map((i) => i.id)).toEqual(['10.0.0.3:8080']);
  });
});
