/**
 * A secure instance is called over https (its pool verifies the instance's
 * certificate with the CA given in the pool options), whatever the scheme
 * of the request.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { memoryDiscovery } from '../../../src/backends/memory/index.js';
import { memoryRegistry } from '../../../src/backends/memory/store.js';
import { toRecord } from '../../../src/core/codecs.js';
import { createInstance } from '../../../src/core/instance.js';
import { discoveryDispatcher } from '../../../src/undici/index.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';

expectNoLeakedHandles();

let dir: string;
let cert: { cert: string; key: string };
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rxdisco-undici-tls-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  cert = {
    cert: readFileSync(join(dir, 'cert.pem'), 'utf8'),
    key: readFileSync(join(dir, 'key.pem'), 'utf8'),
  };
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('calls a secure instance over https, its certificate checked against the pool’s CA', async () => {
  const server = createServer(cert, (req, res) =>
    res.end(`tls ${(req.socket as { encrypted?: boolean }).encrypted === true} ${req.url}`),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const store = memoryRegistry('undici-tls');
  store.put(
    'secure',
    's1',
    toRecord(
      createInstance(
        { service: 'secure', id: 's1', host: '127.0.0.1', port, secure: true },
        'memory://undici-tls',
      ),
    ),
  );
  const d = memoryDiscovery(store, { graceMs: 10 });
  const dispatcher = discoveryDispatcher(d, { pool: { connect: { ca: cert.cert } } });
  try {
    const res = await request('http://secure/x', { dispatcher });
    expect(`${res.statusCode} ${await res.body.text()}`).toBe('200 tls true /x');
    // without the CA, the certificate is refused (and the error says so)
    const strict = discoveryDispatcher(d, { retry: 1 });
    const error = await request('http://secure/x', { dispatcher: strict }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    await strict.close();
    expect(String((error?.cause as Error | undefined)?.message ?? error)).toMatch(
      /self[- ]signed/i,
    );
  } finally {
    await dispatcher.close();
    await d.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});
