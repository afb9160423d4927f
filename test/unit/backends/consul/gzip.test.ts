/**
 * The transport's `gzip` requests (the Consul catalog asks for gzip): the
 * answer inflated, and an answer that inflates past `maxAnswerBytes`
 * refused with an AnswerTooLargeError, on a real node:http server.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ANSWER_LIMITS, transport } from '../../../../src/backends/transport.js';

let server: Server;
let base: string;
const asked: (string | undefined)[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    asked.push(req.headers['accept-encoding']);
    const body =
      req.url === '/big' ? Buffer.alloc(4 << 20, 48) : Buffer.from('[{"Node":"n1"}]', 'utf8');
    if (req.headers['accept-encoding'] === 'gzip') {
      res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzipSync(body));
    } else res.writeHead(200).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('transport gzip', () => {
  it('asks for gzip only when told, and inflates the answer', async () => {
    const t = transport();
    try {
      const plain = await t.send({
        method: 'GET',
        url: new URL(`${base}/x`),
        headers: {},
        timeoutMs: 5000,
      });
      const zipped = await t.send({
        method: 'GET',
        url: new URL(`${base}/x`),
        headers: {},
        timeoutMs: 5000,
        gzip: true,
      });
      expect(asked.slice(-2)).toEqual([undefined, 'gzip']);
      expect(plain.text).toBe('[{"Node":"n1"}]');
      expect(zipped.text).toBe('[{"Node":"n1"}]');
      expect(zipped.bytes).toBeLessThan(plain.bytes + 30);
    } finally {
      t.close();
    }
  });

  it('refuses an answer that inflates past maxAnswerBytes', async () => {
    const t = transport({}, { ...DEFAULT_ANSWER_LIMITS, maxAnswerBytes: 1 << 20 });
    try {
      await expect(
        t.send({
          method: 'GET',
          url: new URL(`${base}/big`),
          headers: {},
          timeoutMs: 5000,
          gzip: true,
        }),
      ).rejects.toMatchObject({ name: 'AnswerTooLargeError', limit: 1 << 20 });
    } finally {
      t.close();
    }
  });
});
