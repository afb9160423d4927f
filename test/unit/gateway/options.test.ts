import { defer, firstValueFrom, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { memoryDiscovery } from '../../../src/backends/memory/index.js';
import { memoryRegistry } from '../../../src/backends/memory/store.js';
import { parseCommand } from '../../../src/cli/args.js';
import type { Discovery } from '../../../src/core/discovery.js';
import { ConfigError } from '../../../src/core/errors.js';
import { createInstance } from '../../../src/core/instance.js';
import { instanceSet } from '../../../src/core/instance-set.js';
import { BALANCER_NAMES } from '../../../src/gateway/balancer-names.js';
import { gateway } from '../../../src/gateway/index.js';
import { resolveGatewayOptions } from '../../../src/gateway/options.js';

describe('resolveGatewayOptions', () => {
  it('fills in the defaults', () => {
    const o = resolveGatewayOptions({});
    expect(o.timeoutMs).toBe(30_000);
    expect(o.trustProxy).toBe(false);
    expect(o.retryAfterS).toBe(1);
    expect(o.status).toBe(true);
    expect(o.detector).toBeDefined();
    expect(resolveGatewayOptions({ detector: false }).detector).toBeUndefined();
    expect(resolveGatewayOptions({ retryAfterMs: 1500 }).retryAfterS).toBe(2);
    expect(resolveGatewayOptions({ timeoutMs: Infinity }).timeoutMs).toBe(Infinity);
  });

  it.each(BALANCER_NAMES)('builds the %s balancer over the healthy instances', async (name) => {
    const up = createInstance({ service: 's', id: 'up', host: '10.0.0.1', port: 1 }, 'memory://');
    const down = createInstance(
      { service: 's', id: 'down', host: '10.0.0.2', port: 1, status: 'DOWN' },
      'memory://',
    );
    const factory = resolveGatewayOptions({ balancer: name }).balancer(undefined);
    const balancer = await firstValueFrom(
      factory(of(instanceSet('s', 'memory://', [up, down])), 's'),
    );
    expect(balancer.size).toBe(1);
    expect(balancer.pick()?.id).toBe('up');
  });

  it.each([
    [{ timeoutMs: 0 }, /^timeoutMs must be a number of ms > 0/],
    [{ timeoutMs: Number.NaN }, /^timeoutMs must be/],
    [{ retryAfterMs: -1 }, /^retryAfterMs must be/],
    [{ balancer: 'fastest' }, /^balancer must be one of 'round-robin', 'random'/],
    [{ trustProxy: 'yes' }, /^trustProxy must be true or false/],
    [{ status: 1 }, /^status must be true or false/],
    [{ detector: {} }, /^detector must be an OutlierDetector or false/],
  ])('refuses %o with one wording', (options, message) => {
    expect(() => resolveGatewayOptions(options as never)).toThrow(ConfigError);
    expect(() => resolveGatewayOptions(options as never)).toThrow(message);
  });
});

describe('gateway() with a refused option', () => {
  it('throws before it watches the registry', async () => {
    const d = memoryDiscovery(memoryRegistry('gateway-options'));
    let watched = 0;
    const counted: Discovery = {
      ...d,
      registry: d.registry,
      problems$: d.problems$,
      catalog$: () =>
        defer(() => {
          watched++;
          return d.catalog$();
        }),
      services$: () =>
        defer(() => {
          watched++;
          return d.services$();
        }),
    };
    expect(() => gateway(counted, { retry: { attempts: 0 } })).toThrow(/attempts must be/);
    expect(() => gateway(counted, { status: { maxClients: 0 } })).toThrow(/maxClients must be/);
    expect(watched).toBe(0);
    const gw = gateway(counted);
    expect(watched).toBe(1);
    await gw.close();
    await d.close();
  });
});

describe('rxdisco gateway arguments', () => {
  it('has defaults for every flag', () => {
    expect(parseCommand(['gateway', 'memory://'])).toEqual({
      kind: 'gateway',
      url: 'memory://',
      listen: { host: '127.0.0.1', port: 8080 },
      balancer: 'round-robin',
      timeoutMs: 30_000,
      drainMs: 10_000,
      trustProxy: false,
    });
  });

  it('reads durations with units, port 0 and IPv6 in --listen', () => {
    expect(
      parseCommand([
        'gateway',
        'memory://',
        '--listen',
        '[::1]:0',
        '--balancer',
        'ewma',
        '--timeout',
        '1500ms',
        '--drain',
        '2',
        '--trust-proxy',
      ]),
    ).toEqual({
      kind: 'gateway',
      url: 'memory://',
      listen: { host: '::1', port: 0 },
      balancer: 'ewma',
      timeoutMs: 1500,
      drainMs: 2000,
      trustProxy: true,
    });
    expect(parseCommand(['gateway', 'memory://', '--listen', '0.0.0.0:9000'])).toMatchObject({
      listen: { host: '0.0.0.0', port: 9000 },
    });
  });

  it.each([
    [['gateway'], /^URL is missing/],
    [['gateway', 'memory://', 'extra'], /^argument 'extra' is not expected by 'rxdisco gateway'/],
    [['gateway', 'memory://', '--listen', 'nowhere'], /'nowhere' is not host:port/],
    [['gateway', 'memory://', '--listen', '127.0.0.1:70000'], /has port 70000/],
    [['gateway', 'memory://', '--balancer', 'x'], /^--balancer must be one of/],
    [['gateway', 'memory://', '--timeout', '0'], /^--timeout must be/],
    [['gateway', 'memory://', '--drain', '10x'], /^--drain must be a duration/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseCommand(argv)).toThrow(ConfigError);
    expect(() => parseCommand(argv)).toThrow(message);
  });
});
