/**
 * The small Go programs of the interop tests (`test/interop/<name>`, each
 * a Go module whose dependencies come from the Go module proxy): built with
 * `go build` into `.cache/<name>/<name>`, run with their stdout collected
 * line by line, stopped by closing their stdin.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = new URL('../..', import.meta.url).pathname;

/** Builds `test/interop/<name>` (go build caches what did not change); returns the binary. */
export const buildGoProgram = (name: string): string => {
  const binary = join(ROOT, '.cache', name, name);
  mkdirSync(join(ROOT, '.cache', name), { recursive: true });
  console.log(`building ${binary} with go build`);
  execFileSync('go', ['build', '-o', binary, '.'], {
    cwd: join(ROOT, 'test', 'interop', name),
    stdio: 'inherit',
  });
  return binary;
};

/** A running Go program. */
export interface GoProgram {
  /** Its stdout lines so far. */
  readonly lines: string[];
  /** Its stderr so far, in chunks. */
  readonly stderr: string[];
  /** Closes its stdin and waits for its exit (killed after 10 s); its exit code. */
  stop(): Promise<number | null>;
  /** Kills it at once (SIGKILL: it cannot deregister) and waits for its exit. */
  kill(): Promise<void>;
}

/** Runs `binary` with `args`. */
export const runGoProgram = (binary: string, ...args: string[]): GoProgram => {
  const proc: ChildProcess = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => lines.push(l));
  proc.stderr!.on('data', (c: Buffer) => stderr.push(c.toString()));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
  return {
    lines,
    stderr,
    stop: async () => {
      proc.stdin!.end();
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    kill: async () => {
      proc.kill('SIGKILL');
      await exited;
    },
  };
};
