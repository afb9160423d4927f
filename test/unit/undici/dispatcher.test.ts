import { NEVER } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { memoryDiscovery } from '../../../src/backends/memory/index.js';
import type { Discovery } from '../../../src/core/discovery.js';
import { isConfigError, isNoInstanceError } from '../../../src/core/errors.js';
import { defaultServiceOf, discoveryDispatcher } from '../../../src/undici/index.js';

describe('defaultServiceOf()', () => {
  it('takes a single-label host name as the service, port and scheme aside', () => {
    expect(defaultServiceOf(new URL('http://users/x'))).toBe('users');
    expect(defaultServiceOf(new URL('https://billing-api:8443'))).toBe('billing-api');
    expect(defaultServiceOf(new URL('http://my_svc'))).toBe('my_svc');
  });

  it('leaves localhost, dotted names and IP addresses alone', () => {
    for (const url of [
      'http://localhost:3000',
      'http://LOCALHOST',
      'https://example.com',
      'http://10.0.0.1:8080',
      'http://[::1]:8080',
      'http://2130706433', // the URL parser turns it into 127.0.0.1
    ]) {
      expect(defaultServiceOf(new URL(url)), url).toBeUndefined();
    }
  });
});

describe('discoveryDispatcher() options', () => {
  const d = memoryDiscovery('undici-options');

  it('checks its options when made, in the one wording', () => {
    const attempt = () => discoveryDispatcher(d, { retry: { attempts: 0 } });
    expect(attempt).toThrow(/^retry\.attempts must be an integer from 1 to 100 \(got 0\)/);
    expect(() => discoveryDispatcher(d, { attemptTimeoutMs: -1 })).toThrow(
      /^attemptTimeoutMs must be/,
    );
    expect(() => discoveryDispatcher(d, { pickTimeoutMs: Number.NaN })).toThrow(
      /^pickTimeoutMs must be/,
    );
    const notFn = () =>
      discoveryDispatcher(d, { service: 'users' as unknown as (u: URL) => string | undefined });
    expect(notFn).toThrow(
      'service must be a function (got string); pass a function, or leave it out',
    );
    try {
      notFn();
    } catch (e) {
      expect(isConfigError(e)).toBe(true);
    }
    expect(() => discoveryDispatcher({} as never)).toThrow(/^discovery must be a Discovery/);
  });

  it('answers a request after close() with an error, never a hang', async () => {
    const dispatcher = discoveryDispatcher(d);
    await dispatcher.close();
    const errors: Error[] = [];
    dispatcher.dispatch(
      { origin: 'http://users', path: '/', method: 'GET' },
      { onError: (e) => errors.push(e) },
    );
    expect(errors.map((e) => e.message)).toEqual(['the discovery dispatcher is closed']);
  });
});

describe('discoveryDispatcher() without an answer from the registry', () => {
  it('fails a request after pickTimeoutMs with a NoInstanceError naming the service and registry', async () => {
    const silent = {
      registry: 'test://silent',
      instances$: () => NEVER,
    } as unknown as Discovery;
    const dispatcher = discoveryDispatcher(silent, { pickTimeoutMs: 20 });
    const error = await new Promise<Error>((resolve) => {
      dispatcher.dispatch(
        { origin: 'http://users', path: '/', method: 'GET' },
        {
          onConnect() {},
          onHeaders: () => true,
          onData: () => true,
          onComplete() {},
          onError: resolve,
        },
      );
    });
    expect(isNoInstanceError(error)).toBe(true);
    expect(error).toMatchObject({ service: 'users', registry: 'test://silent' });
    expect(error.message).toBe(
      "registry test://silent, service 'users': no instance available: no instance set arrived within 20 ms; check that the service is registered and healthy",
    );
    await dispatcher.close();
  });
});

describe('discoveryDispatcher() with a key callback', () => {
  it('fails the request (not the caller) when the key is not a string', () => {
    const d = memoryDiscovery('undici-key');
    const dispatcher = discoveryDispatcher(d, { key: () => 42 as unknown as string });
    const errors: Error[] = [];
    expect(() =>
      dispatcher.dispatch(
        { origin: 'http://users', path: '/', method: 'GET' },
        { onError: (e) => errors.push(e) },
      ),
    ).not.toThrow();
    expect(errors.map((e) => e.message)).toEqual([
      'key must be a string (got number); pass the request key as a string',
    ]);
    return dispatcher.close();
  });
});

describe('discoveryDispatcher() with throwing callbacks', () => {
  it('fails the request with what the service, key, idempotent or balancer callback threw', async () => {
    const d = memoryDiscovery('undici-throw');
    const boom = new Error('boom');
    for (const options of [
      {
        key: () => {
          throw boom;
        },
      },
      {
        idempotent: () => {
          throw boom;
        },
      },
      {
        service: () => {
          throw boom;
        },
      },
      {
        balancer: () => {
          throw boom;
        },
      },
    ]) {
      const dispatcher = discoveryDispatcher(d, options);
      const errors: Error[] = [];
      dispatcher.dispatch(
        { origin: 'http://users', path: '/', method: 'GET' },
        { onError: (e) => errors.push(e) },
      );
      expect(errors).toEqual([boom]);
      await dispatcher.close();
    }
  });
});
