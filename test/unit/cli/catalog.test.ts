/**
 * `rxdisco watch URL --all` and `rxdisco services URL`, run in-process on
 * memory:// with an injected context.
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { memoryRegistry } from '../../../src/backends/memory/index.js';
import { parseCommand } from '../../../src/cli/args.js';
import type { CliContext } from '../../../src/cli/context.js';
import { run } from '../../../src/cli/run.js';
import { discovery } from '../../../src/discovery.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';

expectNoLeakedHandles();

const context = () => {
  const out: string[] = [];
  const err: string[] = [];
  const stop$ = new Subject<string>();
  const ctx: CliContext = { out: (l) => out.push(l), err: (l) => err.push(l), stop$, discovery };
  return { ctx, out, err, stop: () => stop$.next('SIGTERM') };
};

const record = (service: string, id: string, port: number) => ({
  id,
  service,
  host: '127.0.0.1',
  port,
});

describe('parse', () => {
  it('parses watch --all and services', () => {
    expect(parseCommand(['watch', 'memory://', '--all', '--json'])).toEqual({
      kind: 'watch-all',
      url: 'memory://',
      json: true,
    });
    expect(parseCommand(['services', 'memory://'])).toEqual({
      kind: 'services',
      url: 'memory://',
      json: false,
    });
  });

  it('refuses a SERVICE or --explain with --all, and a missing URL, with exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['watch', 'memory://', 'hello', '--all'],
        /^rxdisco: argument 'hello' is not expected by 'rxdisco watch'; write rxdisco watch URL --all/,
      ],
      [
        ['watch', 'memory://', '--all', '--explain'],
        /^rxdisco: --explain picks within one service, not with --all/,
      ],
      [['services'], /^rxdisco: URL is missing; write rxdisco services URL/],
      [
        ['services', 'memory://', '--all'],
        /^rxdisco: option --all is unknown for 'rxdisco services'/,
      ],
    ];
    for (const [argv, message] of cases) {
      const { ctx, err } = context();
      expect(await run(argv, ctx)).toBe(2);
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(message);
    }
  });
});

describe('watch --all', () => {
  it('prints every service first, then one NDJSON line per changed service (a gone one empty)', async () => {
    const store = memoryRegistry('cli-all');
    store.put('alpha', 'a1', record('alpha', 'a1', 9001));
    store.put('beta', 'b1', record('beta', 'b1', 9002));
    const { ctx, out, err, stop } = context();
    const done = run(['watch', 'memory://cli-all', '--all', '--json'], ctx);
    await eventually(() => out.length === 2, 5000, 'both services');
    expect(out.map((l) => JSON.parse(l).service)).toEqual(['alpha', 'beta']);
    store.put('beta', 'b2', record('beta', 'b2', 9003));
    await eventually(() => out.length === 3, 5000, 'the change to beta');
    expect(JSON.parse(out[2]!)).toMatchObject({ service: 'beta', stale: false });
    expect(JSON.parse(out[2]!).instances.map((i: { id: string }) => i.id)).toEqual(['b1', 'b2']);
    store.delete('alpha', 'a1');
    await eventually(() => out.length === 4, 5000, 'alpha gone');
    expect(JSON.parse(out[3]!)).toMatchObject({ service: 'alpha', stale: false, instances: [] });
    store.setAvailable(false);
    await eventually(() => out.length === 5, 5000, 'beta stale');
    expect(JSON.parse(out[4]!)).toMatchObject({ service: 'beta', stale: true });
    store.setAvailable(true);
    stop();
    expect(await done).toBe(0);
    expect(err.filter((l) => !l.includes('warning'))).toEqual([]);
    store.reset();
  });

  it('without --json, a table per service, and says when the registry is empty', async () => {
    const { ctx, out, stop } = context();
    const done = run(['watch', 'memory://cli-all-empty', '--all'], ctx);
    await eventually(() => out.length === 1, 5000, 'the first line');
    expect(out[0]).toBe('(registry memory://cli-all-empty is empty)');
    memoryRegistry('cli-all-empty').put('gamma', 'g1', record('gamma', 'g1', 9004));
    await eventually(() => out.includes('gamma @ memory://cli-all-empty: 1 instance, fresh'));
    stop();
    expect(await done).toBe(0);
    memoryRegistry('cli-all-empty').reset();
  });
});

describe('services', () => {
  it('prints the live service names once and exits 0', async () => {
    const store = memoryRegistry('cli-services');
    store.put('zeta', 'z1', record('zeta', 'z1', 9005));
    store.put('eta', 'e1', record('eta', 'e1', 9006));
    const text = context();
    expect(await run(['services', 'memory://cli-services'], text.ctx)).toBe(0);
    expect(text.out).toEqual(['eta', 'zeta']);
    const json = context();
    expect(await run(['services', 'memory://cli-services', '--json'], json.ctx)).toBe(0);
    expect(json.out).toEqual(['["eta","zeta"]']);
    store.reset();
  });

  it('a registry that is down: its error on stderr, exit 1', async () => {
    const store = memoryRegistry('cli-services-down');
    store.setAvailable(false);
    const { ctx, out, err } = context();
    expect(await run(['services', 'memory://cli-services-down'], ctx)).toBe(1);
    expect(out).toEqual([]);
    expect(err.some((l) => /outage/.test(l))).toBe(true);
    store.setAvailable(true);
  });
});
