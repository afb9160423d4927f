import { describe, expect, it } from 'vitest';
import { httpError } from '../../../../src/backends/consul/errors.js';
import { decodeGoMicroTags, encodeGoMicroTags } from '../../../../src/backends/consul/gomicro.js';
import { registrationBody } from '../../../../src/backends/consul/registrar.js';
import {
  isAuthenticationError,
  isConfigError,
  isRegistryUnavailableError,
} from '../../../../src/core/errors.js';
import { createInstance } from '../../../../src/core/instance.js';

const instance = (extra: Record<string, unknown> = {}) =>
  createInstance(
    {
      service: 'web',
      host: '10.0.0.1',
      port: 8080,
      id: 'web-1',
      tags: ['v2'],
      metadata: { version: '1' },
      ...extra,
    },
    'consul://127.0.0.1:8500',
  );

describe('registrationBody', () => {
  it('registers an agent service with a passing TTL check and DeregisterCriticalServiceAfter', () => {
    expect(registrationBody(instance(), 10, { type: 'ttl' }, 60)).toEqual({
      ID: 'web-1',
      Name: 'web',
      Address: '10.0.0.1',
      Port: 8080,
      Tags: ['v2', ...encodeGoMicroTags({}, '1')],
      Meta: { version: '1' },
      Weights: { Passing: 1, Warning: 1 },
      Check: {
        CheckID: 'service:web-1',
        Name: "Service 'web' check",
        TTL: '10s',
        Status: 'passing',
        Notes: 'passed by rxdisco every renewal',
        DeregisterCriticalServiceAfter: '60s',
      },
    });
  });

  it("writes the metadata as go-micro's t- tags and the version as its v- tag too", () => {
    const body = registrationBody(
      instance({ metadata: { version: '1.2.0', owner: 'team-a' }, zone: 'eu-1a' }),
      10,
      { type: 'ttl' },
      60,
    );
    const tags = body.Tags as string[];
    expect(tags[0]).toBe('v2');
    // go-micro: one t- tag per pair (not the version), one v- tag for the version
    expect(tags.filter((t) => t.startsWith('t-'))).toHaveLength(2);
    expect(tags.filter((t) => t.startsWith('v-'))).toHaveLength(1);
    expect(decodeGoMicroTags(tags)).toEqual({
      tags: ['v2'],
      metadata: { owner: 'team-a', zone: 'eu-1a', version: '1.2.0' },
      found: true,
    });
    // Spring Cloud Consul reads Meta: all of it, the version included
    expect(body.Meta).toEqual({ version: '1.2.0', owner: 'team-a', zone: 'eu-1a' });
  });

  it('writes zone, secure and weights Consul cannot hold into Meta', () => {
    const body = registrationBody(
      instance({ zone: 'eu-1a', secure: true, weight: 0.5 }),
      1.5,
      { type: 'ttl' },
      90,
    );
    expect(body.Meta).toEqual({
      version: '1',
      zone: 'eu-1a',
      secure: 'true',
      'rxdisco-weight': '0.5',
    });
    expect(body.Weights).toEqual({ Passing: 1, Warning: 1 });
    expect((body.Check as Record<string, unknown>).TTL).toBe('1500ms');
    expect(registrationBody(instance({ weight: 7 }), 10, { type: 'ttl' }, 60).Weights).toEqual({
      Passing: 7,
      Warning: 1,
    });
  });

  it('carries an HTTP or TCP check instead of the TTL check', () => {
    const http = registrationBody(
      instance(),
      10,
      { type: 'http', url: 'http://10.0.0.1:8080/health', intervalMs: 2000 },
      60,
    );
    expect(http.Check).toMatchObject({
      HTTP: 'http://10.0.0.1:8080/health',
      Interval: '2s',
      Timeout: '5s',
    });
    expect(http.Check).not.toHaveProperty('TTL');
    const tcp = registrationBody(instance(), 10, { type: 'tcp' }, 60);
    expect(tcp.Check).toMatchObject({ TCP: '10.0.0.1:8080', Interval: '10s' });
  });
});

describe('httpError', () => {
  const ctx = { registry: 'consul://127.0.0.1:8500', service: 'web' };
  it('makes 403 a permanent AuthenticationError naming what Consul said', () => {
    const e = httpError(403, 'ACL not found', 'GET /v1/health/service/web', ctx);
    expect(isAuthenticationError(e)).toBe(true);
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/ACL not found/);
  });
  it('makes 400 a permanent ConfigError and 5xx / 429 retryable', () => {
    expect(isConfigError(httpError(400, 'Invalid Service Meta', 'PUT x', ctx))).toBe(true);
    for (const status of [500, 502, 429]) {
      const e = httpError(status, 'No cluster leader', 'GET x', ctx);
      expect(isRegistryUnavailableError(e)).toBe(true);
      expect(e.retryable).toBe(true);
    }
  });
});
