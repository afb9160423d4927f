/**
 * Shared plumbing of the server launchers: free ports, readiness waits and
 * child processes that are always stopped.
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { connect, createServer } from 'node:net';

/** A free TCP port on 127.0.0.1 (bind port 0, read it, release it). */
export const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });

/** True when something accepts TCP connections on 127.0.0.1:port. */
export const acceptsConnections = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });

/** Polls `check` every 50 ms until it resolves true; rejects after `timeoutMs` naming `what`. */
export const until = async (
  check: () => Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

/** A child process whose output tail is kept for error messages. */
export interface Managed {
  readonly child: ChildProcess;
  /** The last lines the process printed (stdout and stderr). */
  output(): string;
  /** True once the process has exited. */
  readonly exited: boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `command` with its output captured (last 200 lines). */
export const startProcess = (
  command: string,
  args: readonly string[],
  options: SpawnOptions = {},
): Managed => {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    lines.push(...chunk.toString('utf8').split('\n'));
    if (lines.length > 200) lines.splice(0, lines.length - 200);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', (e) => {
      lines.push(String(e));
      exited = true;
      resolve();
    });
  });
  return {
    child,
    output: () => lines.join('\n'),
    get exited() {
      return exited;
    },
    stop: async (graceMs = 5000) => {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
      child.stdout?.destroy();
      child.stderr?.destroy();
    },
  };
};
