/**
 * Interoperability with go-micro v4's Consul registry (plugins/v4/registry/consul
 * v1.2.1), both ways, through the Go program in test/interop/gomicro: each
 * side sees the other's registration, metadata, version and deregistration.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Discovery } from '../../../src/core/discovery.js';
import type { RegistrationEvent } from '../../../src/core/registration.js';
import { waitFor } from '../../conformance/suite.js';
import { buildGoProgram, runGoProgram } from '../../helpers/go-program.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type ConsulAgent, ensureConsul, startConsul } from '../../servers/consul.js';
import { testDiscovery } from './harness.js';

expectNoLeakedHandles();

const PATIENCE = 15_000;
let binary: string;
let agent: ConsulAgent;
let d: Discovery;

beforeAll(async () => {
  binary = buildGoProgram('gomicro');
  await ensureConsul();
  agent = await startConsul();
  d = testDiscovery(agent.url);
}, 15 * 60_000);

afterAll(async () => {
  await d?.close();
  await agent?.destroy();
});

const address = (): string => `127.0.0.1:${agent.httpPort}`;
const CLI = fileURLToPath(new URL('../../../src/cli/main.ts', import.meta.url));

describe('go-micro Consul registry interop', () => {
  it('sees what go-micro registers, with its metadata and version, and its deregistration', async () => {
    const micro = runGoProgram(
      binary,
      'register',
      'consul',
      address(),
      'greeter',
      '1.4.0',
      'greeter-1',
      '127.0.0.1:18700',
      'protocol=http',
      'team=blue',
    );
    try {
      await eventually(
        () => micro.lines.includes('registered'),
        PATIENCE,
        `go-micro registration ${micro.stderr.join('')}`,
      );
      const set = await waitFor(d.instances$('greeter'), (s) => s.size === 1, PATIENCE, 'greeter');
      expect(set.instances[0]).toMatchObject({
        id: 'greeter-1',
        host: '127.0.0.1',
        port: 18700,
        status: 'UP',
        tags: [],
        metadata: { protocol: 'http', team: 'blue', version: '1.4.0' },
      });
      expect(await micro.stop()).toBe(0);
      expect(micro.lines).toContain('deregistered');
      await waitFor(d.instances$('greeter'), (s) => s.size === 0, PATIENCE, 'deregistration');
    } finally {
      await micro.stop();
    }
  });

  it("is seen by go-micro's GetService with its metadata and version, and its deregistration", async () => {
    const micro = runGoProgram(binary, 'watch', 'consul', address(), 'rxsvc');
    try {
      await eventually(
        () => micro.lines.includes('[]'),
        PATIENCE,
        `go-micro's first (empty) answer ${micro.stderr.join('')}`,
      );
      const events: RegistrationEvent[] = [];
      const reg = d
        .register(
          {
            service: 'rxsvc',
            host: '127.0.0.1',
            port: 18701,
            id: 'rx-1',
            tags: ['primary'],
            metadata: { version: '2.1.0', owner: 'team-a' },
            zone: 'eu-1a',
          },
          { ttlMs: 5000 },
        )
        .subscribe((e) => events.push(e));
      const seen = (): unknown[] => micro.lines.map((l) => JSON.parse(l) as unknown);
      await eventually(
        () => seen().some((s) => Array.isArray(s) && s.length === 1),
        PATIENCE,
        `go-micro to see rx-1 (saw ${micro.lines.join(' | ')})`,
      );
      expect(seen().find((s) => Array.isArray(s) && s.length === 1)).toEqual([
        {
          id: 'rx-1',
          address: '127.0.0.1:18701',
          version: '2.1.0',
          metadata: { owner: 'team-a', zone: 'eu-1a' },
        },
      ]);
      await eventually(() => events[0]?.type === 'registered', PATIENCE, 'the registered event');
      const before = micro.lines.length;
      reg.unsubscribe();
      await d.settled();
      await eventually(
        () => micro.lines.slice(before).includes('[]'),
        PATIENCE,
        `go-micro to see the deregistration (saw ${micro.lines.join(' | ')})`,
      );
    } finally {
      await micro.stop();
    }
  });
  it('go-micro sees what `rxdisco register` puts into Consul, with its --meta and version, as a new user would', async () => {
    const micro = runGoProgram(binary, 'watch', 'consul', address(), 'clisvc');
    const cli = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        CLI,
        'register',
        agent.url,
        'clisvc',
        '127.0.0.1:18702',
        '--id',
        'cli-1',
        '--meta',
        'version=3.0.0',
        '--meta',
        'team=red',
        '--json',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const exited = new Promise<number | null>((resolve) => cli.once('exit', resolve));
    let err = '';
    cli.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    try {
      const expected = JSON.stringify([
        { id: 'cli-1', address: '127.0.0.1:18702', version: '3.0.0', metadata: { team: 'red' } },
      ]);
      await eventually(
        () => micro.lines.includes(expected),
        PATIENCE,
        `go-micro to see cli-1 (saw ${micro.lines.join(' | ')}; cli stderr ${err})`,
      );
      const before = micro.lines.length;
      cli.kill('SIGINT');
      expect(await exited).toBe(0);
      await eventually(
        () => micro.lines.slice(before).includes('[]'),
        PATIENCE,
        `go-micro to see the deregistration (saw ${micro.lines.join(' | ')})`,
      );
    } finally {
      cli.kill('SIGKILL');
      await micro.stop();
    }
  });
});
