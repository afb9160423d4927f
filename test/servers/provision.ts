/**
 * vitest global setup: installs or builds every real server the tests use,
 * once, before any test file runs (files then run in parallel and must not
 * race to install or build). What is built is cached in `.cache/`; a later
 * run reuses it.
 */
import { ensureChromium } from './chromium.js';
import { ensureConsul } from './consul.js';
import { ensureKnot } from './dns.js';
import { etcdBinary } from './etcd.js';
import { ensureEurekaClient, ensureEurekaServer } from './eureka.js';
import { ensureKubernetes } from './kubernetes.js';
import { ensureEtcd36 } from './kubernetes-etcd36.js';
import { ensureZookeeper, ensureZookeeperSpringClient } from './zookeeper.js';

const timed = async (what: string, work: () => Promise<string> | string): Promise<void> => {
  const started = Date.now();
  const result = await work();
  console.log(`[provision] ${what}: ${result} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
};

export default async function provision(): Promise<void> {
  await timed('etcd', etcdBinary);
  await timed('eureka server', ensureEurekaServer);
  await timed('eureka java client', ensureEurekaClient);
  await timed('consul', ensureConsul);
  await timed('knot (authoritative DNS)', ensureKnot);
  await timed('chromium (headless browser)', ensureChromium);
  await timed('zookeeper', ensureZookeeper);
  await timed('zookeeper spring client', ensureZookeeperSpringClient);
  await timed('kube-apiserver and kube-controller-manager', async () => {
    const b = await ensureKubernetes();
    return `${b.apiserver}, ${b.controllerManager}`;
  });
  await timed('etcd 3.6 (kube-apiserver with watch-list)', ensureEtcd36);
}
