import { asyncScheduler, firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type {
  ConsulAnswer,
  ConsulClient,
  ConsulConfig,
  ConsulRequest,
} from '../../../../src/backends/consul/client.js';
import { consulDiscovery } from '../../../../src/backends/consul/index.js';
import { resolveConsulOptions } from '../../../../src/backends/consul/options.js';
import { consulSource, healthQuery } from '../../../../src/backends/consul/source.js';
import {
  isAuthenticationError,
  isConfigError,
  type RxdiscoError,
} from '../../../../src/core/errors.js';
import { parseRegistryUrl } from '../../../../src/registry-url.js';

const config = parseRegistryUrl('consul://127.0.0.1:8500?dc=dc1') as ConsulConfig;
const deps = (consistency?: 'stale' | 'consistent') => ({
  config,
  options: resolveConsulOptions(consistency ? { consistency } : {}, config.url, undefined),
});
const ctx = { registry: config.url, service: 'web' };

describe('healthQuery (instances$ params on consul://)', () => {
  it('asks for passing instances of the URL datacenter by default', () => {
    expect(healthQuery({}, deps(), ctx)).toEqual([
      ['passing', 'true'],
      ['dc', 'dc1'],
    ]);
  });

  it('maps passing, tags, near, dc, filter and consistency', () => {
    expect(
      healthQuery(
        {
          passing: false,
          tag: 'v2, primary',
          near: '_agent',
          dc: 'dc2',
          filter: 'Service.Meta.a == "b"',
          stale: true,
        },
        deps(),
        ctx,
      ),
    ).toEqual([
      ['tag', 'v2'],
      ['tag', 'primary'],
      ['near', '_agent'],
      ['dc', 'dc2'],
      ['filter', 'Service.Meta.a == "b"'],
      ['stale', ''],
    ]);
    expect(healthQuery({}, deps('consistent'), ctx)).toContainEqual(['consistent', '']);
    expect(healthQuery({ consistent: false }, deps('stale'), ctx)).toContainEqual(['stale', '']);
  });

  it.each([
    [{ passing: 'maybe' }, /params\.passing must be true or false/],
    [{ tags: 'v2' }, /params\.tags is not a param of consul:\/\/ watches/],
    [{ near: '' }, /params\.near must be a non-empty string/],
    [{ stale: true, consistent: true }, /cannot both be true/],
  ])('refuses %j with a ConfigError', (params, message) => {
    let caught: unknown;
    try {
      healthQuery(params, deps(), ctx);
    } catch (e) {
      caught = e;
    }
    expect(isConfigError(caught)).toBe(true);
    expect(String(caught)).toMatch(message);
  });
});

describe('resolveConsulOptions', () => {
  it('applies defaults and lets the token option win over the URL', () => {
    const o = resolveConsulOptions({ token: 'opt' }, 'consul://x', 'url');
    expect(o.token).toBe('opt');
    expect(o.blocking).toEqual({
      waitMs: 60_000,
      minIntervalMs: 50,
      ratePerSecond: 10,
      burst: 2,
      requestTimeoutMs: 10_000,
    });
    expect(resolveConsulOptions({}, 'consul://x', 'url').token).toBe('url');
  });

  it.each([
    [{ waitMs: 0 }, 'waitMs must be a number of ms from 1000 to 600000 (got 0)'],
    [{ waitMs: 601_000 }, 'waitMs must be a number of ms from 1000 to 600000 (got 601000)'],
    [{ waitMs: Number.NaN }, 'waitMs must be a number of ms'],
    [
      { minQueryIntervalMs: -1 },
      'minQueryIntervalMs must be a number of ms from 0 to 60000 (got -1)',
    ],
    [
      { requestTimeoutMs: Number.NaN },
      'requestTimeoutMs must be a number of ms from 100 to 600000',
    ],
    [{ deregisterCriticalAfterMs: 10 }, 'deregisterCriticalAfterMs must be a number of ms'],
    [{ queryRate: 0 }, 'queryRate must be a number from 0.01 to 1000 (got 0)'],
    [{ queryBurst: 0.5 }, 'queryBurst must be an integer from 1 to 100 (got 0.5)'],
    [{ consistency: 'eventual' }, "consistency must be one of 'default', 'stale', 'consistent'"],
    [
      { check: { type: 'http', url: 'http://h/health', intervalMs: -5 } },
      'check.intervalMs must be a number of ms >= 1 (got -5)',
    ],
    [{ check: { type: 'tcp', timeoutMs: Number.NaN } }, 'check.timeoutMs must be a number of ms'],
  ])('refuses %j, and so does consulDiscovery() at once', (o, message) => {
    expect(() => resolveConsulOptions(o as never, 'consul://x', undefined)).toThrow(message);
    expect(() => consulDiscovery('consul://127.0.0.1:9', o as never)).toThrow(message);
  });

  it('keeps deregisterCriticalAfterMs in seconds for Consul', () => {
    expect(
      resolveConsulOptions({ deregisterCriticalAfterMs: 90_000 }, 'consul://x', undefined)
        .deregisterCriticalAfter,
    ).toBe(90);
  });
});

describe('consulSource without a token on an agent enforcing ACLs', () => {
  const entry = JSON.stringify([
    {
      Node: { Node: 'n1', Address: '10.0.0.1' },
      Service: { ID: 'web-1', Service: 'web', Address: '10.0.0.1', Port: 8080 },
      Checks: [],
    },
  ]);
  const answer = (over: Partial<ConsulAnswer>): ConsulAnswer => ({
    status: 200,
    text: '[]',
    index: 7,
    filteredByAcls: false,
    aclDefaultPolicy: 'deny',
    ...over,
  });
  /** A fake client: the health query answers `health`, the authorize endpoint `authorize`. */
  const fake = (health: ConsulAnswer, authorize: ConsulAnswer | Error) => {
    const sent: ConsulRequest[] = [];
    const client: ConsulClient = {
      request: async (req) => {
        sent.push(req);
        if (req.path === '/v1/internal/acl/authorize') {
          if (authorize instanceof Error) throw authorize;
          return authorize;
        }
        return health;
      },
      close: () => undefined,
    };
    return { client, sent };
  };
  const first = (client: ConsulClient, token?: string) =>
    firstValueFrom(
      consulSource(
        {
          client,
          config,
          options: resolveConsulOptions(
            token === undefined ? {} : { token },
            config.url,
            undefined,
          ),
          scheduler: asyncScheduler,
        },
        'web',
        {},
      )(undefined),
    );
  const allow = (v: boolean) =>
    answer({
      text: JSON.stringify([{ Resource: 'service', Segment: 'web', Access: 'read', Allow: v }]),
    });

  it('fails with a permanent AuthenticationError when the anonymous token may not read the service', async () => {
    const { client, sent } = fake(answer({}), allow(false));
    const e = await first(client).then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(isAuthenticationError(e)).toBe(true);
    expect((e as RxdiscoError).retryable).toBe(false);
    expect((e as Error).message).toMatch(/no token was given.*may not read service 'web'/);
    expect(sent.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /v1/health/service/web',
      'POST /v1/internal/acl/authorize',
    ]);
    expect(sent[1]?.json).toEqual([{ Resource: 'service', Segment: 'web', Access: 'read' }]);
  });

  it('shows the empty set when the anonymous token may read it', async () => {
    const { client, sent } = fake(answer({}), allow(true));
    expect(await first(client)).toMatchObject({ type: 'snapshot', instances: [] });
    expect(sent).toHaveLength(2);
  });

  it.each([
    ['Consul cannot tell (404)', answer({ status: 404, text: 'not found' })],
    ['the check fails', new Error('socket hang up')],
    ['the answer is not understood', answer({ text: '{}' })],
  ])('goes on as before when %s', async (_, authorize) => {
    const { client } = fake(answer({}), authorize);
    expect(await first(client)).toMatchObject({ type: 'snapshot', instances: [] });
  });

  it.each([
    ['a token is given', answer({}), 'secret'],
    ['ACLs are not enforced', answer({ aclDefaultPolicy: 'allow' }), undefined],
    ['the agent says nothing of ACLs', answer({ aclDefaultPolicy: undefined }), undefined],
    ['the set is not empty', answer({ text: entry }), undefined],
  ])('asks nothing more when %s', async (_, health, token) => {
    const { client, sent } = fake(health, allow(false));
    expect((await first(client, token)).type).toBe('snapshot');
    expect(sent.map((r) => r.path)).toEqual(['/v1/health/service/web']);
  });
});
