/**
 * The commands run in-process with an injected context: output, exit
 * statuses, stopping, and everything released afterwards.
 */
import { EMPTY, NEVER, Subject, throwError } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { memoryRegistry } from '../../../src/backends/memory/index.js';
import { parseCommand, type RegisterCommand, type WatchCommand } from '../../../src/cli/args.js';
import type { CliContext } from '../../../src/cli/context.js';
import { DEMO_TIMING, runDemo } from '../../../src/cli/demo.js';
import { runRegister } from '../../../src/cli/register.js';
import { run } from '../../../src/cli/run.js';
import { runWatch } from '../../../src/cli/watch.js';
import type { Discovery } from '../../../src/core/discovery.js';
import { AuthenticationError } from '../../../src/core/errors.js';
import { discovery } from '../../../src/discovery.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';

expectNoLeakedHandles();

const context = (over: Partial<CliContext> = {}) => {
  const out: string[] = [];
  const err: string[] = [];
  const stop$ = new Subject<string>();
  const ctx: CliContext = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    stop$,
    discovery,
    ...over,
  };
  return { ctx, out, err, stop: () => stop$.next('SIGTERM') };
};

const failing = (error: Error): Discovery => ({
  registry: 'etcd://127.0.0.1:2379/services/',
  instances$: () => throwError(() => error),
  services$: () => NEVER,
  catalog$: () => throwError(() => error),
  register: () => throwError(() => error),
  problems$: EMPTY,
  settled: async () => undefined,
  close: async () => undefined,
});

const auth = new AuthenticationError('user root: bad password', {
  registry: 'etcd://127.0.0.1:2379/services/',
});

describe('runWatch', () => {
  it('prints NDJSON until stopped, then resolves 0', async () => {
    const { ctx, out, err, stop } = context();
    const cmd = parseCommand([
      'watch',
      'static://127.0.0.1:8080,127.0.0.1:8081',
      'hello',
      '--json',
    ]);
    const done = runWatch(cmd as WatchCommand, ctx);
    await eventually(() => out.length === 1, 5000, 'the first line');
    expect(JSON.parse(out[0]!)).toMatchObject({ service: 'hello', stale: false });
    stop();
    expect(await done).toBe(0);
    expect(err).toEqual([]);
  });

  it('prints every change and marks stale sets, with why', async () => {
    const registry = memoryRegistry('cli-watch');
    const { ctx, out, stop } = context();
    const done = runWatch(
      parseCommand(['watch', 'memory://cli-watch', 'hello']) as WatchCommand,
      ctx,
    );
    await eventually(() => out.includes('hello @ memory://cli-watch: 0 instances, fresh'));
    const lease = registry.grant(10_000);
    registry.put(
      'hello',
      'h1',
      { id: 'h1', service: 'hello', host: '127.0.0.1', port: 9000 },
      lease,
    );
    await eventually(() => out.includes('hello @ memory://cli-watch: 1 instance, fresh'));
    registry.setAvailable(false);
    await eventually(() =>
      out.some((l) => /1 instance, STALE since \S+Z \(\d+s\): .*outage/.test(l)),
    );
    registry.setAvailable(true);
    registry.revoke(lease);
    stop();
    expect(await done).toBe(0);
  });

  it('with --explain, prints a round-robin pick and why after each set', async () => {
    const { ctx, out, stop } = context();
    const cmd = parseCommand([
      'watch',
      'static://127.0.0.1:8080,127.0.0.1:8081',
      'hello',
      '--json',
      '--explain',
    ]);
    const done = runWatch(cmd as WatchCommand, ctx);
    await eventually(() => out.length === 2, 5000, 'the set and its explanation');
    const { explain } = JSON.parse(out[1]!);
    expect(explain).toMatchObject({
      service: 'hello',
      size: 2,
      picked: { address: expect.stringMatching(/^127\.0\.0\.1:808[01]$/) },
      balancer: { kind: 'roundRobin' },
    });
    expect(explain.balancer.candidates.map((c: { address: string }) => c.address)).toEqual([
      '127.0.0.1:8080',
      '127.0.0.1:8081',
    ]);
    stop();
    expect(await done).toBe(0);

    const text = context();
    const plain = runWatch(
      parseCommand(['watch', 'static://127.0.0.1:8080', 'hello', '--explain']) as WatchCommand,
      text.ctx,
    );
    await eventually(() => text.out.some((l) => l.startsWith('explain: ')), 5000, 'the text');
    expect(text.out).toContain(
      'explain: roundRobin picked 127.0.0.1:8080 (127.0.0.1:8080): every instance in turn, in id order (weights ignored)',
    );
    expect(text.out).toContain('  candidate 127.0.0.1:8080 127.0.0.1:8080 weight 1');
    text.stop();
    expect(await plain).toBe(0);
  });

  it('resolves 1 with one line on stderr when the stream fails for good', async () => {
    const { ctx, out, err } = context({ discovery: () => failing(auth) });
    const cmd = parseCommand(['watch', 'etcd://127.0.0.1:2379/services/', 'hello', '--json']);
    expect(await runWatch(cmd as WatchCommand, ctx)).toBe(1);
    expect(out).toEqual([]);
    expect(err).toEqual([`rxdisco: ${auth.message}`]);
  });
});

describe('runRegister', () => {
  it('registers, is seen, deregisters when stopped, resolves 0', async () => {
    const { ctx, out, err, stop } = context();
    const cmd = parseCommand([
      'register',
      'memory://cli-register',
      'hello',
      '127.0.0.1:9000',
      '--ttl',
      '3',
      '--json',
    ]);
    const seen = discovery('memory://cli-register', { graceMs: 0 });
    const sets: number[] = [];
    const sub = seen.instances$('hello').subscribe((s) => sets.push(s.size));
    const done = runRegister(cmd as RegisterCommand, ctx);
    await eventually(() => out.length === 1 && sets.at(-1) === 1, 5000, 'the registration');
    expect(JSON.parse(out[0]!)).toMatchObject({ type: 'registered', id: '127.0.0.1:9000' });
    stop();
    expect(await done).toBe(0);
    expect(JSON.parse(out.at(-1)!)).toMatchObject({ type: 'deregistered', id: '127.0.0.1:9000' });
    expect(sets.at(-1)).toBe(0);
    expect(err).toEqual([expect.stringMatching(/^rxdisco: note: memory:\/\/ is in-process/)]);
    sub.unsubscribe();
    await seen.close();
  });

  it('resolves 2 for a read-only registry and 1 for a refused login', async () => {
    const ro = context();
    const cmd = parseCommand(['register', 'static://127.0.0.1:1', 'hello', '127.0.0.1:9000']);
    expect(await runRegister(cmd as RegisterCommand, ro.ctx)).toBe(2);
    expect(ro.err).toEqual([expect.stringMatching(/^rxdisco: .*read-only/)]);

    const refused = context({ discovery: () => failing(auth) });
    expect(await runRegister(cmd as RegisterCommand, refused.ctx)).toBe(1);
    expect(refused.err).toEqual([`rxdisco: ${auth.message}`]);
  });
});

describe('run', () => {
  it('prints the usage on --help and resolves 0', async () => {
    const { ctx, out, err } = context();
    expect(await run(['--help'], ctx)).toBe(0);
    expect(out[0]).toMatch(/^Usage: rxdisco <command>/);
    expect(err).toEqual([]);
  });

  it('prints one line and resolves 2 on bad arguments', async () => {
    const { ctx, out, err } = context();
    expect(await run(['watch', 'memory://'], ctx)).toBe(2);
    expect(out).toEqual([]);
    expect(err).toEqual([
      'rxdisco: SERVICE is missing; write rxdisco watch URL SERVICE [--json] [--explain] (see rxdisco --help)',
    ]);
  });

  it('prints the version', async () => {
    const { ctx, out } = context();
    expect(await run(['--version'], ctx, { version: '1.2.3' })).toBe(0);
    expect(out).toEqual(['1.2.3']);
  });
});

describe('runDemo', () => {
  const fast = {
    ...DEMO_TIMING,
    callEveryMs: 10,
    reportEveryMs: 200,
    beforeStopMs: 300,
    deregisterAfterMs: 100,
    afterStopMs: 300,
    ttlMs: 1000,
  };

  it('tells the story, loses no call and releases everything', async () => {
    const { ctx, out, err } = context();
    expect(await runDemo({ kind: 'demo', registry: 'memory://cli-demo' }, ctx, fast)).toBe(0);
    expect(err).toEqual([]);
    const text = out.join('\n');
    for (const name of ['hello-1', 'hello-2', 'hello-3']) {
      expect(text).toMatch(
        new RegExp(`\\[demo\\] ${name} \\(hello@127\\.0\\.0\\.1:\\d+\\) registered`),
      );
      expect(text).toMatch(
        new RegExp(`\\[demo\\] ${name} \\(hello@127\\.0\\.0\\.1:\\d+\\) deregistered`),
      );
    }
    expect(text).toContain(
      '[client] live set changed: hello @ memory://cli-demo: 3 instances, fresh',
    );
    expect(text).toContain(
      '[client] live set changed: hello @ memory://cli-demo: 2 instances, fresh',
    );
    expect(out.find((l) => l.startsWith('[summary] ') && l.includes(' calls: '))).toMatch(
      /^\[summary\] (\d+) calls: \1 ok, 0 failed/,
    );
    expect(out.at(-1)).toMatch(/^\[demo\] .*registry closed/);
  });

  it('stops early on the stop signal and still releases everything', async () => {
    const { ctx, out, stop } = context();
    const done = runDemo({ kind: 'demo', registry: 'memory://cli-demo-stop' }, ctx, fast);
    await eventually(() => out.some((l) => l.startsWith('[client] calling')), 5000, 'the calls');
    stop();
    expect(await done).toBe(0);
    expect(out).toContain('[demo] interrupted: releasing everything');
  });

  it('resolves 2 for a read-only registry', async () => {
    const { ctx, err } = context();
    expect(await runDemo({ kind: 'demo', registry: 'static://127.0.0.1:1' }, ctx, fast)).toBe(2);
    expect(err).toEqual([expect.stringMatching(/^rxdisco: .*read-only/)]);
  });
});
