/**
 * Runs every bench in turn: `npx tsx test/bench/run.ts [name...]`. Benches print their
 * figures with PASS/MISS against their targets; nothing is asserted.
 */
import { run as balancing } from './balancing.bench.js';
import { run as callsHash } from './calls-hash.bench.js';
import { run as callsHedge } from './calls-hedge.bench.js';
import { run as callsLatency } from './calls-latency.bench.js';
import { run as callsRetryOverhead } from './calls-retry-overhead.bench.js';
import { run as consulAnswer } from './consul-answer.bench.js';
import { run as consulIdle } from './consul-idle.bench.js';
import { run as consulPropagation } from './consul-propagation.bench.js';
import { run as consulScale } from './consul-scale.bench.js';
import { run as decodeSize } from './decode-size.bench.js';
import { run as diff } from './diff.bench.js';
import { run as dns } from './dns.bench.js';
import { run as etcdPropagation } from './etcd-propagation.bench.js';
import { run as eurekaPeer } from './eureka-peer.bench.js';
import { run as eurekaRefresh } from './eureka-refresh.bench.js';
import { run as eurekaScale } from './eureka-scale.bench.js';
import { run as gateway } from './gateway.bench.js';
import { run as grpcBench } from './grpc.bench.js';
import { run as kubernetesPropagation, runScale as kubernetesScale } from './kubernetes.bench.js';
import { run as memory } from './memory.bench.js';
import { run as pick } from './pick.bench.js';
import { run as scale } from './scale.bench.js';
import { run as undici } from './undici.bench.js';
import { run as zookeeperPropagation } from './zookeeper.bench.js';

const benches: ReadonlyArray<readonly [name: string, run: () => Promise<void>]> = [
  ['pick', pick],
  ['diff', diff],
  ['memory', memory],
  ['etcd-propagation', etcdPropagation],
  ['eureka-refresh', eurekaRefresh],
  ['eureka-peer', eurekaPeer],
  ['consul-propagation', consulPropagation],
  ['consul-answer', consulAnswer],
  ['consul-idle', consulIdle],
  ['consul-scale', consulScale],
  ['dns-idle', dns],
  ['zookeeper-propagation', zookeeperPropagation],
  ['kubernetes-propagation', kubernetesPropagation],
  ['kubernetes-scale', kubernetesScale],
  ['decode-size', decodeSize],
  ['calls-latency', callsLatency],
  ['calls-hash', callsHash],
  ['calls-hedge', callsHedge],
  ['calls-retry-overhead', callsRetryOverhead],
  ['undici', undici],
  ['gateway', gateway],
  ['balancing', balancing],
  ['grpc', grpcBench],
  ['scale', scale],
  ['eureka-scale', eurekaScale],
];

// `npm run bench -- etcd pick` runs the benches whose names contain one of the words.
const only = process.argv.slice(2);
for (const [name, bench] of benches) {
  if (only.length > 0 && !only.some((word) => name.includes(word))) continue;
  console.log(`# ${name}`);
  await bench();
}
