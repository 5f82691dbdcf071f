// Runs before `npm test`: makes sure the system packages the tests drive are installed. As root on
// Debian it installs the missing ones with apt-get; anywhere else it stops at once with the command
// to run. The list grows with the tests (Chromium for the browser tests, redis-server for the fleet).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Debian package, the command that proves it is installed, and what needs it. */
const PACKAGES = [
  { pkg: 'chromium', bin: 'chromium', why: 'browser tests (test/browser.test.ts)' },
  { pkg: 'redis-server', bin: 'redis-server', why: 'fleet tests against a real Redis (test/fleet-*.test.ts)' },
];

const has = (bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
const missing = PACKAGES.filter((p) => !has(p.bin));
if (missing.length === 0) process.exit(0);

const names = missing.map((p) => p.pkg).join(' ');
const debian = existsSync('/etc/debian_version');
const root = typeof process.getuid === 'function' && process.getuid() === 0;
if (!debian || !root) {
  console.error(`npm test needs these system packages: ${missing.map((p) => `${p.pkg} (${p.why})`).join(', ')}.`);
  console.error(debian ? `Install them with:\n  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${names}` : `Install them with your system's package manager (Debian: apt-get install -y --no-install-recommends ${names}).`);
  process.exit(1);
}
console.error(`installing system packages for the tests: ${names}`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
try {
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing.map((p) => p.pkg)], { stdio: ['ignore', 'ignore', 'inherit'], env });
} catch (err) {
  console.error(`apt-get failed (${err.message}); install by hand: apt-get install -y --no-install-recommends ${names}`);
  process.exit(1);
}
const still = missing.filter((p) => !has(p.bin));
if (still.length > 0) {
  console.error(`still missing after apt-get: ${still.map((p) => p.pkg).join(' ')}`);
  process.exit(1);
}
