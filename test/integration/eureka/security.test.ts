/**
 * `eurekas://` with a CA file (`?ca=`) and basic auth in the URL, against
 * our Eureka server speaking https only and requiring HTTP basic auth.
 * The certificates are made for this file with openssl.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { firstValueFrom } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Discovery } from '../../../src/core/discovery.js';
import {
  isAuthenticationError,
  isRegistryUnavailableError,
  type RxdiscoError,
} from '../../../src/core/errors.js';
import { waitFor } from '../../conformance/suite.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type EurekaServer, startEureka } from '../../servers/eureka.js';
import { testDiscovery } from './harness.js';

vi.setConfig({ testTimeout: 60_000, hookTimeout: 120_000 });
expectNoLeakedHandles();

const PATIENCE = 20_000;
let dir: string;
let server: EurekaServer;
const opened: Discovery[] = [];
const open = (d: Discovery): Discovery => {
  opened.push(d);
  return d;
};

const openssl = (...args: string[]): void => {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'rxdisco-eureka-tls-'));
  openssl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '2',
    '-subj',
    '/CN=rxdisco test CA',
  );
  openssl(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
    '-subj',
    '/CN=127.0.0.1',
  );
  writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'server.pem',
    '-days',
    '2',
    '-extfile',
    'san.ext',
  );
  server = await startEureka({
    tls: { cert: join(dir, 'server.pem'), key: join(dir, 'server.key') },
    properties: {
      'rxdisco.auth': true,
      'spring.security.user.name': 'eureka',
      'spring.security.user.password': 's3cret',
    },
  });
});

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const url = (userinfo: string, query: string): string =>
  `eurekas://${userinfo}127.0.0.1:${server.port}/eureka${query}`;

describe('Eureka over TLS with basic auth', () => {
  it('registers and watches over https, trusting the CA file, with credentials from the URL', async () => {
    const d = open(testDiscovery(url('eureka:s3cret@', `?ca=${join(dir, 'ca.pem')}`)));
    expect(d.registry).not.toContain('s3cret');
    const reg = d
      .register({ service: 'secure', host: '127.0.0.1', port: 18300, id: 't1' }, { ttlMs: 15_000 })
      .subscribe();
    const set = await waitFor(
      d.instances$('secure'),
      (s) => s.size === 1,
      PATIENCE,
      't1 over https',
    );
    expect(set.stale).toBe(false);
    expect(set.instances[0]).toMatchObject({ id: 't1', port: 18300, registry: d.registry });
    reg.unsubscribe();
    await d.settled();
    await waitFor(d.instances$('secure'), (s) => s.size === 0, PATIENCE, 't1 deregistered');
  });

  it('fails the stream with an AuthenticationError when the password is wrong', async () => {
    const d = open(testDiscovery(url('eureka:wrong@', `?ca=${join(dir, 'ca.pem')}`)));
    const error = await firstValueFrom(d.instances$('secure')).catch((e: unknown) => e);
    expect(isAuthenticationError(error)).toBe(true);
    expect((error as RxdiscoError).retryable).toBe(false);
    const reg = await firstValueFrom(
      d.register({ service: 'secure', host: '127.0.0.1', port: 18301 }, { ttlMs: 15_000 }),
    ).catch((e: unknown) => e);
    expect(isAuthenticationError(reg)).toBe(true);
  });

  it('does not trust the server without the CA: stale, reported, retried', async () => {
    const problems: RxdiscoError[] = [];
    const d = open(testDiscovery(url('eureka:s3cret@', ''), problems));
    const sub = d.instances$('secure').subscribe();
    const set = await waitFor(d.instances$('secure'), () => true, PATIENCE, 'a first set');
    expect(set.stale).toBe(true);
    await eventually(() => problems.length >= 2, PATIENCE, 'retries');
    sub.unsubscribe();
    expect(problems.every(isRegistryUnavailableError)).toBe(true);
    expect(problems[0]!.message).toMatch(/certificate|self.signed|UNABLE_TO_VERIFY/i);
  });
});
