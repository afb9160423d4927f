/**
 * Launches a real authoritative DNS server for tests: Knot DNS (`knotd`,
 * Debian's `knot` package: 3.2 on bookworm), on 127.0.0.1 with a random free
 * port (UDP and TCP), serving zone files that a test rewrites and reloads
 * (`knotc zone-reload`, blocking), from a temporary directory.
 *
 * {@link ensureKnot} installs the package with apt-get once (under
 * `/tmp/apt.lock`, as other helpers install packages too); `KNOTD=/path`
 * skips it (`knotc` is then looked up beside it).
 */
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { acceptsConnections, freePort, type Managed, startProcess, until } from './process.js';

const run = (cmd: string, args: readonly string[]): Promise<string> =>
  new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 10 * 60_000 }, (error, stdout, stderr) =>
      error === null
        ? resolve(stdout)
        : reject(new Error(`${cmd} ${args.join(' ')}: ${error.message}\n${stderr}`)),
    );
  });

let ensured: Promise<string> | undefined;

/** The path of `knotd`: `$KNOTD`, `/usr/sbin/knotd`, else apt-get installs `knot` first. */
export const ensureKnot = (): Promise<string> => {
  ensured ??= (async () => {
    const override = process.env.KNOTD;
    if (override !== undefined && override !== '') return override;
    const path = '/usr/sbin/knotd';
    if (existsSync(path)) return path;
    const install = [
      '/tmp/apt.lock',
      'apt-get',
      'install',
      '-y',
      '--no-install-recommends',
      'knot',
    ];
    await run('flock', install).catch(async () => {
      await run('flock', ['/tmp/apt.lock', 'apt-get', 'update']);
      await run('flock', install);
    });
    if (!existsSync(path)) throw new Error(`apt-get installed knot but ${path} is missing`);
    return path;
  })();
  ensured.catch(() => {
    ensured = undefined;
  });
  return ensured;
};

/** One record of a zone, written in zone-file syntax relative to the zone (`_http._tcp.hello 30 IN SRV 0 5 8080 a1`). */
export type ZoneRecord = string;

/** True when `port` is free for UDP on 127.0.0.1 too. */
const udpFree = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });

/** A running Knot server with one zone. */
export class KnotServer {
  #proc: Managed | undefined;
  #serial = 1;

  constructor(
    readonly knotd: string,
    readonly dir: string,
    readonly port: number,
    /** The zone, with its trailing dot (`rxdisco.test.`). */
    readonly zone: string,
  ) {}

  get #conf(): string {
    return join(this.dir, 'knot.conf');
  }

  /** `127.0.0.1:<port>`. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** The zone file's records (the SOA and NS are added), written now; the server is not told. */
  writeZone(records: readonly ZoneRecord[]): void {
    const z = this.zone;
    const under = (label: string): string => (z === '.' ? `${label}.` : `${label}.${z}`);
    const text = [
      `$ORIGIN ${z}`,
      '$TTL 30',
      `@ 30 IN SOA ${under('ns')} ${under('admin')} ${this.#serial++} 60 60 3600 1`,
      `@ 30 IN NS ${under('ns')}`,
      `${under('ns')} 30 IN A 127.0.0.1`,
      ...records,
      '',
    ].join('\n');
    writeFileSync(join(this.dir, 'zone.db'), text);
  }

  /** Rewrites the zone and waits until the server serves it. */
  async setZone(records: readonly ZoneRecord[]): Promise<void> {
    this.writeZone(records);
    await run(this.#knotc(), ['-c', this.#conf, '-b', 'zone-reload', this.zone]);
  }

  #knotc(): string {
    return join(dirname(this.knotd), 'knotc');
  }

  /** Starts the server (same port and files); waits until it accepts TCP. */
  async start(): Promise<void> {
    if (this.#proc !== undefined && !this.#proc.exited) return;
    const proc = startProcess(this.knotd, ['-c', this.#conf]);
    this.#proc = proc;
    await until(
      async () => {
        if (proc.exited) throw new Error(`knotd exited:\n${proc.output()}`);
        return acceptsConnections(this.port);
      },
      20_000,
      `knotd on ${this.address}`,
    );
  }

  /** Stops the server: queries go unanswered (the port is closed). */
  async stop(): Promise<void> {
    await this.#proc?.stop(2000);
    this.#proc = undefined;
  }

  /** Stops it and removes its files. */
  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const config = (dir: string, port: number, zone: string): string =>
  [
    'server:',
    `    rundir: "${dir}"`,
    `    listen: 127.0.0.1@${port}`,
    '    udp-workers: 1',
    '    tcp-workers: 1',
    '    background-workers: 1',
    'control:',
    `    listen: "${join(dir, 'knot.sock')}"`,
    'database:',
    `    storage: "${join(dir, 'db')}"`,
    'log:',
    '  - target: stderr',
    '    any: error',
    'template:',
    '  - id: default',
    `    storage: "${dir}"`,
    '    journal-content: none',
    '    zonefile-sync: -1',
    '    zonefile-load: whole',
    // Port 0 in an SRV record is what the malformed-entry tests serve.
    '    semantic-checks: off',
    'zone:',
    `  - domain: ${zone}`,
    `    file: "${join(dir, 'zone.db')}"`,
    '',
  ].join('\n');

/**
 * Starts Knot serving `zone` (default `rxdisco.test.`; `.` serves the root,
 * so that single-label names such as `conf-1-2` resolve) with `records`.
 */
export const startKnot = async (
  records: readonly ZoneRecord[] = [],
  zone = 'rxdisco.test.',
): Promise<KnotServer> => {
  const knotd = await ensureKnot();
  for (let attempt = 1; ; attempt++) {
    let port = await freePort();
    while (!(await udpFree(port))) port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'rxdisco-knot-'));
    writeFileSync(join(dir, 'knot.conf'), config(dir, port, zone));
    const server = new KnotServer(knotd, dir, port, zone);
    server.writeZone(records);
    try {
      await server.start();
      return server;
    } catch (e) {
      await server.destroy();
      if (attempt >= 3) throw e;
    }
  }
};
