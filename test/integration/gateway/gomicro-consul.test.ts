/**
 * go-micro services in a three-server Consul cluster, end to end through
 * `rxdisco gateway`: three go-micro web services (the Go program in
 * test/interop/gomicro, `serve` mode: go-micro.dev/v4/web over
 * plugins/v4/registry/consul, TTL check and re-registration as a go-micro
 * server does), `greeter` and `stock` with two instances, `billing` with
 * one, registered on the two followers through go-micro's own registry.
 * The spawned `rxdisco gateway consul://...` (leader first in its URL)
 * routes `/<service>/<path>` to them while a steady stream of GETs runs;
 * one greeter instance stops (go-micro deregisters it, then closes its
 * listener), one stock instance is killed (no deregistration: it stays in
 * the catalog until its TTL check fails), and the Consul leader is killed;
 * a third greeter instance registered after the election is routed to.
 * Every response is counted: all are 200 from the right service, none
 * fails.
 */
import { firstValueFrom, timer } from 'rxjs';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Discovery } from '../../../src/core/discovery.js';
import { waitFor } from '../../conformance/suite.js';
import { buildGoProgram, type GoProgram, runGoProgram } from '../../helpers/go-program.js';
import { eventually, expectNoLeakedHandles } from '../../helpers/handles.js';
import {
  type ConsulAgent,
  type ConsulCluster,
  ensureConsul,
  startConsulCluster,
} from '../../servers/consul.js';
import { type Cli, killAll, requireBuild, rxdisco } from '../cli/spawn.js';
import { testDiscovery } from '../consul/harness.js';

expectNoLeakedHandles();

/** Generous: a loaded two-core machine, Consul elections, go-micro's 2 s re-registration. */
const PATIENCE = 60_000;

let binary: string;
let cluster: ConsulCluster;
let d: Discovery | undefined;
const programs: GoProgram[] = [];

beforeAll(async () => {
  requireBuild();
  binary = buildGoProgram('gomicro');
  await ensureConsul();
  cluster = await startConsulCluster(3);
}, 15 * 60_000);

afterAll(async () => {
  await killAll();
  await Promise.all(programs.map((p) => p.stop()));
  await d?.close();
  await cluster?.destroy();
}, 60_000);

/** One go-micro web service instance as the test started it. */
interface Served {
  readonly program: GoProgram;
  /** HOST:PORT it serves and registered. */
  readonly address: string;
}

/** Starts `gomicro serve` against one agent; resolves once go-micro registered it. */
const serve = async (
  agent: ConsulAgent,
  name: string,
  version: string,
  id: string,
  metadata: Record<string, string>,
): Promise<Served> => {
  const program = runGoProgram(
    binary,
    'serve',
    'consul',
    `127.0.0.1:${agent.httpPort}`,
    name,
    version,
    id,
    ...Object.entries(metadata).map(([k, v]) => `${k}=${v}`),
  );
  programs.push(program);
  await eventually(
    () => program.lines.includes('registered'),
    PATIENCE,
    `go-micro ${id} to register (${program.stderr.join('')})`,
  );
  const address = program.lines.find((l) => l.startsWith('serving '))!.slice('serving '.length);
  return { program, address };
};

/** What the go-micro program answers on /hello. */
interface Hello {
  readonly service: string;
  readonly version: string;
  readonly id: string;
  readonly path: string;
  readonly query: string;
}

/** The GETs sent so far and what came back: every response counted. */
interface Tally {
  ok: number;
  readonly failures: string[];
  readonly byId: Map<string, number>;
}

const VERSIONS: Record<string, string> = { greeter: '1.4.0', billing: '2.3.0', stock: '0.9.1' };

/**
 * A steady stream of GETs through the gateway: `workers` loops, each
 * sending one GET at a time (cycling through `/greeter`, `/billing`,
 * `/stock`), paced a few ms apart; no retry on the client side.
 */
const getStream = (base: string, workers = 4) => {
  const dispatcher = new Agent({ keepAliveTimeout: 10_000 });
  const tally: Tally = { ok: 0, failures: [], byId: new Map() };
  const services = Object.keys(VERSIONS);
  let stopped = false;
  const one = async (service: string, n: number): Promise<void> => {
    const path = `/${service}/hello/${n}?seq=${n}`;
    try {
      const res = await request(`${base}${path}`, {
        dispatcher,
        headersTimeout: 30_000,
        bodyTimeout: 30_000,
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) {
        tally.failures.push(`GET ${path}: ${res.statusCode} ${text}`);
        return;
      }
      const hello = JSON.parse(text) as Hello;
      if (
        hello.service !== service ||
        hello.version !== VERSIONS[service] ||
        hello.path !== `/hello/${n}` ||
        hello.query !== `seq=${n}`
      ) {
        tally.failures.push(`GET ${path}: answered ${text}`);
        return;
      }
      tally.ok++;
      tally.byId.set(hello.id, (tally.byId.get(hello.id) ?? 0) + 1);
    } catch (e) {
      tally.failures.push(`GET ${path}: ${String(e)}`);
    }
  };
  const loop = async (w: number): Promise<void> => {
    for (let n = w; !stopped; n += workers) {
      await one(services[n % services.length]!, n);
      await firstValueFrom(timer(5));
    }
  };
  const done = Promise.all(Array.from({ length: workers }, (_, w) => loop(w)));
  return {
    tally,
    /** Ends the loops after their GET in flight; closes the client's pool. */
    stop: async (): Promise<void> => {
      stopped = true;
      await done;
      await dispatcher.close();
    },
  };
};

const at = (address: string): { host: string; port: number } => {
  const [host, port] = address.split(':');
  return { host: host!, port: Number(port) };
};

describe('go-micro services in a 3-server Consul cluster through rxdisco gateway', () => {
  it(
    'routes every GET through an instance stop, an instance crash and a leader stop; sees their metadata and version',
    async () => {
      const leader = await cluster.leader();
      const [a, b] = cluster.agents.filter((x) => x !== leader) as [ConsulAgent, ConsulAgent];
      const greeter1 = await serve(a, 'greeter', VERSIONS.greeter!, 'greeter-1', { team: 'blue' });
      const greeter2 = await serve(b, 'greeter', VERSIONS.greeter!, 'greeter-2', { team: 'blue' });
      const billing = await serve(a, 'billing', VERSIONS.billing!, 'billing-1', { team: 'red' });
      const stock1 = await serve(b, 'stock', VERSIONS.stock!, 'stock-1', { team: 'green' });
      const stock2 = await serve(a, 'stock', VERSIONS.stock!, 'stock-2', { team: 'green' });

      // rxdisco sees go-micro's registrations with their metadata and version
      const discovery = testDiscovery(`consul://127.0.0.1:${a.httpPort},127.0.0.1:${b.httpPort}`);
      d = discovery;
      const [greeters, billings, stocks] = await Promise.all([
        waitFor(discovery.instances$('greeter'), (s) => s.size === 2, PATIENCE, 'both greeters'),
        waitFor(discovery.instances$('billing'), (s) => s.size === 1, PATIENCE, 'billing'),
        waitFor(discovery.instances$('stock'), (s) => s.size === 2, PATIENCE, 'both stocks'),
      ]);
      const blue = { team: 'blue', version: '1.4.0' };
      const green = { team: 'green', version: '0.9.1' };
      expect(greeters.instances).toMatchObject([
        {
          id: 'greeter-1',
          service: 'greeter',
          ...at(greeter1.address),
          status: 'UP',
          tags: [],
          metadata: blue,
        },
        {
          id: 'greeter-2',
          service: 'greeter',
          ...at(greeter2.address),
          status: 'UP',
          tags: [],
          metadata: blue,
        },
      ]);
      expect(billings.instances).toMatchObject([
        {
          id: 'billing-1',
          ...at(billing.address),
          tags: [],
          metadata: { team: 'red', version: '2.3.0' },
        },
      ]);
      expect(stocks.instances).toMatchObject([
        { id: 'stock-1', ...at(stock1.address), tags: [], metadata: green },
        { id: 'stock-2', ...at(stock2.address), tags: [], metadata: green },
      ]);

      // the gateway talks to the leader first, then to the followers
      const url = `consul://${[leader, a, b].map((x) => `127.0.0.1:${x.httpPort}`).join(',')}`;
      const gw: Cli = rxdisco('gateway', url, '--listen', '127.0.0.1:0');
      const listening = await gw.line(
        (l) => l.startsWith('rxdisco gateway listening on http://'),
        PATIENCE,
        'the listening line',
      );
      const load = getStream(listening.slice('rxdisco gateway listening on '.length));
      const { tally } = load;
      const served = (id: string): number => tally.byId.get(id) ?? 0;
      const failed = (): string => tally.failures.slice(0, 5).join('\n');
      /** Waits until `id` answered `n` more GETs (or a GET failed). */
      const answers = async (id: string, n: number, what: string): Promise<void> => {
        const from = served(id);
        await eventually(() => served(id) >= from + n || tally.failures.length > 0, PATIENCE, what);
        expect(failed()).toBe('');
      };
      /** Waits until rxdisco no longer sees `id` of `service` as UP. */
      const left = (service: string, id: string, what: string) =>
        waitFor(
          discovery.instances$(service),
          (s) => !s.instances.some((i) => i.id === id && i.status === 'UP'),
          PATIENCE,
          what,
        );
      try {
        for (const id of ['greeter-1', 'greeter-2', 'billing-1', 'stock-1', 'stock-2'])
          await answers(id, 10, `${id} to answer through the gateway`);

        // one greeter instance stops: go-micro deregisters it, then closes its listener
        expect(await greeter1.program.stop()).toBe(0);
        expect(greeter1.program.lines).toContain('deregistered');
        await left('greeter', 'greeter-1', 'greeter-1 to leave');
        await answers('greeter-2', 20, 'greeter-2 to go on answering');

        // one stock instance dies (SIGKILL): it stays registered until its TTL check fails
        await stock2.program.kill();
        await answers('stock-1', 20, 'stock-1 to answer while stock-2 is dead');
        await left('stock', 'stock-2', 'stock-2 to fail its TTL check');
        await answers('stock-1', 20, 'stock-1 to go on answering');

        // the Consul leader is stopped (killed: no graceful leave)
        await leader.kill();
        expect(await cluster.leader(PATIENCE)).not.toBe(leader);
        // a greeter registered after the election is routed to
        await serve(b, 'greeter', VERSIONS.greeter!, 'greeter-3', { team: 'blue' });
        await answers(
          'greeter-3',
          10,
          'greeter-3 to answer through the gateway after the election',
        );
        for (const id of ['greeter-2', 'billing-1', 'stock-1'])
          await answers(id, 20, `${id} to go on answering after the election`);
      } finally {
        await load.stop();
      }
      expect(tally.failures).toEqual([]);
      expect(served('greeter-1')).toBeGreaterThanOrEqual(10);
      expect(tally.ok).toBeGreaterThan(200);
      gw.child.kill('SIGTERM');
      expect(await gw.exit(30_000)).toEqual({ code: 0, signal: null });
    },
    10 * 60_000,
  );
});
