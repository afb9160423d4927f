/**
 * consistentHash(): pick throughput against roundRobin() in the same run
 * (target: within 3x), and the keys that move when one instance of 100
 * joins or leaves, against the ideal 1/N (target: within 1.3x).
 */
import { type OperatorFunction, of } from 'rxjs';
import { createInstance, type Instance } from '../../src/core/instance.js';
import { applyChanges, type InstanceSet, instanceSet } from '../../src/core/instance-set.js';
import type { Balancer } from '../../src/operators/balancers/balancer.js';
import { consistentHash } from '../../src/operators/balancers/consistent-hash.js';
import { hashString } from '../../src/operators/balancers/hash.js';
import { roundRobin } from '../../src/operators/balancers/round-robin.js';
import { verdict } from './heap.js';

const SIZE = 100;
const PICKS = 5_000_000;
const ROUNDS = 5;
const KEYS = 200_000;

let sink = 0;

const instance = (k: number): Instance =>
  createInstance(
    { id: `node-${k}`, service: 'bench', host: `10.0.${k >> 8}.${k & 255}`, port: 8080 },
    'memory://bench',
  );
const set: InstanceSet = instanceSet(
  'bench',
  'memory://bench',
  Array.from({ length: SIZE }, (_, k) => instance(k)),
);
const keys: string[] = Array.from({ length: 1024 }, (_, k) => `session-${k * 7919}`);
const shortKeys: string[] = Array.from({ length: 1024 }, (_, k) => `user:${k}`);

const balancerOf = (operator: OperatorFunction<InstanceSet, Balancer>, s = set): Balancer => {
  let b: Balancer | undefined;
  of(s)
    .pipe(operator)
    .subscribe((x) => {
      b = x;
    });
  return b!;
};

/** Picks per second of `loop(times)`, best of ROUNDS. */
const throughput = (loop: (times: number) => number): number => {
  sink += loop(PICKS / 10); // warm up
  let best = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    sink += loop(PICKS);
    best = Math.max(best, PICKS / (Number(process.hrtime.bigint() - t0) / 1e9));
  }
  return best;
};

// One loop per balancer, so that neither call site sees the other's picker.
const roundRobinLoop =
  (b: Balancer) =>
  (times: number): number => {
    let acc = 0;
    for (let k = 0; k < times; k++) acc += b.pick()!.port;
    return acc;
  };
const keyedLoop =
  (b: Balancer, from = keys) =>
  (times: number): number => {
    let acc = 0;
    for (let k = 0; k < times; k++) acc += b.pick(from[k & 1023])!.port;
    return acc;
  };

/** Share of KEYS whose owner differs between two balancers. */
const movedShare = (before: Balancer, after: Balancer): number => {
  let moved = 0;
  for (let k = 0; k < KEYS; k++) {
    const key = `user:${k}`;
    if (before.pick(key)!.id !== after.pick(key)!.id) moved++;
  }
  return moved / KEYS;
};

export async function run(): Promise<void> {
  const rr = balancerOf(roundRobin());
  const ch = balancerOf(consistentHash());
  const rrRate = throughput(roundRobinLoop(rr));
  const chRate = throughput(keyedLoop(ch));
  const slower = rrRate / chRate;
  const hashRate = throughput((times) => {
    let acc = 0;
    for (let k = 0; k < times; k++) acc += hashString(keys[k & 1023]!) & 1;
    return acc;
  });
  // The floor of any hash of a string in JavaScript: reading its characters.
  const readRate = throughput((times) => {
    let acc = 0;
    for (let k = 0; k < times; k++) {
      const key = keys[k & 1023]!;
      for (let i = 0; i < key.length; i++) acc += key.charCodeAt(i);
    }
    return acc;
  });
  const shortRate = throughput(keyedLoop(ch, shortKeys));
  const nsRr = 1e9 / rrRate;
  const nsPick = 1e9 / chRate;
  const nsHash = 1e9 / hashRate;
  const nsRead = 1e9 / readRate;
  console.log(
    `calls: consistentHash().pick(key) ${(chRate / 1e6).toFixed(1)} M/s vs roundRobin().pick() ${(rrRate / 1e6).toFixed(1)} M/s (${SIZE} instances, ~15-character keys): ${slower.toFixed(2)}x slower (target within 3x) ${verdict(slower <= 3)}`,
  );
  console.log(
    `calls: of ${nsPick.toFixed(1)} ns per keyed pick, hashing the key takes ${nsHash.toFixed(1)} ns and only reading its characters (charCodeAt, the floor of any string hash here) ${nsRead.toFixed(1)} ns = ${(nsRead / nsRr).toFixed(2)}x a roundRobin() pick; the ring lookup ~${Math.max(0, nsPick - nsHash).toFixed(1)} ns = ${(Math.max(0, nsPick - nsHash) / nsRr).toFixed(2)}x (info)`,
  );
  console.log(
    `calls: with ~6-character keys (user:7) consistentHash().pick(key) is ${(rrRate / shortRate).toFixed(2)}x slower than roundRobin().pick() (info)`,
  );

  const joined = applyChanges(set, [instance(SIZE)], []);
  const left = applyChanges(set, [], ['node-42']);
  for (const [what, after, n] of [
    ['joins', joined, SIZE + 1],
    ['leaves', left, SIZE],
  ] as const) {
    const share = movedShare(ch, balancerOf(consistentHash(), after));
    const ratio = share / (1 / n);
    console.log(
      `calls: consistentHash() one of ${n} ${what}: ${(share * 100).toFixed(2)}% of ${KEYS} keys moved, ideal ${(100 / n).toFixed(2)}%: ${ratio.toFixed(2)}x (target <= 1.3x) ${verdict(ratio <= 1.3)}`,
    );
  }
  if (sink === -1) console.log(sink);
}
