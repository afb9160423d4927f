/**
 * `consuls://` with the `ca` of the URL: the backend talks HTTPS to an agent
 * whose certificate is signed by a private CA, and refuses it without that CA.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Discovery } from '../../../src/core/discovery.js';
import { waitFor } from '../../conformance/suite.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import { type ConsulAgent, ensureConsul, startConsul } from '../../servers/consul.js';
import { registerRaw, testDiscovery } from './harness.js';

expectNoLeakedHandles();

let agent: ConsulAgent;
let dir: string;
const opened: Discovery[] = [];

/** A CA and a server certificate for 127.0.0.1 signed by it (openssl). */
const makeCertificates = (at: string): { ca: string; cert: string; key: string } => {
  const f = (name: string): string => join(at, name);
  const ssl = (...args: string[]): void => {
    execFileSync('openssl', args, { stdio: 'ignore' });
  };
  ssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=rxdisco test CA',
    '-keyout',
    f('ca-key.pem'),
    '-out',
    f('ca.pem'),
  );
  ssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=server.dc1.consul',
    '-keyout',
    f('server-key.pem'),
    '-out',
    f('server.csr'),
  );
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:server.dc1.consul\n');
  ssl(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca-key.pem'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    f('ext.cnf'),
    '-out',
    f('server.pem'),
  );
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server-key.pem') };
};

beforeAll(async () => {
  await ensureConsul();
  dir = mkdtempSync(join(tmpdir(), 'rxdisco-consul-tls-'));
  agent = await startConsul({ tls: makeCertificates(dir) });
  await registerRaw(agent, { id: 't1', service: 'tls-svc', host: '127.0.0.1', port: 25001 });
}, 15 * 60_000);

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  await agent?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('consuls://', () => {
  it('watches and registers over HTTPS with the CA of the URL', async () => {
    const url = `consuls://127.0.0.1:${agent.options.httpsPort}?ca=${encodeURIComponent(join(dir, 'ca.pem'))}`;
    const d = testDiscovery(url);
    opened.push(d);
    const reg = d
      .register({ service: 'tls-svc', host: '127.0.0.1', port: 25002, id: 't2' }, { ttlMs: 3000 })
      .subscribe();
    const set = await waitFor(d.instances$('tls-svc'), (s) => s.size === 2, 15_000, 't1 and t2');
    expect(set.instances.map((i) => i.id)).toEqual(['t1', 't2']);
    reg.unsubscribe();
    await d.settled();
  });

  it('refuses the agent without the CA (a retryable fault: the set is stale, empty)', async () => {
    const d = testDiscovery(`consuls://127.0.0.1:${agent.options.httpsPort}`);
    opened.push(d);
    const set = await firstValueFrom(d.instances$('tls-svc'));
    expect(set.stale).toBe(true);
    expect(set.stale && set.error.message).toMatch(/certificate/i);
  });
});
