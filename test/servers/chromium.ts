/**
 * Headless Chromium for the tests that open a page (the gateway's status
 * page): Debian's `chromium` package, driven by `playwright-core` over its
 * own protocol (no browser download: `executablePath`).
 *
 * {@link ensureChromium} installs the package with apt-get once (under
 * `/tmp/apt.lock`, as other helpers install packages too, `apt-get update`
 * first when the package is unknown); `CHROMIUM=/path` skips it.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const aptGet = (...args: string[]) =>
  exec('flock', ['/tmp/apt.lock', 'apt-get', ...args], { timeout: 20 * 60_000 });

let ensured: Promise<string> | undefined;

/** The path of the Chromium binary: `$CHROMIUM`, `/usr/bin/chromium`, else apt-get installs `chromium` first. */
export const ensureChromium = (): Promise<string> => {
  ensured ??= (async () => {
    const override = process.env.CHROMIUM;
    if (override !== undefined && override !== '') return override;
    const path = '/usr/bin/chromium';
    if (existsSync(path)) return path;
    const install = ['install', '-y', '--no-install-recommends', 'chromium'];
    await aptGet(...install).catch(async () => {
      await aptGet('update');
      await aptGet(...install);
    });
    if (!existsSync(path)) throw new Error(`apt-get installed chromium but ${path} is missing`);
    return path;
  })();
  ensured.catch(() => {
    ensured = undefined;
  });
  return ensured;
};
