/**
 * `run(argv, ctx)`: parses the command line and runs the command; resolves
 * with the exit status. Everything but the process itself is in `ctx`, so
 * that the CLI runs in-process in tests.
 *
 * @module
 */
import { parseCommand } from './args.js';
import { runServices, runWatchAll } from './catalog.js';
import { type CliContext, EXIT_OK, EXIT_USAGE, errorLine, exitCodeFor } from './context.js';
import { runDemo } from './demo.js';
import { runRegister } from './register.js';
import { USAGE } from './usage.js';
import { runWatch } from './watch.js';

/** Options of {@link run}. */
export interface RunOptions {
  /**
   * The version `--version` prints.
   * @default 'unknown'
   */
  readonly version?: string;
}

/**
 * Runs `rxdisco <argv>`. Bad arguments print one line on stderr and resolve
 * 2; `--help` prints the usage and resolves 0; otherwise resolves with the
 * command's status once it has released everything.
 *
 * @example
 * ```ts
 * process.exitCode = await run(process.argv.slice(2), nodeContext());
 * ```
 */
export const run = async (
  argv: readonly string[],
  ctx: CliContext,
  options: RunOptions = {},
): Promise<number> => {
  let command: ReturnType<typeof parseCommand>;
  try {
    command = parseCommand(argv);
  } catch (e) {
    ctx.err(errorLine(e));
    return EXIT_USAGE;
  }
  try {
    switch (command.kind) {
      case 'help':
        for (const line of USAGE.trimEnd().split('\n')) ctx.out(line);
        return EXIT_OK;
      case 'version':
        ctx.out(options.version ?? 'unknown');
        return EXIT_OK;
      case 'watch':
        return await runWatch(command, ctx);
      case 'watch-all':
        return await runWatchAll(command, ctx);
      case 'services':
        return await runServices(command, ctx);
      case 'register':
        return await runRegister(command, ctx);
      case 'gateway':
        // Loaded on use: it loads undici (an optional peer), the other commands do not.
        return await (await import('./gateway.js')).runGateway(command, ctx);
      case 'demo':
        return await runDemo(command, ctx);
    }
  } catch (e) {
    ctx.err(errorLine(e));
    return exitCodeFor(e);
  }
};
