// The server as a process, the way `npm start` runs it: ports in the first log lines, refusal to
// run on the uWebSockets.js fallback, config errors listed, graceful exit on SIGTERM.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { freePort } from '../tools/measure/server-proc.ts';

const root = new URL('..', import.meta.url).pathname;


interface Run {
  child: ChildProcessWithoutNullStreams;
  lines: Record<string, unknown>[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: string | null }>;
}

function startServer(env: Record<string, string>): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], { cwd: root, env: { ...process.env, ...env } });
  const run: Run = { child, lines: [], stderr: [], exited: new Promise((r) => child.on('exit', (code, signal) => r({ code, signal }))) };
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      try {
        run.lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        run.stderr.push(line);
      }
    }
  });
  child.stderr.on('data', (d: Buffer) => run.stderr.push(d.toString()));
  return run;
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('server process', () => {
  it('prints its ports in the first log lines, serves, and exits cleanly within 5 s of SIGTERM', async () => {
    const port = await freePort();
    const sig = await freePort();
    const run = startServer({ PORT: String(port), TICKWIRE_SIGNALING_PORT: String(sig), LOG_LEVEL: 'info' });
    try {
      await until(() => run.lines.some((l) => l.msg === 'tickwire listening'), 20_000, 'listening line');
      const listening = run.lines.find((l) => l.msg === 'tickwire listening')!;
      expect(listening).toMatchObject({ http: `http://127.0.0.1:${port}/`, signalingPort: sig, level: 30 });
      expect(run.lines.indexOf(listening)).toBeLessThan(3);
      const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { status: string };
      expect(health.status).toBe('ok');
      const t0 = Date.now();
      run.child.kill('SIGTERM');
      const exit = await run.exited;
      expect(exit.code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(run.lines.some((l) => l.msg === 'tickwire stopped')).toBe(true);
    } finally {
      run.child.kill('SIGKILL');
    }
  }, 40_000);

  it('refuses to start on the uWebSockets.js pure-JS fallback, with a clear message', async () => {
    const run = startServer({ PORT: String(await freePort()), UWS_USE_FALLBACK: '1', TICKWIRE_WEBRTC: '0' });
    const exit = await run.exited;
    expect(exit.code).toBe(1);
    const fatal = run.lines.find((l) => l.level === 60);
    expect(String(fatal?.err)).toMatch(/native addon did not load/);
  }, 30_000);

  it('lists every configuration error and exits with code 2', async () => {
    const run = startServer({ PORT: 'eighty', TICKWIRE_TICK_RATE_HZ: '1000' });
    const exit = await run.exited;
    expect(exit.code).toBe(2);
    const fatal = run.lines.find((l) => l.level === 60);
    expect(String(fatal?.err)).toMatch(/PORT must be an integer/);
    expect(String(fatal?.err)).toMatch(/tickRateHz/);
    expect(fatal?.errors).toEqual([expect.stringMatching(/^PORT must be an integer/), expect.stringMatching(/^net\.tickRateHz/)]);
  }, 30_000);

  // util-linux `script` (Debian's bsdutils, always installed) runs the server on a pseudo-terminal
  it.skipIf(!existsSync('/usr/bin/script'))('on a terminal, prints the configuration errors as plain lines on stderr', async () => {
    const cmd = `${process.execPath} --import tsx server/main.ts`;
    const child = spawn('/usr/bin/script', ['-qec', cmd, '/dev/null'], { cwd: root, env: { ...process.env, PORT: 'abc', TICKWIRE_WEBRTC: 'maybe' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    const lines = out.replace(/\r/g, '').split('\n').filter(Boolean);
    expect(code, out).toBe(2);
    expect(lines).toEqual([
      'tickwire: invalid configuration:',
      '  - PORT must be an integer (got "abc")',
      '  - TICKWIRE_WEBRTC must be 1/0, true/false, yes/no or on/off (got "maybe")',
    ]);
  }, 30_000);
});
