/**
 * One resolution, on answers given by a stub client: SRV records and their
 * targets into instances, CNAME chains, duplicates, the "." target, the
 * wait (smallest TTL, bounded; the SOA's negative TTL for an empty answer),
 * and the records that cannot make an instance reported.
 */
import { firstValueFrom, of, throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { DnsClient, QuestionType } from '../../../../src/backends/dns/client.js';
import type { DnsMessage, DnsRecord } from '../../../../src/backends/dns/codecs.js';
import { resolveHost, resolveSrv } from '../../../../src/backends/dns/resolve.js';
import { RegistryUnavailableError } from '../../../../src/core/errors.js';

const message = (m: Partial<DnsMessage>): DnsMessage => ({
  id: 1,
  rcode: 0,
  truncated: false,
  questions: [],
  answers: [],
  authorities: [],
  additionals: [],
  skipped: [],
  ...m,
});

/** A client answering from a table `TYPE name` → message, and recording the questions. */
const stub = (table: Record<string, DnsMessage>) => {
  const asked: string[] = [];
  const client: DnsClient = {
    ask: (name: string, type: QuestionType) => {
      asked.push(`${type} ${name}`);
      const m = table[`${type} ${name}`];
      return m === undefined
        ? throwError(() => new RegistryUnavailableError(`no answer for ${type} ${name}`))
        : of(m);
    },
  };
  return { client, asked };
};

const options = {
  minTtlMs: 1000,
  maxTtlMs: 60_000,
  timeoutMs: 100,
  attempts: 1,
  udpPayloadSize: 1232,
};
const deps = (client: DnsClient) => ({ client, options, registry: 'dns+srv://r/', secure: false });

const srv = (
  name: string,
  target: string,
  port: number,
  ttl = 30,
  priority = 0,
  weight = 1,
): DnsRecord => ({
  type: 'SRV',
  name,
  ttl,
  priority,
  weight,
  port,
  target,
});
const a = (name: string, address: string, ttl = 30): DnsRecord => ({
  type: 'A',
  name,
  ttl,
  address,
});
const soa = (ttl: number, minimum: number): DnsRecord => ({ type: 'SOA', name: 'x', ttl, minimum });

describe('resolveSrv', () => {
  it('uses the additional section when it has the targets’ addresses, and asks no more', async () => {
    const { client, asked } = stub({
      'SRV s.x': message({
        answers: [srv('s.x', 't1.x', 8080, 40, 1, 7)],
        additionals: [a('t1.x', '10.0.0.1', 20)],
      }),
    });
    const r = await firstValueFrom(resolveSrv(deps(client), 'S.x'));
    expect(asked).toEqual(['SRV s.x']);
    expect(r.instances.map((i) => [i.id, i.service, i.weight, i.metadata])).toEqual([
      ['10.0.0.1:8080', 'S.x', 7, { target: 't1.x', priority: '1' }],
    ]);
    expect(r.ttlMs).toBe(20_000); // the smallest TTL of the records used
  });

  it('asks A and AAAA of a target the additional section does not cover, following CNAMEs', async () => {
    const { client, asked } = stub({
      'SRV s.x': message({
        answers: [
          { type: 'CNAME', name: 's.x', ttl: 50, target: 'real.x' },
          srv('real.x', 't1.x', 80),
        ],
      }),
      'A t1.x': message({
        answers: [
          { type: 'CNAME', name: 't1.x', ttl: 5, target: 'host.x' },
          a('host.x', '10.0.0.2'),
        ],
      }),
      'AAAA t1.x': message({ answers: [{ type: 'AAAA', name: 't1.x', ttl: 30, address: '::2' }] }),
    });
    const r = await firstValueFrom(resolveSrv(deps(client), 's.x'));
    expect(asked).toEqual(['SRV s.x', 'A t1.x', 'AAAA t1.x']);
    expect(r.instances.map((i) => i.id)).toEqual(['10.0.0.2:80', '[::2]:80']);
    expect(r.ttlMs).toBe(5000);
  });

  it('keeps one instance per address:port: the lowest priority, then the highest weight', async () => {
    const { client } = stub({
      'SRV s.x': message({
        answers: [
          srv('s.x', 'a.x', 80, 30, 5, 9),
          srv('s.x', 'b.x', 80, 30, 1, 2),
          srv('s.x', 'c.x', 80, 30, 1, 4),
        ],
        additionals: [a('a.x', '10.0.0.1'), a('b.x', '10.0.0.1'), a('c.x', '10.0.0.1')],
      }),
    });
    const r = await firstValueFrom(resolveSrv(deps(client), 's.x'));
    expect(r.instances.map((i) => [i.id, i.weight, i.metadata.target])).toEqual([
      ['10.0.0.1:80', 4, 'c.x'],
    ]);
  });

  it('reads NXDOMAIN, no data and a "." target as an empty set, waiting the SOA’s negative TTL', async () => {
    const { client } = stub({
      'SRV gone.x': message({ rcode: 3, authorities: [soa(300, 5)] }),
      'SRV nodata.x': message({ authorities: [soa(2, 60)] }),
      'SRV dot.x': message({ answers: [srv('dot.x', '.', 80)] }),
      'SRV nosoa.x': message({ rcode: 3 }),
    });
    const gone = await firstValueFrom(resolveSrv(deps(client), 'gone.x'));
    expect(gone).toMatchObject({ instances: [], ttlMs: 5000 });
    expect(await firstValueFrom(resolveSrv(deps(client), 'nodata.x'))).toMatchObject({
      instances: [],
      ttlMs: 2000,
    });
    expect(await firstValueFrom(resolveSrv(deps(client), 'dot.x'))).toMatchObject({
      instances: [],
    });
    expect(await firstValueFrom(resolveSrv(deps(client), 'nosoa.x'))).toMatchObject({
      ttlMs: 1000,
    });
  });

  it('bounds the wait by minTtlMs and maxTtlMs', async () => {
    const { client } = stub({
      'SRV zero.x': message({
        answers: [srv('zero.x', 't.x', 80, 0)],
        additionals: [a('t.x', '10.0.0.1', 0)],
      }),
      'SRV day.x': message({
        answers: [srv('day.x', 't.x', 80, 86_400)],
        additionals: [a('t.x', '10.0.0.1', 86_400)],
      }),
    });
    expect((await firstValueFrom(resolveSrv(deps(client), 'zero.x'))).ttlMs).toBe(1000);
    expect((await firstValueFrom(resolveSrv(deps(client), 'day.x'))).ttlMs).toBe(60_000);
  });

  it('reports a target without addresses, keeping the other instances', async () => {
    const { client } = stub({
      'SRV s.x': message({
        answers: [srv('s.x', 'ok.x', 80), srv('s.x', 'none.x', 81)],
        additionals: [a('ok.x', '10.0.0.1')],
      }),
      'A none.x': message({ rcode: 3 }),
      'AAAA none.x': message({ rcode: 3 }),
    });
    const r = await firstValueFrom(resolveSrv(deps(client), 's.x'));
    expect(r.instances.map((i) => i.id)).toEqual(['10.0.0.1:80']);
    expect(r.skipped.map((e) => e.key)).toEqual(['SRV s.x -> none.x:81']);
  });

  it('fails when a question gets no answer (the set then turns stale)', async () => {
    const { client } = stub({ 'SRV s.x': message({ answers: [srv('s.x', 'far.x', 80)] }) });
    await expect(firstValueFrom(resolveSrv(deps(client), 's.x'))).rejects.toThrow(
      /no answer for A far\.x/,
    );
  });
});

describe('resolveHost', () => {
  it('makes an instance per A and AAAA address on the port', async () => {
    const { client } = stub({
      'A web.x': message({ answers: [a('web.x', '10.0.0.1', 9), a('web.x', '10.0.0.2', 30)] }),
      'AAAA web.x': message({ rcode: 0, authorities: [soa(30, 30)] }),
    });
    const r = await firstValueFrom(resolveHost(deps(client), 'web.x', 8080));
    expect(r.instances.map((i) => [i.id, i.weight, i.metadata])).toEqual([
      ['10.0.0.1:8080', 1, {}],
      ['10.0.0.2:8080', 1, {}],
    ]);
    expect(r.ttlMs).toBe(9000);
  });
});
