/**
 * Auth (etcd `auth enable` with a user limited to a prefix), TLS with a CA
 * and a client certificate generated here with openssl, and the typed
 * errors: a wrong password is a permanent AuthenticationError, a refused
 * connection a retryable RegistryUnavailableError.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { firstValueFrom, timeout } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Discovery } from '../../../src/core/discovery.js';
import {
  isAuthenticationError,
  isRegistryUnavailableError,
  type RxdiscoError,
} from '../../../src/core/errors.js';
import type { RegistrationEvent } from '../../../src/core/registration.js';
import { waitFor } from '../../conformance/suite.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type EtcdCluster, startEtcd } from '../../servers/etcd.js';
import { freePort } from '../../servers/process.js';
import { rawClient, testDiscovery } from './harness.js';

expectNoLeakedHandles();

const PATIENCE = 10_000;
const opened: Discovery[] = [];
const open = (url: string, problems: RxdiscoError[] = []): Discovery => {
  const d = testDiscovery(url, problems);
  opened.push(d);
  return d;
};

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
});

/** Makes a CA, a server certificate for 127.0.0.1 and a client certificate, with openssl. */
const makeCertificates = (dir: string) => {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  ssl(
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca-key.pem',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=rxdisco test CA',
  );
  const sign = (name: string, ext: string) => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    ssl('req', ...ec, '-keyout', `${name}-key.pem`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    ssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca-key.pem',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '1',
      '-extfile',
      `${name}.ext`,
    );
  };
  sign('server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  sign('client', 'extendedKeyUsage=clientAuth\n');
  return {
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server-key.pem'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client-key.pem'),
  };
};

describe('etcd auth', () => {
  let etcd: EtcdCluster;
  let root: Etcd3;

  beforeAll(async () => {
    etcd = await startEtcd();
    const setup = rawClient(etcd.endpoints);
    try {
      await setup.user('root').create('rootpw');
      await setup.user('root').addRole('root');
      await setup.role('app').create();
      await setup
        .role('app')
        .grant({ permission: 'Readwrite', range: setup.range({ prefix: '/secure/' }) });
      await setup.user('app').create('s3cret');
      await setup.user('app').addRole('app');
      await setup.auth.authEnable({});
    } finally {
      setup.close();
    }
    root = rawClient(etcd.endpoints, { auth: { username: 'root', password: 'rootpw' } });
  });

  afterAll(async () => {
    root?.close();
    await etcd?.destroy();
  });

  it('registers and watches with user:password@', async () => {
    const d = open(`etcd://app:s3cret@${etcd.endpoints[0]}/secure/`);
    expect(d.registry).not.toContain('s3cret');
    const events: RegistrationEvent[] = [];
    const reg = d
      .register({ service: 'vault', host: '127.0.0.1', port: 18200, id: 'v1' }, { ttlMs: 5000 })
      .subscribe((e) => events.push(e));
    await eventually(() => events.some((e) => e.type === 'registered'), PATIENCE, 'registered');
    const set = await waitFor(d.instances$('vault'), (s) => s.size === 1, PATIENCE, 'v1');
    expect(set.instances[0]?.id).toBe('v1');
    expect(await root.get('/secure/vault/v1').string()).not.toBeNull();
    reg.unsubscribe();
    await d.settled();
    expect(await root.get('/secure/vault/v1').string()).toBeNull();
  });

  it('fails a watch and a registration at once with a typed, non-retryable AuthenticationError on a wrong password', async () => {
    const d = open(`etcd://app:wrong@${etcd.endpoints[0]}/secure/`);
    const error = await firstValueFrom(d.instances$('vault').pipe(timeout(PATIENCE))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAuthenticationError(error)).toBe(true);
    expect((error as RxdiscoError).retryable).toBe(false);
    expect((error as RxdiscoError).message).not.toContain('wrong');
    const regError = await firstValueFrom(
      d.register({ service: 'vault', host: '127.0.0.1', port: 18201 }).pipe(timeout(PATIENCE)),
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAuthenticationError(regError)).toBe(true);
  });

  it('treats a prefix the user may not read as an authentication problem', async () => {
    const d = open(`etcd://app:s3cret@${etcd.endpoints[0]}/elsewhere/`);
    const error = await firstValueFrom(d.instances$('vault').pipe(timeout(PATIENCE))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isAuthenticationError(error)).toBe(true);
  });
});

describe('etcd TLS', () => {
  let etcd: EtcdCluster;
  let dir: string;
  let certs: ReturnType<typeof makeCertificates>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'rxdisco-etcd-tls-'));
    certs = makeCertificates(dir);
    etcd = await startEtcd({
      tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, clientCertAuth: true },
    });
  });

  afterAll(async () => {
    await etcd?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('registers and watches over etcds:// with a CA and a client certificate', async () => {
    const url = `etcds://${etcd.endpoints[0]}/tls/?ca=${certs.ca}&cert=${certs.clientCert}&key=${certs.clientKey}`;
    const d = open(url);
    const events: RegistrationEvent[] = [];
    const reg = d
      .register({ service: 'secure', host: '127.0.0.1', port: 18300, id: 't1' }, { ttlMs: 5000 })
      .subscribe((e) => events.push(e));
    const set = await waitFor(d.instances$('secure'), (s) => s.size === 1, PATIENCE, 't1');
    expect(set.stale).toBe(false);
    await eventually(() => events[0]?.type === 'registered', PATIENCE, 'the registered event');
    reg.unsubscribe();
    await d.settled();
    await waitFor(d.instances$('secure'), (s) => s.size === 0, PATIENCE, 't1 to go');
  });

  it('is not served without the client certificate (the set stays stale, retried)', async () => {
    const problems: RxdiscoError[] = [];
    const d = open(`etcds://${etcd.endpoints[0]}/tls/?ca=${certs.ca}`, problems);
    const set = await waitFor(d.instances$('secure'), () => true, PATIENCE, 'a first set');
    expect(set.stale).toBe(true);
    expect(set.stale && isRegistryUnavailableError(set.error)).toBe(true);
  });

  it('names a missing certificate file in a ConfigError', async () => {
    const d = open(`etcds://${etcd.endpoints[0]}/tls/?ca=${join(dir, 'missing.pem')}`);
    await expect(firstValueFrom(d.instances$('secure').pipe(timeout(PATIENCE)))).rejects.toThrow(
      /url\.ca cannot be read/,
    );
  });
});

describe('etcd unreachable', () => {
  it('reports a refused connection as a retryable RegistryUnavailableError on a stale set', async () => {
    const port = await freePort();
    const d = open(`etcd://127.0.0.1:${port}/nowhere/`);
    const set = await waitFor(d.instances$('ghost'), () => true, PATIENCE, 'a first set');
    expect(set.stale).toBe(true);
    expect(set.stale && set.error.retryable).toBe(true);
    expect(set.stale && isRegistryUnavailableError(set.error)).toBe(true);
  });
});
