/**
 * Interoperability with go-kit's `sd/etcdv3`, both ways, through the small
 * Go program in test/interop/etcd-gokit (built into .cache/ with the Go
 * toolchain; its module comes from the Go module proxy).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Discovery } from '../../../src/core/discovery.js';
import type { RegistrationEvent } from '../../../src/core/registration.js';
import { waitFor } from '../../conformance/suite.js';
import { buildGoProgram, runGoProgram } from '../../helpers/go-program.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import { type EtcdCluster, startEtcd } from '../../servers/etcd.js';
import { testDiscovery } from './harness.js';

expectNoLeakedHandles();

const PATIENCE = 15_000;
let binary: string;
let etcd: EtcdCluster;
const opened: Discovery[] = [];

beforeAll(async () => {
  binary = buildGoProgram('etcd-gokit');
  etcd = await startEtcd();
}, 300_000);

afterAll(async () => {
  await Promise.all(opened.map((d) => d.close()));
  await etcd?.destroy();
});

/** Runs the Go program; closing its stdin stops it. */
const goKit = (...args: string[]) => runGoProgram(binary, ...args);

describe('go-kit sd/etcdv3 interop', () => {
  it('sees what go-kit registers and deregisters', async () => {
    const prefix = '/gokit-interop/';
    const kit = goKit(
      'register',
      etcd.endpoints[0]!,
      `${prefix}kitsvc/instance-1`,
      'http://127.0.0.1:18600',
    );
    try {
      await eventually(
        () => kit.lines.includes('registered'),
        PATIENCE,
        `go-kit registration ${kit.stderr.join('')}`,
      );
      const d = testDiscovery(`etcd://${etcd.endpoints[0]}${prefix}`);
      opened.push(d);
      const set = await waitFor(
        d.instances$('kitsvc'),
        (s) => s.size === 1,
        PATIENCE,
        'the go-kit instance',
      );
      expect(set.instances[0]).toMatchObject({ id: 'instance-1', host: '127.0.0.1', port: 18600 });
      expect(await kit.stop()).toBe(0);
      expect(kit.lines).toContain('deregistered');
      await waitFor(d.instances$('kitsvc'), (s) => s.size === 0, PATIENCE, 'go-kit deregistration');
    } finally {
      await kit.stop();
    }
  });

  it('is seen by go-kit when it registers with ?format=gokit', async () => {
    const prefix = '/gokit-interop/';
    const kit = goKit('instances', etcd.endpoints[0]!, `${prefix}rxsvc/`);
    try {
      await eventually(
        () => kit.lines.includes('[]'),
        PATIENCE,
        `go-kit's first (empty) set ${kit.stderr.join('')}`,
      );
      const d = testDiscovery(`etcd://${etcd.endpoints[0]}${prefix}?format=gokit`);
      opened.push(d);
      const events: RegistrationEvent[] = [];
      const reg = d
        .register({ service: 'rxsvc', host: '127.0.0.1', port: 18601, id: 'rx-1' }, { ttlMs: 5000 })
        .subscribe((e) => events.push(e));
      await eventually(
        () => kit.lines.includes('["127.0.0.1:18601"]'),
        PATIENCE,
        `go-kit to see rx-1 (saw ${kit.lines.join(' | ')})`,
      );
      await eventually(() => events[0]?.type === 'registered', PATIENCE, 'the registered event');
      const before = kit.lines.length;
      reg.unsubscribe();
      await d.settled();
      await eventually(
        () => kit.lines.slice(before).includes('[]'),
        PATIENCE,
        'go-kit to see rx-1 go',
      );
    } finally {
      await kit.stop();
    }
  });
});
