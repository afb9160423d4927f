import { describe, expect, it } from 'vitest';
import { readTarget } from '../../../src/gateway/target.js';

describe('readTarget', () => {
  it('splits the service from the path and keeps the rest as written', () => {
    expect(readTarget('/users/42/x?full=1&q=%2F')).toEqual({
      kind: 'service',
      service: 'users',
      path: '/42/x?full=1&q=%2F',
    });
    expect(readTarget('/users')).toEqual({ kind: 'service', service: 'users', path: '/' });
    expect(readTarget('/users?q=1')).toEqual({ kind: 'service', service: 'users', path: '/?q=1' });
    expect(readTarget('/users/a%2Fb')).toEqual({
      kind: 'service',
      service: 'users',
      path: '/a%2Fb',
    });
    expect(readTarget('/Users.v2_x-y/')).toEqual({
      kind: 'service',
      service: 'Users.v2_x-y',
      path: '/',
    });
  });

  it("keeps /-/ for the gateway's own pages and says when no service is named", () => {
    expect(readTarget('/-/healthy')).toEqual({ kind: 'own', path: '/healthy' });
    expect(readTarget('/')).toEqual({ kind: 'none' });
    expect(readTarget('/?x=1')).toEqual({ kind: 'none' });
    expect(readTarget('//x')).toEqual({ kind: 'none' });
  });

  it.each([
    ['/../admin', /dot segment/],
    ['/./users/x', /dot segment/],
    ['/users/../admin', /dot segment/],
    ['/users/x/..', /dot segment/],
    ['/%2e%2e/admin', /dot segment/],
    ['/users/%2E%2e/admin', /dot segment/],
    ['/users/.%2e/admin', /dot segment/],
    ['/users%2fadmin/x', /percent-encoded/],
    ['/users%2Fadmin/x', /percent-encoded/],
    ['/users%5cadmin/x', /percent-encoded/],
    ['/us%65rs/x', /percent-encoded/],
    ['/users\\admin/x', /backslash/],
    ['/us@ers/x', /not a service name/],
    ['/-users/x', /not a service name/],
    ['http://users/x', /origin form/],
    ['*', /origin form/],
    ['', /origin form/],
  ])('refuses %s', (url, reason) => {
    const t = readTarget(url);
    expect(t.kind).toBe('refused');
    expect(t.kind === 'refused' ? t.reason : '').toMatch(reason);
  });

  it('lets dots that are not whole segments through', () => {
    expect(readTarget('/users/a..b/.hidden/x.')).toEqual({
      kind: 'service',
      service: 'users',
      path: '/a..b/.hidden/x.',
    });
    expect(readTarget('/users/x?path=../y')).toEqual({
      kind: 'service',
      service: 'users',
      path: '/x?path=../y',
    });
  });
});
