/**
 * ACLs (default policy deny): a wrong token, a token lacking permission or
 * a missing token is a typed, permanent AuthenticationError (no endless
 * retries, no silently empty set), and the token never shows in a URL, a
 * message or a problem. An agent without ACLs, or whose anonymous token may
 * read, is unaffected.
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
const ANONYMOUS = '00000000-0000-0000-0000-000000000002';
let agent: ConsulAgent;
let plain: ConsulAgent;
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
  [agent, plain] = await Promise.all([startConsul({ aclToken: ROOT }), startConsul()]);
  await registerRaw(agent, { id: 'p1', service: 'private', host: '127.0.0.1', port: 22001 });
  await registerRaw(agent, { id: 'o1', service: 'open', host: '127.0.0.1', port: 22011 });
  await registerRaw(plain, { id: 'p1', service: 'private', host: '127.0.0.1', port: 22001 });
}, 15 * 60_000);

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  await Promise.all([agent?.destroy(), plain?.destroy()]);
});

/** Gives Consul's anonymous token (used for requests without a token) these rules. */
const anonymousRules = async (name: string, rules: string): Promise<void> => {
  const policy = await agent.api('PUT', '/v1/acl/policy', { Name: name, Rules: rules });
  expect(policy.status).toBe(200);
  const { ID } = JSON.parse(policy.text) as { ID: string };
  const token = await agent.api('PUT', `/v1/acl/token/${ANONYMOUS}`, {
    Description: 'Anonymous Token',
    Policies: [{ ID }],
  });
  expect(token.status).toBe(200);
};

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
  });

  it('fails a watch without a token at once instead of showing an empty set', async () => {
    // Consul does not refuse anonymous reads, it filters them (200 [] with no
    // X-Consul-Results-Filtered-By-ACLs header): rxdisco asks Consul whether
    // the anonymous token may read the service, and fails the watch.
    const { d, problems } = client(agent.url);
    const started = Date.now();
    const e = await failure(lastValueFrom(d.instances$('private').pipe(toArray())));
    expect(isAuthenticationError(e)).toBe(true);
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/ACLs are enforced .* no token was given/);
    expect(e.message).toMatch(/may not read service 'private'/);
    expect(e.message).toMatch(/\?token=/);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(problems).toEqual([]);
    // also for a service nobody registered: the anonymous token may read nothing
    const none = await failure(firstValueFrom(d.instances$('nobody-here')));
    expect(isAuthenticationError(none)).toBe(true);
    // and the catalog (what watches past catalogViewsPast are views of)
    const catalog = await failure(firstValueFrom(d.catalog$()));
    expect(isAuthenticationError(catalog)).toBe(true);
    expect(catalog.retryable).toBe(false);
    expect(catalog.message).toMatch(
      /no token was given: the anonymous token may not read the services/,
    );
  });

  it('watches and registers with the right token (option or URL)', async () => {
    const { d } = client(agent.url, ROOT);
    const reg = d
      .register({ service: 'private', host: '127.0.0.1', port: 22003, id: 'p3' }, { ttlMs: 3000 })
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

  it('leaves watches without a token alone when the anonymous token may read', async () => {
    // runs last: it changes the anonymous token of the shared agent
    await anonymousRules(
      'anonymous-reads-open',
      'service "open" { policy = "read" }\nnode_prefix "" { policy = "read" }',
    );
    const { d, problems } = client(agent.url);
    const open = await waitFor(d.instances$('open'), (s) => s.size === 1, 15_000, 'o1');
    expect(open.get('o1')?.port).toBe(22011);
    expect(open.stale).toBe(false);
    // still refused, per service: 'private' is not readable by the anonymous token
    const e = await failure(firstValueFrom(d.instances$('private')));
    expect(isAuthenticationError(e)).toBe(true);
    await anonymousRules(
      'anonymous-reads-all',
      'service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }',
    );
    const { d: d2 } = client(agent.url);
    const set = await waitFor(d2.instances$('private'), (s) => s.size === 1, 15_000, 'p1');
    expect(set.get('p1')).toBeDefined();
    // a legitimately empty service is an empty, fresh set, not an error
    const empty = await firstValueFrom(d2.instances$('nobody-here'));
    expect(empty.size).toBe(0);
    expect(empty.stale).toBe(false);
    expect(problems).toEqual([]);
  });

  it('is unaffected on an agent without ACLs', async () => {
    const { d, problems } = client(plain.url);
    const set = await waitFor(d.instances$('private'), (s) => s.size === 1, 15_000, 'p1');
    expect(set.stale).toBe(false);
    const empty = await firstValueFrom(d.instances$('nobody-here'));
    expect(empty.size).toBe(0);
    expect(empty.stale).toBe(false);
    expect(problems).toEqual([]);
  });
});
