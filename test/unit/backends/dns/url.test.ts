/**
 * The dns+srv:// and dns:// grammars, their options, the params of
 * instances$() on them, and register() refused: all checked before any
 * resolver is loaded or asked.
 */
import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { systemResolvers } from '../../../../src/backends/dns/client.js';
import { dnsDiscovery } from '../../../../src/backends/dns/index.js';
import { isConfigError } from '../../../../src/core/errors.js';
import { discovery } from '../../../../src/discovery.js';
import { parseRegistryUrl } from '../../../../src/registry-url.js';

describe('dns+srv:// and dns:// URLs', () => {
  it('parse resolvers, TTL bounds and the deadline as durations (a bare number is seconds)', () => {
    expect(
      parseRegistryUrl('dns+srv://127.0.0.1:8600,[::1]/?minTtl=500ms&maxTtl=2m&timeout=3'),
    ).toMatchObject({
      kind: 'dns+srv',
      resolvers: [
        { host: '127.0.0.1', port: 8600 },
        { host: '::1', port: 53 },
      ],
      minTtlMs: 500,
      maxTtlMs: 120_000,
      timeoutMs: 3000,
      secure: false,
    });
    expect(parseRegistryUrl('dns://10.0.0.2/?port=8080&secure=true')).toMatchObject({
      kind: 'dns',
      resolvers: [{ host: '10.0.0.2', port: 53 }],
      port: 8080,
      secure: true,
    });
  });

  it('without a resolver mean the system’s, read from getServers()', () => {
    expect(parseRegistryUrl('dns+srv://')).toMatchObject({ resolvers: [] });
    expect(parseRegistryUrl('dns:///?port=80')).toMatchObject({ resolvers: [], port: 80 });
    expect(systemResolvers(['127.0.0.53', '10.0.0.1:5353', '::1', '[fe80::1]:5300'])).toEqual([
      { host: '127.0.0.53', port: 53 },
      { host: '10.0.0.1', port: 5353 },
      { host: '::1', port: 53 },
      { host: 'fe80::1', port: 5300 },
    ]);
  });

  it.each([
    ['dns+srv://h/?minTtl=10x', 'url.minTtl', /must be a duration/],
    ['dns+srv://h/?minTtl=10s&maxTtl=1s', 'url.minTtl', /must be at most maxTtl/],
    ['dns+srv://h/?timeout=0', 'url.timeout', /must be a duration > 0/],
    ['dns+srv://h/?port=80', 'url.port', /is not an option of dns\+srv:\/\//],
    ['dns://h/?port=0', 'url.port', /must be a port from 1 to 65535/],
    ['dns+srv://h/services', 'url.path', /is not used/],
    ['dns+srv://u:p@h/', 'url.userinfo', /is not used/],
  ])('reject %s naming %s', (url, field, message) => {
    const error = (() => {
      try {
        parseRegistryUrl(url);
      } catch (e) {
        return e;
      }
    })();
    expect(isConfigError(error)).toBe(true);
    expect(error).toMatchObject({ field });
    expect((error as Error).message).toMatch(message);
  });
});

describe('DNS discoveries', () => {
  it('take SRV names as services, leading underscore included', () => {
    const d = discovery('dns+srv://127.0.0.1:8600/');
    expect(() => d.instances$('_http._tcp.hello.example')).not.toThrow();
    expect(() => d.instances$('hello.service.consul')).not.toThrow();
  });

  it('check the port of a dns:// watch when instances$() is called', () => {
    const none = discovery('dns://127.0.0.1/');
    expect(() => none.instances$('hello.example')).toThrow(/params\.port is missing/);
    expect(() => none.instances$('hello.example', { port: 8080 })).not.toThrow();
    expect(() => none.instances$('hello.example', { port: '8080' })).not.toThrow();
    expect(() => none.instances$('hello.example', { port: 70_000 })).toThrow(
      /params\.port must be a port from 1 to 65535 \(got 70000\)/,
    );
    const withPort = discovery('dns://127.0.0.1/?port=80');
    expect(() => withPort.instances$('hello.example')).not.toThrow();
    expect(() => discovery('dns+srv://h/').instances$('x', { port: 80 })).toThrow(
      /params\.port is not a param of dns\+srv:\/\/ watches/,
    );
  });

  it('refuse register() with a ConfigError that says where to register, without asking DNS', async () => {
    for (const url of ['dns+srv://127.0.0.1:1/', 'dns://127.0.0.1:1/?port=80']) {
      const error = await firstValueFrom(
        discovery(url).register({ service: 'hello', host: '127.0.0.1', port: 8080 }),
      ).catch((e: unknown) => e);
      expect(isConfigError(error)).toBe(true);
      expect((error as Error).message).toMatch(/read-only/);
      expect((error as Error).message).toMatch(
        /register in the registry that serves these records \(consul:\/\//,
      );
    }
  });

  it('check their options when made, with the one wording', () => {
    expect(() => dnsDiscovery('dns+srv://h/', { minTtlMs: -1 })).toThrow(
      /minTtlMs must be a number of ms >= 0 \(got -1\)/,
    );
    expect(() => dnsDiscovery('dns+srv://h/', { minTtlMs: 5000, maxTtlMs: 1000 })).toThrow(
      /minTtlMs must be at most maxTtlMs/,
    );
    expect(() => dnsDiscovery('dns+srv://h/', { udpPayloadSize: 100 })).toThrow(
      /udpPayloadSize must be an integer from 512 to 65535 \(got 100\)/,
    );
    expect(() => dnsDiscovery('consul://h:8500')).toThrow(
      /is not a DNS URL; use dns\+srv:\/\/ or dns:\/\//,
    );
  });
});
