/**
 * Launches real Apache ZooKeeper servers for tests: one standalone server
 * (ZooKeeperServerMain) or an ensemble (QuorumPeerMain), on 127.0.0.1 with
 * random free ports and temporary data directories.
 *
 * The server is the Maven Central jar org.apache.zookeeper:zookeeper
 * (pinned in test/servers/zookeeper/pom.xml) with its runtime dependencies,
 * copied by `mvn dependency:copy-dependencies` into `.cache/zookeeper/lib-<hash>`
 * (git-ignored) once per version of the pom: about 7 MB, a few seconds
 * from an empty Maven cache. Chosen over Debian's `zookeeper` package, which
 * pulls in dozens of Java library packages and runs as a system service.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, type Managed, startProcess, until } from './process.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const POM_DIR = join(ROOT, 'test', 'servers', 'zookeeper');
const CACHE = join(ROOT, '.cache', 'zookeeper');

let libs: Promise<string> | undefined;

/** The directory of the server's jars, copied by Maven if the pom changed. Idempotent. */
export const ensureZookeeper = (): Promise<string> => {
  libs ??= (async () => {
    const hash = createHash('sha256')
      .update(readFileSync(join(POM_DIR, 'pom.xml')))
      .digest('hex')
      .slice(0, 16);
    const dir = join(CACHE, `lib-${hash}`);
    if (existsSync(dir)) return dir;
    mkdirSync(CACHE, { recursive: true });
    const tmp = `${dir}.tmp-${process.pid}`;
    await new Promise<void>((resolve, reject) =>
      execFile(
        'mvn',
        [
          '-q',
          '-B',
          'dependency:copy-dependencies',
          `-DoutputDirectory=${tmp}`,
          '-DincludeScope=runtime',
        ],
        { cwd: POM_DIR, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) =>
          error
            ? reject(new Error(`mvn dependency:copy-dependencies failed:\n${stdout}\n${stderr}`))
            : resolve(),
      ),
    );
    try {
      renameSync(tmp, dir); // atomic: readers see all the jars or none
    } catch {
      rmSync(tmp, { recursive: true, force: true }); // another process won the race
    }
    return dir;
  })();
  return libs;
};

/** Sends a four-letter command (`ruok`, `srvr`, `mntr`) and resolves to the answer ('' if none). */
export const fourLetter = (port: number, command: string): Promise<string> =>
  new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let out = '';
    // A server that is starting may accept and never answer: give up after a second.
    socket.setTimeout(1000, () => socket.destroy());
    socket.on('connect', () => socket.write(command));
    socket.on('data', (d) => {
      out += d.toString('utf8');
    });
    socket.on('close', () => resolve(out));
    socket.on('error', () => resolve(''));
  });

const JVM = ['-XX:TieredStopAtLevel=1', '-XX:+UseSerialGC', '-Xss512k', '-Xmx128m'];

/** One member (or the standalone server). */
export interface ZookeeperMember {
  readonly id: number;
  readonly clientPort: number;
  /** `127.0.0.1:port`. */
  readonly endpoint: string;
  readonly running: boolean;
  /** `leader`, `follower` or `standalone` (from `srvr`); '' when it does not answer. */
  mode(): Promise<string>;
  output(): string;
  /** SIGKILL: no goodbye to clients or peers. */
  kill(): Promise<void>;
  /** Starts it again with the same data and ports; waits until it serves. */
  start(): Promise<void>;
}

/** A running standalone server or ensemble. */
export interface ZookeeperCluster {
  readonly members: readonly ZookeeperMember[];
  /** `host:port,host:port` of every member. */
  readonly connectString: string;
  /** The member that is leader now (the standalone server when alone). */
  leader(): Promise<ZookeeperMember | undefined>;
  destroy(): Promise<void>;
}

/**
 * Starts `size` ZooKeeper servers (1: standalone) on 127.0.0.1 and waits
 * until each serves clients (`srvr` answers with a mode).
 */
export const startZookeeper = async (size = 1, tickMs = 200): Promise<ZookeeperCluster> => {
  const lib = await ensureZookeeper();
  const base = mkdtempSync(join(tmpdir(), 'rxdisco-zk-'));
  const ports = await Promise.all(
    Array.from({ length: size }, async () => ({
      client: await freePort(),
      peer: await freePort(),
      election: await freePort(),
    })),
  );
  const members = ports.map((p, i): ZookeeperMember => {
    const id = i + 1;
    const dataDir = join(base, `m${id}`);
    mkdirSync(dataDir, { recursive: true });
    const cfg = join(base, `zoo${id}.cfg`);
    const lines = [
      `tickTime=${tickMs}`,
      `dataDir=${dataDir}`,
      `clientPort=${p.client}`,
      'clientPortAddress=127.0.0.1',
      'admin.enableServer=false',
      '4lw.commands.whitelist=*',
      'initLimit=20',
      'syncLimit=10',
      // sessions from 2 ticks to 60 s, so tests can ask for short ones
      `minSessionTimeout=${2 * tickMs}`,
      'maxSessionTimeout=60000',
    ];
    if (size > 1) {
      writeFileSync(join(dataDir, 'myid'), `${id}\n`);
      for (const [j, q] of ports.entries())
        lines.push(`server.${j + 1}=127.0.0.1:${q.peer}:${q.election}`);
    } else lines.push('standaloneEnabled=true');
    writeFileSync(cfg, `${lines.join('\n')}\n`);
    const main =
      size > 1
        ? 'org.apache.zookeeper.server.quorum.QuorumPeerMain'
        : 'org.apache.zookeeper.server.ZooKeeperServerMain';
    let proc: Managed | undefined;
    const member: ZookeeperMember = {
      id,
      clientPort: p.client,
      endpoint: `127.0.0.1:${p.client}`,
      get running() {
        return proc !== undefined && !proc.exited;
      },
      mode: async () => /Mode: (\w+)/.exec(await fourLetter(p.client, 'srvr'))?.[1] ?? '',
      output: () => proc?.output() ?? '',
      kill: async () => {
        proc?.child.kill('SIGKILL');
        await proc?.stop(100);
      },
      start: async () => {
        // A restart right after a kill can lose the race for the port: try again, a few times.
        for (let attempt = 1; ; attempt++) {
          proc = startProcess('java', [...JVM, '-cp', `${lib}/*`, main, cfg], { cwd: base });
          const started = proc;
          let exited = false;
          await until(
            async () => {
              exited = started.exited;
              return exited || (await member.mode()) !== '';
            },
            60_000,
            `ZooKeeper member ${id} on port ${p.client}`,
          );
          if (!exited) return;
          if (attempt === 3) throw new Error(`ZooKeeper ${id} exited:\n${started.output()}`);
        }
      },
    };
    return member;
  });
  // An ensemble elects a leader only once a quorum runs: start them together.
  await Promise.all(members.map((m) => m.start()));
  return {
    members,
    connectString: members.map((m) => m.endpoint).join(','),
    leader: async () => {
      for (const m of members) {
        const mode = m.running ? await m.mode() : '';
        if (mode === 'leader' || mode === 'standalone') return m;
      }
      return undefined;
    },
    destroy: async () => {
      await Promise.all(members.map((m) => m.kill()));
      rmSync(base, { recursive: true, force: true });
    },
  };
};

const SPRING_DIR = join(ROOT, 'test', 'interop', 'zk-spring');
let springJar: Promise<string> | undefined;

/**
 * The Spring Cloud Zookeeper interop client jar (test/interop/zk-spring),
 * built with Maven into `.cache/zookeeper/` once per version of its pom and
 * sources. Idempotent.
 */
export const ensureZookeeperSpringClient = (): Promise<string> => {
  springJar ??= (async () => {
    const h = createHash('sha256');
    const walk = (dir: string): string[] =>
      readdirSync(dir)
        .sort()
        .flatMap((f) =>
          statSync(join(dir, f)).isDirectory() ? walk(join(dir, f)) : [join(dir, f)],
        );
    for (const f of [join(SPRING_DIR, 'pom.xml'), ...walk(join(SPRING_DIR, 'src'))]) {
      h.update(f.slice(SPRING_DIR.length)).update('\0').update(readFileSync(f)).update('\0');
    }
    const jar = join(CACHE, `rxdisco-zk-spring-${h.digest('hex').slice(0, 16)}.jar`);
    if (existsSync(jar)) return jar;
    mkdirSync(CACHE, { recursive: true });
    await new Promise<void>((resolve, reject) =>
      execFile(
        'mvn',
        ['-q', '-B', 'package', '-DskipTests'],
        { cwd: SPRING_DIR, maxBuffer: 64 * 1024 * 1024 },
        (error, stdout, stderr) =>
          error
            ? reject(new Error(`mvn package failed in ${SPRING_DIR}:\n${stdout}\n${stderr}`))
            : resolve(),
      ),
    );
    copyFileSync(join(CACHE, 'spring-build', 'rxdisco-zk-spring.jar'), `${jar}.tmp`);
    renameSync(`${jar}.tmp`, jar);
    return jar;
  })();
  return springJar;
};

/** A running Spring Cloud Zookeeper client: registered, and asked what it discovers. */
export interface ZookeeperSpringClient {
  readonly port: number;
  readonly instanceId: string;
  /** What its DiscoveryClient sees of `service`. */
  seen(service: string): Promise<
    {
      instanceId: string;
      host: string;
      port: number;
      secure: boolean;
      metadata: Record<string, string>;
    }[]
  >;
  output(): string;
  stop(): Promise<void>;
}

const get = (port: number, path: string): Promise<{ status: number; text: string }> =>
  new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, agent: false, headers: { connection: 'close' } },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => {
          text += d.toString('utf8');
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end();
  });

/** Starts the Spring Cloud Zookeeper client registered as `name` under `root` of `connectString`. */
export const startZookeeperSpringClient = async (
  connectString: string,
  name: string,
  metadata: Readonly<Record<string, string>> = {},
  root = '/services',
): Promise<ZookeeperSpringClient> => {
  const jar = await ensureZookeeperSpringClient();
  const port = await freePort();
  const instanceId = `${name}-java-${port}`;
  const proc = startProcess(
    'java',
    [
      ...JVM,
      '-Xmx256m',
      '-jar',
      jar,
      `--server.port=${port}`,
      `--spring.application.name=${name}`,
      `--spring.cloud.zookeeper.connect-string=${connectString}`,
      `--spring.cloud.zookeeper.discovery.root=${root}`,
      `--spring.cloud.zookeeper.discovery.instance-id=${instanceId}`,
      ...Object.entries(metadata).map(
        ([k, v]) => `--spring.cloud.zookeeper.discovery.metadata.${k}=${v}`,
      ),
    ],
    { cwd: CACHE },
  );
  const seen = async (service: string) => {
    const res = await get(port, `/seen/${service}`);
    if (res.status !== 200)
      throw new Error(`GET /seen/${service} answered ${res.status}: ${res.text}`);
    return JSON.parse(res.text) as Awaited<ReturnType<ZookeeperSpringClient['seen']>>;
  };
  try {
    await until(
      async () => {
        if (proc.exited) return true;
        await seen('none');
        return true;
      },
      90_000,
      `the Spring Cloud Zookeeper client on port ${port}`,
    );
    if (proc.exited) throw new Error('the Spring Cloud Zookeeper client exited');
  } catch (e) {
    const out = proc.output();
    await proc.stop(8000);
    throw new Error(`${(e as Error).message}\n${out}`);
  }
  return { port, instanceId, seen, output: () => proc.output(), stop: () => proc.stop(8000) };
};
