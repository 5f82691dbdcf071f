// The server as a process, the way `npm start` runs it: ports in the first log lines, refusal to
// run on the uWebSockets.js fallback, config errors listed, graceful exit on SIGTERM, and a signal
// to the whole process group (server and WebRTC process) handled by the server alone.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { Connection } from '../netcode/connection.ts';
import { nodeClientIO } from '../tools/node-client/io.ts';
import { descendants, processAlive } from '../tools/measure/proc.ts';
import { freePort } from '../tools/measure/server-proc.ts';

const root = new URL('..', import.meta.url).pathname;


interface Run {
  child: ChildProcessWithoutNullStreams;
  lines: Record<string, unknown>[];
  stderr: string[];
  exited: Promise<{ code: number | null; signal: string | null }>;
}

function startServer(env: Record<string, string>, detached = false): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], { cwd: root, env: { ...process.env, ...env }, detached });
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

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} to the process group: the WebRTC process outlives the signal, the server ${signal === 'SIGTERM' ? 'drains' : 'stops'} and stops it, no crash logged`, async () => {
      const port = await freePort();
      const sig = await freePort();
      // its own process group, as `npm start` in a terminal or a systemd unit runs it
      const run = startServer({ PORT: String(port), TICKWIRE_SIGNALING_PORT: String(sig), TICKWIRE_WEBRTC: '1', TICKWIRE_GAME: 'arena-v1', LOG_LEVEL: 'info', TICKWIRE_ROOM_GRACE_MS: '0', TICKWIRE_RESUME_GRACE_MS: '0', TICKWIRE_DRAIN_MS: '20000' }, true);
      let c: Connection | undefined;
      try {
        await until(() => run.lines.some((l) => l.msg === 'tickwire listening'), 20_000, 'listening line');
        const pid = run.child.pid!;
        await until(() => descendants(pid).length > 0, 10_000, 'the WebRTC process');
        const worker = descendants(pid)[0];
        // a player on the WebRTC channel keeps a room open, so a SIGTERM drain lasts until it leaves
        c = new Connection(arena, nodeClientIO({ webrtc: true }), { url: `http://127.0.0.1:${port}`, name: 'grouped', room: 'hold', transport: 'webrtc', webrtcTimeoutMs: 8000 });
        c.connect();
        await until(() => c!.state === 'active' && c!.transport === 'webrtc', 15_000, 'the player on WebRTC');
        process.kill(-pid, signal);
        if (signal === 'SIGTERM') {
          await until(() => run.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('draining:')), 5000, 'the drain');
          await new Promise((r) => setTimeout(r, 1000));
          // the drain goes on with the WebRTC process and the player's datachannel
          expect(processAlive(worker)).toBe(true);
          expect(c.transport).toBe('webrtc');
          c.close();
        }
        const exit = await run.exited;
        expect(exit.code).toBe(0);
        await until(() => !processAlive(worker), 5000, 'the WebRTC process to exit');
        expect(run.lines.filter((l) => typeof l.msg === 'string' && /webrtc worker (died|restart)/.test(l.msg)).map((l) => l.msg)).toEqual([]);
        expect(run.lines.some((l) => l.msg === 'tickwire stopped')).toBe(true);
      } finally {
        c?.close();
        try {
          process.kill(-run.child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }, 60_000);
  }

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
