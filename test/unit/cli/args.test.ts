import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../../src/cli/args.js';
import { ConfigError } from '../../../src/core/errors.js';

const fails = (argv: string[], message: RegExp): void => {
  let error: unknown;
  try {
    parseCommand(argv);
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as Error).message).toMatch(message);
  expect((error as Error).message).not.toContain('\n');
};

describe('parseCommand', () => {
  it('parses watch', () => {
    expect(parseCommand(['watch', 'memory://', 'hello'])).toEqual({
      kind: 'watch',
      url: 'memory://',
      service: 'hello',
      json: false,
    });
    expect(parseCommand(['watch', '--json', 'static://127.0.0.1:1', 'hello'])).toMatchObject({
      json: true,
    });
    expect(parseCommand(['watch', 'memory://', 'hello', '--explain'])).toEqual({
      kind: 'watch',
      url: 'memory://',
      service: 'hello',
      json: false,
      explain: true,
    });
  });

  it('parses register with every option', () => {
    expect(
      parseCommand([
        'register',
        'memory://',
        'hello',
        '10.0.0.1:8080',
        '--id',
        'h1',
        '--ttl',
        '5s',
        '--meta',
        'version=1.2',
        '--meta',
        'owner=team=a',
        '--tag',
        'v2',
        '--tag',
        'primary',
        '--zone',
        'eu-1a',
        '--weight',
        '3',
        '--secure',
        '--json',
      ]),
    ).toEqual({
      kind: 'register',
      url: 'memory://',
      ttlMs: 5000,
      json: true,
      spec: {
        service: 'hello',
        host: '10.0.0.1',
        port: 8080,
        id: 'h1',
        zone: 'eu-1a',
        weight: 3,
        secure: true,
        tags: ['v2', 'primary'],
        metadata: { version: '1.2', owner: 'team=a' },
      },
    });
  });

  it('leaves the TTL and spec defaults to the library', () => {
    expect(parseCommand(['register', 'memory://', 'hello', '127.0.0.1:9000'])).toEqual({
      kind: 'register',
      url: 'memory://',
      ttlMs: undefined,
      json: false,
      spec: { service: 'hello', host: '127.0.0.1', port: 9000 },
    });
  });

  it('parses demo, memory:// by default', () => {
    expect(parseCommand(['demo'])).toEqual({ kind: 'demo', registry: 'memory://' });
    expect(parseCommand(['demo', '--registry', 'memory://other'])).toEqual({
      kind: 'demo',
      registry: 'memory://other',
    });
  });

  it('recognises help and version anywhere before --', () => {
    expect(parseCommand(['--help'])).toEqual({ kind: 'help' });
    expect(parseCommand(['help'])).toEqual({ kind: 'help' });
    expect(parseCommand(['watch', 'bad', '-h'])).toEqual({ kind: 'help' });
    expect(parseCommand(['--version'])).toEqual({ kind: 'version' });
  });

  it('names what is wrong', () => {
    fails([], /^command is missing; use one of watch, services, register, gateway, demo, help/);
    fails(['nope'], /^command 'nope' is unknown/);
    fails(['watch'], /^URL SERVICE are missing; write rxdisco watch URL SERVICE \[--json\]/);
    fails(['watch', 'memory://'], /^SERVICE is missing/);
    fails(['watch', 'memory://', 'hello', 'x'], /^argument 'x' is not expected by 'rxdisco watch'/);
    fails(['watch', 'foo://h:1', 'hello'], /url\.scheme 'foo' is not supported/);
    fails(['watch', 'static://h:99999', 'hello'], /url\.port '99999'/);
    fails(['watch', 'memory://', 'bad name'], /^service must be a name/);
    fails(['watch', 'memory://', 'hello', '--jsn'], /^option --jsn is unknown for 'rxdisco watch'/);
    fails(['watch', 'memory://', 'hello', '--json=yes'], /^--json takes no value/);
    fails(['register', 'memory://', 'hello'], /^HOST:PORT is missing/);
    fails(['register', 'memory://', 'hello', 'h:70000'], /^HOST:PORT 'h:70000' has port 70000/);
    fails(['register', 'memory://', 'hello', 'h:1', '--ttl', '0'], /^--ttl must be/);
    fails(['register', 'memory://', 'hello', 'h:1', '--ttl', '10x'], /^--ttl must be a duration/);
    fails(['register', 'memory://', 'hello', 'h:1', '--ttl'], /^--ttl needs a value/);
    fails(['register', 'memory://', 'hello', 'h:1', '--ttl', '-5'], /^--ttl needs a value/);
    fails(['register', 'memory://', 'hello', 'h:1', '--meta', 'k'], /^--meta 'k' has no '='/);
    fails(['register', 'memory://', 'hello', 'h:1', '--weight=-1'], /^--weight must be/);
    fails(['register', 'memory://', 'hello', 'h:1', '--tag='], /^--tag is empty/);
    fails(['register', 'memory://', 'hello', 'h:1', '--zone', ''], /^--zone is empty/);
    fails(['demo', '--registry', 'nope'], /url 'nope' is not scheme:\/\//);
    fails(['demo', 'x'], /^argument 'x' is not expected by 'rxdisco demo'/);
  });
});
