import { firstValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { discovery } from '../../src/discovery.js';
import { expectNoLeakedHandles } from '../helpers/handles.js';

expectNoLeakedHandles();

describe('discovery(url)', () => {
  it('checks its options when called, not on first subscribe', () => {
    expect(() => discovery('memory://', { graceMs: -5 })).toThrow(
      /graceMs must be a number of ms >= 0 \(got -5\)/,
    );
  });

  it('rejects a bad URL at once with a ConfigError naming the part', () => {
    expect(() => discovery('zookeeper://h:2181')).toThrow(ConfigError);
    expect(() => discovery('static://h:99999')).toThrow(/url.port/);
  });

  it('serves static:// lists for any service, read-only', async () => {
    const d = discovery('static://127.0.0.1:8080,127.0.0.1:8081', { graceMs: 0 });
    const set = await firstValueFrom(d.instances$('billing'));
    expect(set.instances.map((i) => `${i.service}@${i.host}:${i.port}`)).toEqual([
      'billing@127.0.0.1:8080',
      'billing@127.0.0.1:8081',
    ]);
    expect(set.registry).toBe('static://127.0.0.1:8080,127.0.0.1:8081');
    const err = await firstValueFrom(d.register({ service: 'billing', host: 'h', port: 1 })).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toMatch(/read-only/);
    await d.close();
  });

  it('shares memory:// between discovery() calls of one process', async () => {
    const writer = discovery('memory://shared-test');
    const reader = discovery('memory://shared-test', { graceMs: 0 });
    const reg = writer.register({ service: 'hello', host: '127.0.0.1', port: 7000 }).subscribe();
    const set = await firstValueFrom(reader.instances$('hello'));
    expect(set.instances.map((i) => i.port)).toEqual([7000]);
    reg.unsubscribe();
    await Promise.all([writer.close(), reader.close()]);
  });

  it('rejects an invalid registration before contacting the registry', async () => {
    const d = discovery('memory://bad-input');
    const err = await firstValueFrom(d.register({ service: 'hello', host: '', port: 1 })).catch(
      (e: unknown) => e,
    );
    expect((err as ConfigError).field).toBe('host');
    const ttl = await firstValueFrom(
      d.register({ service: 'hello', host: 'h', port: 1 }, { ttlMs: 0 }),
    ).catch((e: unknown) => e);
    expect((ttl as ConfigError).field).toBe('ttlMs');
    expect(() => d.instances$('not a name')).toThrow(ConfigError);
    await d.close();
  });
});
