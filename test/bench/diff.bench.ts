/**
 * diff(): change events of a 10,000-instance set receiving 10 changes per
 * update, against a naive full rebuild (a Map of the old set, compare all)
 * in the same run. Target: >= 20x faster.
 */
import { Subject } from 'rxjs';
import { createInstance, type Instance, sameInstance } from '../../src/core/instance.js';
import { applyChanges, type InstanceSet, instanceSet } from '../../src/core/instance-set.js';
import { diff, type SetDiff } from '../../src/operators/diff.js';
import { verdict } from './heap.js';

const SIZE = 10_000;
const UPDATES = 200;
const REGISTRY = 'memory://bench';

const make = (k: number, weight = 1): Instance =>
  createInstance(
    {
      id: `i${String(k).padStart(6, '0')}`,
      service: 'bench',
      host: `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`,
      port: 8080,
      weight,
      tags: ['v1'],
    },
    REGISTRY,
  );

/** A chain of sets, each derived from the one before with 10 changes. */
const chain = (): InstanceSet[] => {
  const sets = [
    instanceSet(
      'bench',
      REGISTRY,
      Array.from({ length: SIZE }, (_, k) => make(k)),
    ),
  ];
  let nextId = SIZE;
  for (let u = 1; u <= UPDATES; u++) {
    const prev = sets[sets.length - 1]!;
    const list = prev.instances;
    const pickAt = (salt: number): Instance => list[(u * 7919 + salt * 104_729) % list.length]!;
    const removed = [pickAt(1).id, pickAt(2).id, pickAt(3).id];
    const updated = [pickAt(4), pickAt(5), pickAt(6), pickAt(7)]
      .filter((i) => !removed.includes(i.id))
      .map((i) => make(Number(i.id.slice(1)), i.weight + 1));
    const added = [make(nextId++), make(nextId++), make(nextId++)];
    sets.push(applyChanges(prev, [...updated, ...added], removed));
  }
  return sets;
};

/** The naive way: a Map of the old set, then compare every instance. */
const naive = (previous: InstanceSet, set: InstanceSet): number => {
  const old = new Map<string, Instance>();
  for (const i of previous.instances) old.set(i.id, i);
  const added: Instance[] = [];
  const updated: Instance[] = [];
  for (const i of set.instances) {
    const o = old.get(i.id);
    if (o === undefined) added.push(i);
    else {
      if (!sameInstance(o, i)) updated.push(i);
      old.delete(i.id);
    }
  }
  const removed = [...old.values()];
  return added.length + updated.length + removed.length;
};

const timeDiff = (sets: readonly InstanceSet[]): { ms: number; changes: number } => {
  const input = new Subject<InstanceSet>();
  let changes = 0;
  const sub = input.pipe(diff()).subscribe((d: SetDiff) => {
    changes += d.added.length + d.removed.length + d.updated.length;
  });
  input.next(sets[0]!); // the first emission lists everything: not what is measured
  changes = 0;
  const t0 = process.hrtime.bigint();
  for (let k = 1; k < sets.length; k++) input.next(sets[k]!);
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  sub.unsubscribe();
  return { ms, changes };
};

const timeNaive = (sets: readonly InstanceSet[]): { ms: number; changes: number } => {
  let changes = 0;
  const t0 = process.hrtime.bigint();
  for (let k = 1; k < sets.length; k++) changes += naive(sets[k - 1]!, sets[k]!);
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, changes };
};

export async function run(): Promise<void> {
  const sets = chain();
  // Warm up both, then keep the best of 3.
  timeDiff(sets.slice(0, 20));
  timeNaive(sets.slice(0, 20));
  let d = timeDiff(sets);
  let n = timeNaive(sets);
  for (let r = 0; r < 2; r++) {
    const d2 = timeDiff(sets);
    const n2 = timeNaive(sets);
    if (d2.ms < d.ms) d = d2;
    if (n2.ms < n.ms) n = n2;
  }
  if (d.changes !== n.changes) {
    console.log(`diff: MISMATCH diff() saw ${d.changes} changes, naive ${n.changes}`);
  }
  const perDiff = (d.ms * 1000) / UPDATES;
  const perNaive = (n.ms * 1000) / UPDATES;
  const ratio = perNaive / perDiff;
  console.log(
    `diff: ${SIZE} instances, 10 changes per update: diff() ${perDiff.toFixed(2)} us/update vs naive Map rebuild ${perNaive.toFixed(0)} us/update: ${ratio.toFixed(0)}x faster (target >= 20x) ${verdict(ratio >= 20)}`,
  );
  // The fallback when deltas do not line up (every other set skipped): a merge walk, O(n).
  const skipping = sets.filter((_, k) => k % 2 === 0);
  const f = timeDiff(skipping);
  const perFallback = (f.ms * 1000) / (skipping.length - 1);
  console.log(
    `diff: full-compare fallback (no matching delta) ${perFallback.toFixed(0)} us/update (info)`,
  );
}
