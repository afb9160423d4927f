/**
 * Interoperability with go-kit's `sd/zk`, both ways, through the small Go
 * program in test/interop/zk-gokit (built into .cache/ with the Go
 * toolchain; its module comes from the Go module proxy), against a real
 * ZooKeeper.
 */
import type { Subscription } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegistrationEvent } from '../../../src/core/registration.js';
import { waitFor } from '../../conformance/suite.js';
import { buildGoProgram, runGoProgram } from '../../helpers/go-program.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { startZookeeper, type ZookeeperCluster } from '../../servers/zookeeper.js';
import { testDiscovery } from './harness.js';

expectNoLeakedHandles();

const PATIENCE = 15_000;
let binary: string;
let zk: ZookeeperCluster;

beforeAll(async () => {
  binary = buildGoProgram('zk-gokit');
  zk = await startZookeeper();
}, 300_000);

afterAll(async () => {
  await zk?.destroy();
});

describe('go-kit sd/zk interop', () => {
  it('sees what go-kit registers and deregisters', async () => {
    const kit = runGoProgram(
      binary,
      'register',
      zk.connectString,
      '/gokit',
      'kitsvc',
      '127.0.0.1:18600',
    );
    const d = testDiscovery(`zk://${zk.connectString}/gokit`);
    try {
      await eventually(
        () => kit.lines.includes('registered'),
        PATIENCE,
        `go-kit registration ${kit.stderr.join('')}`,
      );
      const set$ = d.instances$('kitsvc');
      const set = await waitFor(set$, (s) => s.size === 1, PATIENCE, 'the go-kit instance');
      expect(set.instances[0]).toMatchObject({ host: '127.0.0.1', port: 18600, status: 'UP' });
      // go-kit's protected ephemeral sequential node name is the id
      expect(set.instances[0]!.id).toMatch(/^_c_[0-9a-f]{32}-\d{10}$/);
      const gone = waitFor(set$, (s) => s.size === 0, PATIENCE, 'the go-kit instance to go');
      expect(await kit.stop()).toBe(0);
      expect(kit.lines).toContain('deregistered');
      await gone;
    } finally {
      await kit.stop();
      await d.close();
    }
  }, 60_000);

  it("is seen by go-kit's Instancer when it writes ?format=gokit", async () => {
    const kit = runGoProgram(binary, 'instances', zk.connectString, '/gokit/rxsvc');
    const d = testDiscovery(`zk://${zk.connectString}/gokit?format=gokit`);
    const events: RegistrationEvent[] = [];
    let sub: Subscription | undefined;
    try {
      sub = d
        .register({ service: 'rxsvc', host: '127.0.0.1', port: 18601 }, { ttlMs: 5000 })
        .subscribe((e) => events.push(e));
      await eventually(() => events.some((e) => e.type === 'registered'), PATIENCE, 'registered');
      await eventually(
        () => kit.lines.includes('["127.0.0.1:18601"]'),
        PATIENCE,
        `go-kit to see the instance (${kit.lines.join(' | ')} ${kit.stderr.join('')})`,
      );
      sub.unsubscribe();
      sub = undefined;
      await d.settled();
      await eventually(
        () => kit.lines.at(-1) === '[]',
        PATIENCE,
        `go-kit to see it gone (${kit.lines.join(' | ')})`,
      );
    } finally {
      sub?.unsubscribe();
      await d.close();
      await kit.stop();
    }
  }, 60_000);
});
