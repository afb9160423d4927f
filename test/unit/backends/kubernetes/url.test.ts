import { describe, expect, it } from 'vitest';
import { isConfigError } from '../../../../src/core/errors.js';
import { discovery } from '../../../../src/discovery.js';
import { parseRegistryUrl } from '../../../../src/registry-url.js';

const error = (run: () => unknown): { field?: string; message: string } => {
  try {
    run();
  } catch (e) {
    expect(isConfigError(e)).toBe(true);
    return e as { field?: string; message: string };
  }
  throw new Error('no error');
};

describe('k8s:// URLs', () => {
  it('parses the API server, the namespace and the context', () => {
    expect(parseRegistryUrl('k8s://10.0.0.1:6443?namespace=shop&context=prod')).toMatchObject({
      kind: 'k8s',
      endpoint: { host: '10.0.0.1', port: 6443 },
      namespace: 'shop',
      context: 'prod',
    });
    expect(parseRegistryUrl('k8s://[::1]')).toMatchObject({ endpoint: { host: '::1', port: 443 } });
  });

  it('takes no host at all (in-cluster service account or kubeconfig)', () => {
    expect(parseRegistryUrl('k8s://')).toMatchObject({
      kind: 'k8s',
      endpoint: undefined,
      namespace: undefined,
      context: undefined,
    });
  });

  it.each([
    ['k8s://h:6443?namespace=Shop_1', 'url.namespace'],
    ['k8s://h:6443?context=', 'url.context'],
    ['k8s://h:6443/api', 'url.path'],
    ['k8s://u:p@h:6443', 'url.userinfo'],
    ['k8s://h:6443?labels=a', 'url.labels'],
    ['k8s://h:99999', 'url.port'],
  ])('refuses %s naming %s', (url, field) => {
    expect(error(() => parseRegistryUrl(url)).field).toBe(field);
  });

  it('takes a port name or number as the only watch param, checked before the backend loads', () => {
    const d = discovery('k8s://127.0.0.1:1?namespace=x');
    expect(() => d.instances$('hello', { port: 'http' })).not.toThrow();
    expect(() => d.instances$('hello', { port: 8080 })).not.toThrow();
    expect(error(() => d.instances$('hello', { port: 'Not A Name' })).field).toBe('params.port');
    expect(error(() => d.instances$('hello', { tag: 'v2' })).field).toBe('params.tag');
    void d.close();
  });
});
