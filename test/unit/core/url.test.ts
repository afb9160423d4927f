import { describe, expect, it } from 'vitest';
import { consulUrl } from '../../../src/backends/consul/url.js';
import { etcdUrl } from '../../../src/backends/etcd/url.js';
import { eurekaUrl } from '../../../src/backends/eureka/url.js';
import { ConfigError } from '../../../src/core/errors.js';
import { configOf, formatHostPort, redactUrl } from '../../../src/core/url.js';
import { parseRegistryUrl } from '../../../src/registry-url.js';

const failure = (url: string): ConfigError => {
  try {
    parseRegistryUrl(url);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error(`expected ${url} to be rejected`);
};

describe('parseRegistryUrl', () => {
  it('parses memory:// and named memory registries', () => {
    expect(parseRegistryUrl('memory://')).toMatchObject({
      kind: 'memory',
      name: '',
      url: 'memory://',
    });
    expect(parseRegistryUrl('memory://tests')).toMatchObject({ kind: 'memory', name: 'tests' });
  });

  it('parses static:// endpoint lists', () => {
    expect(parseRegistryUrl('static://10.0.0.1:80,[::1]:8080?secure=true')).toMatchObject({
      kind: 'static',
      secure: true,
      endpoints: [
        { host: '10.0.0.1', port: 80 },
        { host: '::1', port: 8080 },
      ],
    });
  });

  it('parses etcd clusters, prefix, format and credentials, redacting the password', () => {
    const c = parseRegistryUrl(
      'etcds://root:s%3Acret@h1:2379,h2:2380/micro/registry?format=gomicro&ca=/tmp/ca.pem',
    );
    expect(c).toMatchObject({
      kind: 'etcd',
      tls: true,
      endpoints: [
        { host: 'h1', port: 2379 },
        { host: 'h2', port: 2380 },
      ],
      prefix: '/micro/registry/',
      format: 'gomicro',
      username: 'root',
      password: 's:cret',
      params: { format: 'gomicro', ca: '/tmp/ca.pem' },
    });
    expect(c.url).toBe(
      'etcds://root:***@h1:2379,h2:2380/micro/registry?format=gomicro&ca=/tmp/ca.pem',
    );
    expect(parseRegistryUrl('etcd://127.0.0.1')).toMatchObject({
      prefix: '/services/',
      endpoints: [{ port: 2379 }],
    });
  });

  it('parses consul with dc and token, redacting the token', () => {
    const c = parseRegistryUrl('consul://127.0.0.1:8500?dc=dc1&token=secret');
    expect(c).toMatchObject({ kind: 'consul', tls: false, dc: 'dc1', token: 'secret' });
    expect(c.url).toBe('consul://127.0.0.1:8500?dc=dc1&token=***');
    expect(parseRegistryUrl('consuls://c')).toMatchObject({
      tls: true,
      endpoints: [{ port: 8501 }],
    });
  });

  it('parses eureka with basic auth and a default path', () => {
    expect(parseRegistryUrl('eureka://u:p@e1:8761,e2:8761')).toMatchObject({
      kind: 'eureka',
      path: '/eureka',
      username: 'u',
      password: 'p',
      endpoints: [{ host: 'e1' }, { host: 'e2' }],
    });
    expect(parseRegistryUrl('eurekas://e1/eureka/v2/')).toMatchObject({
      tls: true,
      path: '/eureka/v2',
      intervalMs: undefined,
    });
  });

  it('reads the eureka ?interval= as a duration with a unit, a bare number meaning seconds', () => {
    expect(parseRegistryUrl('eureka://h/eureka?interval=30s')).toMatchObject({
      intervalMs: 30_000,
    });
    expect(parseRegistryUrl('eureka://h/eureka?interval=250ms')).toMatchObject({ intervalMs: 250 });
    expect(parseRegistryUrl('eureka://h/eureka?interval=2m')).toMatchObject({
      intervalMs: 120_000,
    });
    expect(parseRegistryUrl('eureka://h/eureka?interval=5')).toMatchObject({ intervalMs: 5000 });
    expect(failure('eureka://h/eureka?interval=-1s').message).toContain(
      "url.interval must be a duration such as 250ms, 10s or 2m, a bare number meaning seconds (got '-1s')",
    );
  });

  it.each([
    ['', 'url'],
    ['not a url', 'url'],
    ['zookeeper://h:2181', 'url.scheme'],
    ['etcd://h:70000/', 'url.port'],
    ['etcd://h:0/', 'url.port'],
    ['etcd://h:abc/', 'url.port'],
    ['static://h', 'url.port'],
    ['static://', 'url.host'],
    ['etcd://h:2379/?format=yaml', 'url.format'],
    ['etcd://h:2379/?colour=red', 'url.colour'],
    ['consul://u:p@h', 'url.userinfo'],
    ['memory://a/b', 'url.path'],
    ['static://h:1?secure=maybe', 'url.secure'],
    ['eureka://h/eureka?interval=0', 'url.interval'],
    ['eureka://h/eureka?interval=soon', 'url.interval'],
    ['eureka://h/eureka?interval=10x', 'url.interval'],
    ['eureka://h/eureka?interval=0s', 'url.interval'],
    ['etcd://h a:2379/', 'url.host'],
  ])('rejects %j naming %s', (url, field) => {
    const e = failure(url);
    expect(e.field).toBe(field);
    expect(e.retryable).toBe(false);
  });

  it('never puts a password in an error message', () => {
    expect(failure('etcd://root:hunter2@h:99999/').message).not.toContain('hunter2');
  });
});

describe('configOf', () => {
  it('accepts a URL or a parsed config of the grammar, and rejects another kind naming its schemes', () => {
    expect(configOf(etcdUrl, 'etcd://h:2379').prefix).toBe('/services/');
    const parsed = parseRegistryUrl('consul://h:8500');
    expect(configOf(consulUrl, parsed)).toBe(parsed);
    expect(() => configOf(eurekaUrl, 'consul://h:8500')).toThrow(
      "url.scheme 'consul://h:8500' is not a Eureka URL; use eureka:// or eurekas://",
    );
    expect(() => configOf(eurekaUrl, parsed)).toThrow(ConfigError);
  });

  it('checks the URL with the grammar it is given', () => {
    expect(() => configOf(etcdUrl, 'etcd://h:2379/?format=yaml')).toThrow('url.format');
  });
});

describe('the generic helpers', () => {
  it('brackets IPv6 hosts, and only those', () => {
    expect(formatHostPort('::1', 8080)).toBe('[::1]:8080');
    expect(formatHostPort('10.0.0.1', 80)).toBe('10.0.0.1:80');
  });

  it('redacts passwords and tokens', () => {
    expect(redactUrl('etcd://u:p@h:1/')).toBe('etcd://u:***@h:1/');
    expect(redactUrl('consul://h?dc=a&token=t')).toBe('consul://h?dc=a&token=***');
  });
});
