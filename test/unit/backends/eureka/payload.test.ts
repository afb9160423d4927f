/**
 * parsePayload: a Eureka payload parsed down to its instances, each left
 * as text until the copy visits it; what JSON.parse rejects is rejected.
 */
import { describe, expect, it } from 'vitest';
import {
  parsedInstance,
  parsePayload,
  UnparsedInstance,
} from '../../../../src/backends/eureka/payload.js';
import { isRegistryUnavailableError } from '../../../../src/core/errors.js';
import { fixture } from './fake-eureka.js';

/** The payload with every unparsed instance parsed: what JSON.parse gives. */
const resolve = (v: unknown): unknown => {
  if (v instanceof UnparsedInstance) return parsedInstance(v);
  if (Array.isArray(v)) return v.map(resolve);
  if (typeof v === 'object' && v !== null)
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, resolve(x)]));
  return v;
};

describe('parsePayload', () => {
  it('parses the envelope and leaves each instance as text, which parses to what JSON.parse gives', () => {
    const text = JSON.stringify(fixture('full.json'));
    const body = parsePayload(text, 'GET /apps') as {
      applications: { application: { instance: unknown[] }[] };
    };
    expect(body.applications.application[0]!.instance[0]).toBeInstanceOf(UnparsedInstance);
    expect(resolve(body)).toEqual(JSON.parse(text));
  });

  it.each([
    '{"applications":{"application":{"name":"A","instance":{"instanceId":"a"}}}}',
    '{"applications":{"application":[]},"x":[1,{"y":"}"}]}',
    '{"applications":{"application":[{"instance":[],"name":"A"}],"apps__hashcode":"UP_0_"}}',
    ' {"__proto__":{"a":1},"applications":null} ',
    '[1,2]',
    'null',
  ])('reads %s as JSON.parse does', (text) => {
    expect(resolve(parsePayload(text, 'GET /apps'))).toEqual(JSON.parse(text));
  });

  it.each([
    '{',
    '{"applications":{"application":[{"name":"A"},]}}',
    '{"applications":{"application":[{"name":"A"}}}',
    '{"applications":{},}',
    '{"applications" {}}',
    '{applications:{}}',
    '{"applications":{}} x',
    '{"applications":{"application":[{"instance":[{"a":1} {"b":2}]}]}}',
  ])('rejects %j as JSON.parse does', (text) => {
    expect(() => JSON.parse(text)).toThrow(SyntaxError);
    expect(() => resolve(parsePayload(text, 'GET /apps'))).toThrow();
  });

  it('rejects an instance that is not JSON when it is parsed, naming the request', () => {
    const body = parsePayload(
      '{"applications":{"application":[{"name":"A","instance":[{"instanceId":"a",}]}]}}',
      'GET /apps/delta',
    ) as { applications: { application: { instance: unknown[] }[] } };
    const raw = body.applications.application[0]!.instance[0];
    expect(() => parsedInstance(raw)).toThrow(/GET \/apps\/delta answered with invalid JSON/);
    try {
      parsedInstance(raw);
    } catch (e) {
      expect(isRegistryUnavailableError(e)).toBe(true);
    }
  });
});
