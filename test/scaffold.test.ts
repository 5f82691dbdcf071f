// A new game project end to end, outside this repository: npm pack this package and create-tickwire, create a project with the creator (npm exec, as `npm create tickwire` does), npm install it from the tarball (third-party packages from npm's cache), run its npm test, npm start it on ephemeral ports and run WebRTC bots against it. Everything started is killed by process group.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NAME = 'space-dots';

/** The environment for npm in the new project: no npm_* variables of the npm running this test, no repository bin folder on PATH. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'INIT_CWD' && k !== 'NODE_OPTIONS') env[k] = v;
  env.PATH = (process.env.PATH ?? '').split(delimiter).filter((p) => !p.startsWith(ROOT)).join(delimiter);
  return { ...env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false', ...extra };
}

/** Processes started in their own group, killed (the whole group) in afterAll. */
const started: ChildProcess[] = [];
const dirs: string[] = [];

function killGroup(p: ChildProcess, signal: NodeJS.Signals): void {
  if (p.pid === undefined || p.exitCode !== null || p.signalCode !== null) return;
  try {
    process.kill(-p.pid, signal);
  } catch {
    // already gone
  }
}

/** Runs a command in its own process group; resolves with its output, rejects on a non-zero exit or after timeoutMs (group killed). */
function run(cmd: string, args: string[], cwd: string, timeoutMs: number, env: NodeJS.ProcessEnv = cleanEnv()): Promise<{ out: string; stdout: string }> {
  return new Promise((ok, fail) => {
    const p = spawn(cmd, args, { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(p);
    let out = '';
    let stdout = '';
    p.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      stdout += d.toString();
    });
    p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      killGroup(p, 'SIGKILL');
      fail(new Error(`${cmd} ${args.join(' ')} timed out after ${timeoutMs} ms:\n${out.slice(-4000)}`));
    }, timeoutMs);
    p.on('error', (err) => {
      clearTimeout(timer);
      fail(err);
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) ok({ out, stdout });
      else fail(new Error(`${cmd} ${args.join(' ')} exited ${code}:\n${out.slice(-4000)}`));
    });
  });
}

/** npm pack of the folder `dir` into `dest`; the tarball's path. */
async function pack(dir: string, dest: string): Promise<string> {
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', dest], dir, 60_000);
  const list = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string }[];
  return join(dest, list[0].filename);
}

afterAll(async () => {
  for (const p of started) killGroup(p, 'SIGTERM');
  const deadline = Date.now() + 5000;
  while (started.some((p) => p.exitCode === null && p.signalCode === null) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const p of started) killGroup(p, 'SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('a new game project from the packed packages', () => {
  it('is created, installs, passes its tests, starts on an ephemeral port and serves bots over WebRTC', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'tickwire-scaffold-'));
    dirs.push(tmp);
    const times: Record<string, number> = {};
    const t0 = Date.now();
    let last = t0;
    const lap = (name: string): void => {
      times[name] = Date.now() - last;
      last = Date.now();
    };

    // (a) the tarballs
    const tickwire = await pack(ROOT, tmp);
    const creator = await pack(join(ROOT, 'create'), tmp);
    lap('pack');

    // (b) the project, as `npm create tickwire` makes it (npm exec of the create-tickwire package)
    // (a cache of its own: npm exec installs the creator, which has no dependencies, under it)
    await run('npm', ['exec', '--yes', '--cache', join(tmp, 'npx-cache'), `--package=file:${creator}`, '--', 'create-tickwire', NAME, '--tickwire', tickwire], tmp, 60_000);
    lap('create');
    const app = join(tmp, NAME);
    const appPkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { name: string; dependencies: Record<string, string>; overrides: Record<string, string> };
    expect(appPkg.name).toBe(NAME);
    expect(appPkg.dependencies.tickwire).toBe(`file:${tickwire}`);
    expect(readFileSync(join(app, 'game.ts'), 'utf8')).toContain(`name: '${NAME}'`);

    // (c) install: tickwire from its tarball, the rest from npm's cache (the registry only for what it lacks)
    const installed = await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund'], app, 240_000);
    lap('install');
    expect(installed.out).toMatch(/@geckos\.io\/server@3\.1\.0 ✔/);
    const nd = JSON.parse(readFileSync(join(app, 'node_modules/node-datachannel/package.json'), 'utf8')) as { version: string };
    expect(nd.version).toBe(appPkg.overrides['node-datachannel']);
    expect(readFileSync(join(app, 'node_modules/@geckos.io/server/lib/geckos/channel.js'), 'utf8')).toContain('[patched]');
    // the declarations npm pack generated (the project's tsc reads them, not tickwire's source)
    expect(readFileSync(join(app, 'node_modules/tickwire/types/testing/index.d.ts'), 'utf8')).toContain('startTestServer');

    // (d) the project's own tests (typecheck + node:test on the loopback server)
    const tested = await run('npm', ['test'], app, 180_000);
    lap('test');
    expect(tested.out).toMatch(/# pass 3\b/);
    expect(tested.out).toMatch(/# fail 0\b/);

    // (e) npm start on ephemeral ports, then bots over WebRTC
    const udpMin = 40000 + (process.pid % 200) * 100;
    const server = spawn('npm', ['start'], {
      cwd: app, detached: true, stdio: ['ignore', 'pipe', 'pipe'],
      env: cleanEnv({ PORT: '0', HOST: '127.0.0.1', TICKWIRE_SIGNALING_PORT: '0', TICKWIRE_UDP_PORT_MIN: String(udpMin), TICKWIRE_UDP_PORT_MAX: String(udpMin + 99) }),
    });
    started.push(server);
    let log = '';
    server.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const url = await new Promise<string>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`npm start did not listen within 90 s:\n${log.slice(-4000)}`)), 90_000);
      let buf = '';
      server.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        log += d.toString();
        for (const line of buf.split('\n')) {
          if (!line.includes('"tickwire listening"')) continue;
          clearTimeout(timer);
          ok((JSON.parse(line) as { http: string }).http.replace(/\/$/, ''));
        }
      });
      server.on('exit', (code) => {
        clearTimeout(timer);
        fail(new Error(`npm start exited ${code}:\n${log.slice(-4000)}`));
      });
    });
    lap('start');
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const config = (await (await fetch(`${url}/config`)).json()) as { game: string; webrtc: boolean };
    expect(config).toMatchObject({ game: NAME, webrtc: true });
    expect(await (await fetch(`${url}/`)).text()).toContain('<canvas');

    const bots = await run('npx', ['tickwire', 'bots', '--url', url, '--count', '2', '--seconds', '2', '--transport', 'webrtc', '--json'], app, 90_000);
    lap('bots');
    const summary = JSON.parse(bots.stdout.trim().split('\n').pop()!) as { connected: number; failed: number; webrtcAtEnd: number; snapshotsPerClientPerSec: number; inputsAcked: number };
    expect(summary.connected).toBe(2);
    expect(summary.failed).toBe(0);
    expect(summary.webrtcAtEnd).toBeGreaterThanOrEqual(1);
    expect(summary.snapshotsPerClientPerSec).toBeGreaterThan(10);
    expect(summary.inputsAcked).toBeGreaterThan(0);

    // (f) a graceful stop: SIGTERM to the group (npm, tickwire and the WebRTC process); 'close'
    // comes once every process holding the output pipes has exited
    const closed = new Promise<void>((r) => server.on('close', () => r()));
    killGroup(server, 'SIGTERM');
    await Promise.race([closed, new Promise((r) => setTimeout(r, 10_000))]);
    expect(log).toContain('"tickwire stopped"');
    console.log(`scaffold: ${Object.entries(times).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)} s`).join(', ')}; total ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }, 600_000);
});
