import { describe, expect, it } from 'vitest';
import { isConfigError } from '../../../../src/core/errors.js';
import { parseRegistryUrl } from '../../../../src/registry-url.js';

const error = (url: string): { field?: string; message: string } => {
  try {
    parseRegistryUrl(url);
  } catch (e) {
    expect(isConfigError(e)).toBe(true);
    return e as { field?: string; message: string };
  }
  throw new Error(`${url} parsed`);
};

describe('zk:// URLs', () => {
  it('parses the ensemble, the base path and the format', () => {
    expect(
      parseRegistryUrl('zk://10.0.0.1:2181,10.0.0.2,[::1]:2182/apps/services/?format=gokit'),
    ).toMatchObject({
      kind: 'zookeeper',
      endpoints: [
        { host: '10.0.0.1', port: 2181 },
        { host: '10.0.0.2', port: 2181 },
        { host: '::1', port: 2182 },
      ],
      base: '/apps/services',
      format: 'gokit',
    });
  });

  it('defaults to /services (Spring Cloud Zookeeper and Curator examples) and the curator layout', () => {
    expect(parseRegistryUrl('zk://127.0.0.1')).toMatchObject({
      base: '/services',
      format: 'curator',
    });
  });

  it('refuses an unknown format, the root as base, user info and unknown parameters', () => {
    expect(error('zk://h:2181/s?format=json').message).toMatch(
      /url\.format must be curator or gokit \(got 'json'\)/,
    );
    expect(error('zk://h:2181/').message).toMatch(/url\.base/);
    expect(error('zk://h:2181/a/../b').message).toMatch(/url\.base/);
    expect(error('zk://u:p@h:2181/s').message).toMatch(/digest auth/);
    expect(error('zk://h:2181/s?dc=1').message).toMatch(/dc/);
  });
});
