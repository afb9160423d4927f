/**
 * The built `rxdisco` binary, spawned: NDJSON output, signals, exit codes,
 * the demo.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectNoLeakedHandles } from '../../helpers/handles.js';
import { killAll, requireBuild, rxdisco } from './spawn.js';

expectNoLeakedHandles();

beforeAll(requireBuild);
afterEach(killAll);

describe('rxdisco watch', () => {
  it('prints one NDJSON line per emission with --json', async () => {
    const cli = rxdisco('watch', 'static://127.0.0.1:8080,127.0.0.1:8081', 'hello', '--json');
    const line = await cli.line((l) => l.startsWith('{'), 10_000, 'an NDJSON line');
    const set = JSON.parse(line);
    expect(set).toMatchObject({ service: 'hello', stale: false });
    expect(set.instances).toHaveLength(2);
    expect(set.instances[0]).toMatchObject({
      id: '127.0.0.1:8080',
      host: '127.0.0.1',
      port: 8080,
      status: 'UP',
      weight: 1,
      tags: [],
      metadata: {},
    });
    expect(set.instances[1]).toMatchObject({ host: '127.0.0.1', port: 8081 });
    expect(cli.child.exitCode).toBeNull();
    cli.child.kill('SIGTERM');
    expect(await cli.exit()).toEqual({ code: 0, signal: null });
    expect(cli.stderr.join('')).toBe('');
  });

  it('prints a header and a table without --json, and stops on SIGINT with 0', async () => {
    const cli = rxdisco('watch', 'static://127.0.0.1:8080,127.0.0.1:8081', 'hello');
    await cli.line((l) => l.startsWith('127.0.0.1:8081'), 10_000, 'the second row');
    expect(cli.stdout[0]).toBe(
      'hello @ static://127.0.0.1:8080,127.0.0.1:8081: 2 instances, fresh',
    );
    expect(cli.stdout[1]).toMatch(/^ID\s+ADDRESS\s+STATUS\s+WEIGHT\s+ZONE\s+TAGS$/);
    cli.child.kill('SIGINT');
    expect(await cli.exit()).toEqual({ code: 0, signal: null });
  });
});

describe('rxdisco register', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`registers, then deregisters and exits 0 on ${signal}`, async () => {
      const cli = rxdisco('register', 'memory://', 'hello', '127.0.0.1:9000', '--json');
      const registered = JSON.parse(
        await cli.line((l) => l.includes('"registered"'), 10_000, 'registered'),
      );
      expect(registered).toMatchObject({
        type: 'registered',
        id: '127.0.0.1:9000',
        service: 'hello',
        host: '127.0.0.1',
        port: 9000,
      });
      expect(new Date(registered.at).toISOString()).toBe(registered.at);
      cli.child.kill(signal);
      const deregistered = JSON.parse(
        await cli.line((l) => l.includes('"deregistered"'), 10_000, 'deregistered'),
      );
      expect(deregistered).toMatchObject({ type: 'deregistered', id: '127.0.0.1:9000' });
      expect(deregistered.error).toBeUndefined();
      expect(await cli.exit()).toEqual({ code: 0, signal: null });
      for (const line of cli.stdout.filter((l) => l !== ''))
        expect(() => JSON.parse(line)).not.toThrow();
    });
  }

  it('prints readable lines without --json', async () => {
    const cli = rxdisco('register', 'memory://', 'hello', '127.0.0.1:9000', '--id', 'h1');
    const line = await cli.line((l) => l.includes(' registered '), 10_000, 'registered');
    expect(line).toMatch(/^\S+Z registered hello 127\.0\.0\.1:9000 \(id h1\) in memory:\/\/$/);
    cli.child.kill('SIGTERM');
    expect((await cli.exit()).code).toBe(0);
    expect(cli.stdout.some((l) => l.includes(' deregistered '))).toBe(true);
  });
});

describe('bad arguments', () => {
  const cases: [string, string[], RegExp][] = [
    [
      'an unknown scheme',
      ['watch', 'foo://127.0.0.1:1', 'hello'],
      /url\.scheme 'foo' is not supported/,
    ],
    [
      'port 70000',
      ['register', 'memory://', 'hello', '127.0.0.1:70000'],
      /HOST:PORT '127\.0\.0\.1:70000' has port 70000/,
    ],
    [
      '--ttl 0',
      ['register', 'memory://', 'hello', '127.0.0.1:9000', '--ttl', '0'],
      /--ttl must be/,
    ],
    [
      '--ttl abc',
      ['register', 'memory://', 'hello', '127.0.0.1:9000', '--ttl', 'abc'],
      /--ttl must be/,
    ],
    [
      '--meta without =',
      ['register', 'memory://', 'hello', '127.0.0.1:9000', '--meta', 'k'],
      /--meta 'k' has no '='/,
    ],
    ['a missing HOST:PORT', ['register', 'memory://', 'hello'], /HOST:PORT is missing/],
    ['an unknown command', ['frobnicate'], /command 'frobnicate' is unknown/],
    ['no command', [], /command is missing/],
    ['an unknown option', ['watch', 'memory://', 'hello', '--jason'], /option --jason is unknown/],
    [
      'a read-only registry',
      ['register', 'static://127.0.0.1:1', 'hello', '127.0.0.1:9000'],
      /read-only/,
    ],
  ];
  for (const [what, args, message] of cases) {
    it(`exits 2 with one line on stderr for ${what}`, async () => {
      const cli = rxdisco(...args);
      expect(await cli.exit()).toEqual({ code: 2, signal: null });
      const err = cli.stderr.filter((l) => l !== '');
      expect(err).toHaveLength(1);
      expect(err[0]).toMatch(/^rxdisco: /);
      expect(err[0]).toMatch(message);
      expect(cli.stdout.filter((l) => l !== '')).toEqual([]);
    });
  }

  it('prints the usage and exits 0 on --help', async () => {
    const cli = rxdisco('--help');
    expect(await cli.exit()).toEqual({ code: 0, signal: null });
    expect(cli.stdout[0]).toMatch(/^Usage: rxdisco/);
    expect(cli.stdout.join('\n')).toContain('register URL SERVICE HOST:PORT');
  });
});

describe('rxdisco demo', () => {
  it('runs, shows an instance going away with no failed call, and exits 0 by itself', async () => {
    const cli = rxdisco('demo');
    const { code, signal } = await cli.exit(20_000);
    const out = cli.stdout.join('\n');
    expect({ code, signal, stderr: cli.stderr.join('\n') }).toEqual({
      code: 0,
      signal: null,
      stderr: '',
    });
    expect(out).toMatch(/\[demo\] hello-2 \(hello@127\.0\.0\.1:\d+\) deregistered/);
    expect(out).toMatch(/\[client\] live set changed: hello @ memory:\/\/: 2 instances, fresh/);
    const summary = cli.stdout.find((l) => /^\[summary\] \d+ calls:/.test(l));
    expect(summary).toMatch(/^\[summary\] (\d+) calls: \1 ok, 0 failed/);
    for (const name of ['hello-1', 'hello-2', 'hello-3']) {
      expect(out).toMatch(new RegExp(`\\[summary\\]\\s+${name}\\s+[1-9]\\d*`));
    }
  }, 25_000);
});
