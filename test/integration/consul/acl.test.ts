/**
 * ACLs (default policy deny): a wrong token or a token lacking permission
 * is a typed, permanent AuthenticationError (no endless retries), and the
 * token never shows in a URL, a message or a problem.
 */
import { firstValueFrom, lastValueFrom, toArray } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Discovery } from '../../../src/core/discovery.js';
import { isAuthenticationError, type RxdiscoError } from '../../../src/core/errors.js';
import { waitFor } from '../../conformance/suite.js';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import { type ConsulAgent, ensureConsul, startConsul } from '../../servers/consul.js';
import { registerRaw, testDiscovery } from './harness.js';

expectNoLeakedHandles();

const ROOT = 'root-token-6b1f0e';
let agent: ConsulAgent;
const opened: Discovery[] = [];
const client = (url: string, token?: string): { d: Discovery; problems: RxdiscoError[] } => {
  const problems: RxdiscoError[] = [];
  const d = testDiscovery(url, {
    ...(token === undefined ? {} : { token }),
    onProblem: (p) => problems.push(p),
  });
  opened.push(d);
  return { d, problems };
};

beforeAll(async () => {
  await ensureConsul();
  agent = await startConsul({ aclToken: ROOT });
  await registerRaw(agent, { id: 'p1', service: 'private', host: '127.0.0.1', port: 22001 });
}, 15 * 60_000);

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  await agent?.destroy();
});

const failure = async (p: Promise<unknown>): Promise<RxdiscoError> => {
  try {
    await p;
  } catch (e) {
    return e as RxdiscoError;
  }
  throw new Error('expected a failure');
};

describe('consul ACLs', () => {
  it('fails a watch with a wrong token at once with a permanent AuthenticationError', async () => {
    const { d, problems } = client(`${agent.url}?token=wrong-token-91c2`);
    const started = Date.now();
    const e = await failure(lastValueFrom(d.instances$('private').pipe(toArray())));
    expect(isAuthenticationError(e)).toBe(true);
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/403 "ACL not found"/);
    expect(Date.now() - started).toBeLessThan(5000); // no retries first
    expect(problems).toEqual([]); // nothing was retried
    const list = await failure(firstValueFrom(d.services$()));
    expect(isAuthenticationError(list)).toBe(true);
    for (const text of [e.message, String(e.stack), list.message, d.registry]) {
      expect(text).not.toContain('wrong-token-91c2');
    }
    expect(d.registry).toContain('token=***');
  });

  it('refuses a registration without a token (anonymous lacks service:write)', async () => {
    const { d } = client(agent.url);
    const e = await failure(
      firstValueFrom(d.register({ service: 'private', host: '127.0.0.1', port: 22002, id: 'p2' })),
    );
    expect(isAuthenticationError(e)).toBe(true);
    expect(e.message).toMatch(/Permission denied/);
    // Consul does not refuse anonymous reads: it filters them (an empty set)
    const set = await firstValueFrom(d.instances$('private'));
    expect(set.size).toBe(0);
    expect(set.stale).toBe(false);
  });

  it('watches and registers with the right token (option or URL)', async () => {
    const { d } = client(agent.url, ROOT);
    const reg = d
      .register({ service: 'private', host: '127.0.0.1', port: 22003, id: 'p3' }, { ttl: 3 })
      .subscribe();
    const set$ = d.instances$('private');
    await waitFor(set$, (s) => s.size === 2, 15_000, 'p1 and p3');
    const { d: byUrl } = client(`${agent.url}?token=${ROOT}`);
    const names = await waitFor(
      byUrl.services$(),
      (l) => l.names.includes('private'),
      15_000,
      'the list',
    );
    expect(names.stale).toBe(false);
    reg.unsubscribe();
    await d.settled();
    await waitFor(set$, (s) => s.size === 1, 15_000, 'p3 deregistered with the token');
  });
});
