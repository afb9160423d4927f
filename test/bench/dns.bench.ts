/**
 * DNS while idle: 50 SRV names with a 30 s TTL on a real authoritative
 * server (Knot), watched by dns+srv:// for one minute, against the same
 * names re-resolved every second by `node:dns` (`Resolver.resolveSrv`, what
 * a poller without TTLs does), in the same run. Each side asks through its
 * own UDP relay that counts the queries on the wire. Target (issue 15): at
 * least 25x fewer requests per minute. Asserts nothing.
 */
import { Resolver } from 'node:dns/promises';
import { filter, firstValueFrom, interval, mergeMap, type Subscription } from 'rxjs';
import { dnsDiscovery } from '../../src/backends/dns/index.js';
import { startCountingRelay } from '../integration/dns/counting-relay.js';
import { startKnot } from '../servers/dns.js';

const NAMES = 50;
const TTL_S = 30;
const WINDOW_MS = 60_000;
const TARGET = 25;

export async function run(): Promise<void> {
  const records = Array.from({ length: NAMES }, (_, k) => [
    `_http._tcp.idle${k} ${TTL_S} IN SRV 0 1 ${10_000 + k} a${k}`,
    `a${k} ${TTL_S} IN A 127.0.0.1`,
  ]).flat();
  const knot = await startKnot(records);
  const ours = await startCountingRelay(knot.port);
  const theirs = await startCountingRelay(knot.port);
  const registry = dnsDiscovery(`dns+srv://${ours.address}/`, { onProblem: () => undefined });
  const resolver = new Resolver({ timeout: 2000, tries: 1 });
  resolver.setServers([theirs.address]);
  const names = Array.from({ length: NAMES }, (_, k) => `_http._tcp.idle${k}.rxdisco.test`);
  const subs: Subscription[] = [];
  try {
    // Both sides have their first answer before the window opens.
    for (const name of names) {
      const set$ = registry.instances$(name);
      subs.push(set$.subscribe());
      await firstValueFrom(set$.pipe(filter((s) => s.size === 1)));
    }
    const from = { ours: ours.count, theirs: theirs.count };
    subs.push(
      interval(1000)
        .pipe(mergeMap(() => Promise.all(names.map((n) => resolver.resolveSrv(n).catch(() => [])))))
        .subscribe(),
    );
    await firstValueFrom(interval(WINDOW_MS));
    const perMinute = (n: number): number => (n * 60_000) / WINDOW_MS;
    const rxdisco = perMinute(ours.count - from.ours);
    const polling = perMinute(theirs.count - from.theirs);
    const ratio = polling / Math.max(rxdisco, 1);
    console.log(
      `${NAMES} SRV names, TTL ${TTL_S} s, idle for ${WINDOW_MS / 1000} s: dns+srv:// ${rxdisco.toFixed(0)} requests/min, re-resolving every second ${polling.toFixed(0)} requests/min: ${ratio.toFixed(1)}x fewer (target >= ${TARGET}x) ${ratio >= TARGET ? 'PASS' : 'MISS'}`,
    );
  } finally {
    for (const s of subs) s.unsubscribe();
    resolver.cancel();
    await registry.close();
    await ours.close();
    await theirs.close();
    await knot.destroy();
  }
}
