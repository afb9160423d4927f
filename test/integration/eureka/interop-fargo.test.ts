/**
 * Interoperability with hudl/fargo (the Go Eureka client), both ways,
 * against our Spring Cloud Netflix Eureka server, through the small Go
 * program in test/interop/eureka-fargo (built into .cache/ with the Go
 * toolchain; its module comes from the Go module proxy). fargo speaks JSON
 * to the server here.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Discovery } from '../../../src/core/discovery.js';
import type { RegistrationEvent } from '../../../src/core/registration.js';
import { waitFor } from '../../conformance/suite.js';
import { buildGoProgram, runGoProgram } from '../../helpers/go-program.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type EurekaServer, startEureka } from '../../servers/eureka.js';
import { testDiscovery } from './harness.js';

vi.setConfig({ testTimeout: 90_000, hookTimeout: 120_000 });
expectNoLeakedHandles();

const PATIENCE = 30_000;
/** Below both leases (fargo's 90 s, rxdisco's 15 s): a deregistration, not an expiry. */
const GONE = 10_000;
let binary: string;
let server: EurekaServer;
const opened: Discovery[] = [];

beforeAll(async () => {
  binary = buildGoProgram('eureka-fargo');
  server = await startEureka();
}, 300_000);

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  await server?.stop();
});

/** Runs the Go program; closing its stdin stops it. */
const fargo = (...args: string[]) => runGoProgram(binary, ...args);

describe('hudl/fargo interop', () => {
  it('sees what fargo registers and deregisters', async () => {
    const go = fargo('register', server.base, 'FARGO-GO', 'fargo-1', '127.0.0.1', '18700');
    try {
      await eventually(
        () => go.lines.includes('registered'),
        PATIENCE,
        `fargo's registration ${go.stderr.join('')}`,
      );
      const d = testDiscovery(server.url);
      opened.push(d);
      const set = await waitFor(
        d.instances$('fargo-go'),
        (s) => s.size === 1,
        PATIENCE,
        'the fargo instance',
      );
      expect(set.instances[0]).toMatchObject({
        id: 'fargo-1',
        service: 'fargo-go',
        host: '127.0.0.1',
        port: 18700,
        secure: false,
        status: 'UP',
        zone: 'z1',
      });
      expect(set.instances[0]!.metadata).toEqual({ zone: 'z1' });
      expect(await go.stop()).toBe(0);
      expect(go.lines).toContain('deregistered');
      await waitFor(d.instances$('fargo-go'), (s) => s.size === 0, GONE, "fargo's deregistration");
    } finally {
      await go.stop();
    }
  });

  it('is seen by fargo when it registers', async () => {
    const go = fargo('instances', server.base, 'FARGO-RX');
    try {
      await eventually(
        () => go.lines.includes('[]'),
        PATIENCE,
        `fargo's first (empty) set ${go.stderr.join('')}`,
      );
      const d = testDiscovery(server.url);
      opened.push(d);
      const events: RegistrationEvent[] = [];
      const reg = d
        .register(
          { service: 'fargo-rx', host: '127.0.0.1', port: 18701, id: 'rx-1' },
          { ttlMs: 15_000 },
        )
        .subscribe((e) => events.push(e));
      await eventually(
        () => go.lines.includes('["rx-1 127.0.0.1:18701 UP"]'),
        PATIENCE,
        `fargo to see rx-1 (saw ${go.lines.join(' | ')}) ${go.stderr.join('')}`,
      );
      await eventually(() => events[0]?.type === 'registered', PATIENCE, 'the registered event');
      const before = go.lines.length;
      reg.unsubscribe();
      await d.settled();
      await eventually(
        () => go.lines.slice(before).includes('[]'),
        GONE,
        `fargo to see rx-1 go (saw ${go.lines.join(' | ')})`,
      );
    } finally {
      await go.stop();
    }
  });
});
