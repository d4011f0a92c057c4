// Installs Debian's chromium (and chromium-driver) when it is missing, so that the browser tests
// run on a fresh machine with nothing installed by hand. playwright's own browser download does
// not work here: the tests drive the system chromium through playwright-core.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
if (!existsSync(CHROMIUM)) {
  if (process.getuid?.() !== 0) {
    console.error(`${CHROMIUM} is missing; install it: apt-get install -y chromium chromium-driver`);
    process.exit(1);
  }
  const run = (...args) => execFileSync(args[0], args.slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  run('apt-get', 'update');
  run('apt-get', 'install', '-y', '--no-install-recommends', 'chromium', 'chromium-driver');
}
console.log(execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).trim());
