// `npm run dev` as a developer runs it, on ephemeral ports: a server file changes and the server
// restarts, a client file changes and the bundle is rebuilt; each time the open page reloads (an
// EventSource in headless Chromium, and a plain event stream reader). Production's bundle has no
// reload script. Files are only touched (mtime), never rewritten.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync, utimesSync } from 'node:fs';
import { get } from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { classifyChange, injectReload, reloadScript } from '../tools/dev/runner.ts';
import { freePort } from '../tools/measure/server-proc.ts';

const root = new URL('..', import.meta.url).pathname;
const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];


async function until<T>(get: () => T | undefined | false | Promise<T | undefined | false>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Sets a file's times to now: a change for the watcher, the same content for everyone else. */
function touch(rel: string): void {
  const now = new Date();
  utimesSync(join(root, rel), now, now);
}

interface DevStatus {
  build: string;
  builds: number;
  serverPid: number | null;
  serverStarts: number;
  http: string;
  /** Event streams open (pages listening). */
  pages: number;
}

describe('dev runner parts', () => {
  it('classifies changes: server code restarts, client code rebuilds, shared and games do both; editors\' files and the bundle are ignored', () => {
    expect(classifyChange('server/inbound.ts')).toEqual({ restart: true, rebuild: false });
    expect(classifyChange('client/render.ts')).toEqual({ restart: false, rebuild: true });
    expect(classifyChange('client/index.html')).toEqual({ restart: false, rebuild: true });
    expect(classifyChange('shared/protocol/delta.ts')).toEqual({ restart: true, rebuild: true });
    expect(classifyChange('games/orbit.ts')).toEqual({ restart: true, rebuild: true });
    expect(classifyChange('netcode/netcode.ts')).toEqual({ restart: false, rebuild: true });
    for (const ignored of ['client/dist/main.js', 'server/.main.ts.swp', 'server/main.ts~', 'games/4913', 'test/x.test.ts', 'README.md', 'server', 'server/net/.#uws.ts']) {
      expect(classifyChange(ignored), ignored).toBeUndefined();
    }
  });

  it('injects the reload script before </body>', () => {
    const page = injectReload('<html><body><p>x</p></body></html>', reloadScript(4321, '7-abc'));
    expect(page).toMatch(/<p>x<\/p><script data-tickwire-dev-build="7-abc">.*:4321\/events.*<\/script>\n<\/body><\/html>$/s);
    expect(injectReload('<p>no body</p>', '<script></script>')).toBe('<p>no body</p>\n<script></script>\n');
  });
});

describe('npm run dev', () => {
  let child: ChildProcessWithoutNullStreams | undefined;
  let browser: Browser | undefined;
  afterAll(async () => {
    await browser?.close();
    if (child?.pid !== undefined && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      try {
        process.kill(-child.pid, 'SIGTERM'); // the whole group: npm, the runner, the server
      } catch {
        // already gone
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-child!.pid!, 'SIGKILL');
        } catch {
          // gone
        }
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }
  }, 20_000);

  it('restarts the server on a server change, rebuilds on a client change, and the page reloads each time', async () => {
    const port = await freePort();
    const devPort = await freePort();
    child = spawn('npm', ['run', '--silent', 'dev', '--', '--dev-port', String(devPort)], {
      cwd: root, detached: true,
      env: { ...process.env, PORT: String(port), TICKWIRE_SIGNALING_PORT: String(await freePort()), TICKWIRE_WEBRTC: '0', LOG_LEVEL: 'info' },
    });
    const lines: Record<string, unknown>[] = [];
    let out = '';
    let buf = '';
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        out += `${line}\n`;
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not a log line
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const listening = (): number => lines.filter((l) => l.msg === 'tickwire listening').length;
    const status = async (): Promise<DevStatus> => (await (await fetch(`http://127.0.0.1:${devPort}/status`)).json()) as DevStatus;

    // not a terminal: every line is JSON, the runner's and the server's
    await until(() => listening() === 1, 40_000, `the server to listen\n${out}`);
    expect(lines.find((l) => l.msg === 'tickwire dev')).toMatchObject({ service: 'tickwire-dev', reload: `http://127.0.0.1:${devPort}/events` });
    const first = await status();
    expect(first).toMatchObject({ builds: 1, serverStarts: 1, http: `http://127.0.0.1:${port}/` });
    // the served page carries the reload script with its build; production's bundle does not
    const page = await (await fetch(`http://127.0.0.1:${port}/`)).text();
    expect(page).toContain(`<script data-tickwire-dev-build="${first.build}">`);
    if (existsSync(join(root, 'client/dist/index.html'))) expect(readFileSync(join(root, 'client/dist/index.html'), 'utf8')).not.toContain('tickwire-dev');

    // an event stream reader, as the page's EventSource
    const events: string[] = [];
    const stream = get(`http://127.0.0.1:${devPort}/events`, (res) => res.on('data', (d: Buffer) => events.push(...[...d.toString().matchAll(/^event: (\w+)/gm)].map((m) => m[1]))));
    await until(() => events.includes('hello'), 5000, 'the hello event');

    // a real page, when Chromium is installed (npm test's system check installs it)
    let loads = 0;
    let pageBuild = async (): Promise<string | undefined> => undefined;
    if (existsSync('/usr/bin/chromium')) {
      browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: LAUNCH_ARGS, timeout: 15_000 });
      const p = await browser.newPage();
      p.on('load', () => loads++);
      await p.goto(`http://127.0.0.1:${port}/`);
      await until(() => loads === 1, 10_000, 'the page to load');
      pageBuild = () => p.evaluate(() => document.querySelector('script[data-tickwire-dev-build]')?.getAttribute('data-tickwire-dev-build') ?? undefined).catch(() => undefined);
      expect(await pageBuild()).toBe(first.build);
      await until(async () => (await status()).pages >= 2, 10_000, 'the page to listen for reloads');
    }

    // a server file: the server restarts (a new process, a new listening line), the page reloads
    touch('server/main.ts');
    const second = await until(async () => {
      const s = await status();
      return s.serverStarts === 2 && s.serverPid !== null && listening() === 2 ? s : undefined;
    }, 30_000, `the server to restart\n${out}`);
    expect(second.serverPid).not.toBe(first.serverPid);
    expect(second.build).toBe(first.build); // no rebuild for server code
    await until(() => events.filter((e) => e === 'reload').length === 1, 5000, 'a reload event');
    if (browser) await until(() => loads === 2, 15_000, 'the page to reload after the restart');

    // a client file: the bundle is rebuilt (a new build id), served, and the page reloads onto it
    touch('client/main.ts');
    const third = await until(async () => {
      const s = await status();
      return s.builds === 2 && listening() === 3 ? s : undefined;
    }, 40_000, `the client to be rebuilt\n${out}`);
    expect(third.build).not.toBe(first.build);
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toContain(`<script data-tickwire-dev-build="${third.build}">`);
    await until(() => events.filter((e) => e === 'reload').length === 2, 5000, 'a second reload event');
    if (browser) {
      await until(() => loads === 3, 15_000, 'the page to reload after the rebuild');
      expect(await until(pageBuild, 5000, 'the page build')).toBe(third.build);
    }
    stream.destroy();
  }, 120_000);
});
