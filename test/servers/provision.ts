/**
 * vitest global setup: installs or builds every real server the tests use,
 * once, before any test file runs (files then run in parallel and must not
 * race to install). What is built is cached; a later run reuses it.
 */
import { etcdBinary } from './etcd.js';

export default async function provision(): Promise<void> {
  const started = Date.now();
  const etcd = etcdBinary();
  console.log(`[provision] etcd: ${etcd} (${Date.now() - started} ms)`);
}
