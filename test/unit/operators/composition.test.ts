import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { InstanceSet } from '../../../src/core/instance-set.js';
import type { Balancer } from '../../../src/operators/balancers/balancer.js';
import { consistentHash } from '../../../src/operators/balancers/consistent-hash.js';
import { ewma } from '../../../src/operators/balancers/ewma.js';
import { healthy } from '../../../src/operators/healthy.js';
import { createOutlierDetector } from '../../../src/operators/outlier-ejection.js';
import { preferZone } from '../../../src/operators/prefer-zone.js';
import { inst, mulberry32, setOf, testScheduler } from './fixtures.js';

const a = inst('a', { zone: 'z1' });
const b = inst('b', { zone: 'z1' });
const c = inst('c', { zone: 'z2' });
const down = inst('d', { zone: 'z1', status: 'DOWN' });

describe('health, zones and balancers compose', () => {
  it('healthy(), preferZone(), outlier ejection and ewma()/consistentHash() together', () => {
    const ts = testScheduler();
    ts.run(() => {
      const detector = createOutlierDetector({ consecutiveFailures: 1, scheduler: ts });
      const input = new Subject<InstanceSet>();
      const latest: Record<string, Balancer> = {};
      const base = input.pipe(healthy(), preferZone('z1'), detector.operator());
      base.pipe(ewma({ now: () => ts.now(), random: mulberry32(1) })).subscribe((x) => {
        latest.ewma = x;
      });
      base.pipe(consistentHash()).subscribe((x) => {
        latest.hash = x;
      });
      input.next(setOf(a, b, c, down));
      expect(latest.ewma!.set.instances.map((i) => i.id)).toEqual(['a', 'b']);
      detector.report(a, { ok: false, latencyMs: 1 });
      for (const lb of [latest.ewma!, latest.hash!]) {
        expect(lb.set.instances.map((i) => i.id)).toEqual(['b']);
        for (let k = 0; k < 20; k++) expect(lb.pick(`key-${k}`)!.id).toBe('b');
      }
      // b fails too: ejecting it would empty the view, so it stays (never the last one)
      detector.report(b, { ok: false, latencyMs: 1 });
      expect(latest.hash!.set.instances.map((i) => i.id)).toEqual(['b']);
    });
  });
});
