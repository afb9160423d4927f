/**
 * Runs every bench in turn: `npx tsx test/bench/run.ts`. Benches print their
 * figures with PASS/MISS against their targets; nothing is asserted.
 */
import { run as diff } from './diff.bench.js';
import { run as memory } from './memory.bench.js';
import { run as pick } from './pick.bench.js';

const benches: ReadonlyArray<readonly [name: string, run: () => Promise<void>]> = [
  ['pick', pick],
  ['diff', diff],
  ['memory', memory],
];

for (const [name, bench] of benches) {
  console.log(`# ${name}`);
  await bench();
}
