// Bots for any game: scripts declare their games, a game's own script is its default, full bots
// measure render error on the game's declared position fields (orbit: Pos.x / Pos.y), and the CLI
// as a child process: --script-module loaded before --script is checked, --json alone on stdout,
// no listener-leak warning, clear errors for a script of another game and for no server.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { orbit } from '../games/orbit.ts';
import type { TickwireServer } from '../server/server.ts';
import { defineGame, type AnyGame } from '../shared/sim/game.ts';
import type { BotScript } from '../shared/sim/view.ts';
import { Rng } from '../shared/sim/rng.ts';
import { BotPool } from '../tools/bots/pool.ts';
import { defaultScriptName, getScript, randomInput, registerGameScripts, scriptNames } from '../tools/bots/scripts.ts';
import type { BotSummary } from '../tools/measure/summary.ts';
import { diffTotals } from '../tools/measure/totals.ts';
import { summarizeBots } from '../tools/measure/summary.ts';
import { startTestServer, urlOf, waitFor } from './helpers/server.ts';

const root = new URL('..', import.meta.url).pathname;

/** Runs the bots CLI as `npm run bots` does (tsx), with bounded time; resolves with its exit code and output. */
function runCli(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'tools/bots/cli.ts', ...args], { cwd: root, env: { ...process.env, FORCE_COLOR: '0' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`bots CLI did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('bot scripts and games', () => {
  it('scripts declare their games: a script of another game is refused, unknown names list the game\'s scripts', () => {
    expect(getScript('chase-nearest', 'arena-v1').name).toBe('chase-nearest');
    expect(() => getScript('chase-nearest', 'orbit')).toThrow(/"chase-nearest" is written for arena-v1, not for orbit; scripts for orbit: .*random-input/);
    expect(() => getScript('arena-v1', 'orbit')).toThrow(/written for arena-v1, arena-v2, not for orbit/);
    expect(getScript('arena-v1', 'arena-v2').name).toBe('arena-v1');
    const forOrbit = scriptNames('orbit');
    expect(forOrbit).toEqual(expect.arrayContaining(['idle', 'random-input']));
    expect(forOrbit).not.toContain('chase-nearest');
    let msg = '';
    try {
      getScript('nope', 'orbit');
    } catch (err) {
      msg = (err as Error).message;
    }
    expect(msg).toMatch(/unknown bot script "nope"; known for orbit: /);
    expect(msg).toContain('random-input');
    expect(msg).not.toContain('chase-nearest');
  });

  it('defaults: arena-v1 keeps its scenario walk, a game shipping client.bot gets it (registered), others random-input', () => {
    expect(defaultScriptName('arena-v1')).toBe('arena-v1');
    expect(defaultScriptName('orbit')).toBe('random-input');
    const bot: BotScript = { name: 'orbit-test-circler', description: 'test', needsWorld: false, games: ['orbit-with-bot'], create: () => ({ next: () => ({ ax: 1, ay: 0 }) }) };
    const withBot: AnyGame = defineGame({ ...orbit, name: 'orbit-with-bot', client: { world: { width: 1024, height: 1024 }, controls: () => ({ ax: 0, ay: 0 }), bot } });
    const games = { 'orbit-with-bot': withBot };
    registerGameScripts(games);
    expect(defaultScriptName('orbit-with-bot', games)).toBe('orbit-test-circler');
    expect(getScript('orbit-test-circler', 'orbit-with-bot')).toBe(bot);
    expect(() => getScript('orbit-test-circler', 'orbit')).toThrow(/written for orbit-with-bot/);
    // a game cannot take a built-in's name
    const clash: AnyGame = defineGame({ ...orbit, name: 'clash', client: { world: { width: 1, height: 1 }, controls: () => ({ ax: 0, ay: 0 }), bot: { ...bot, name: 'idle' } } });
    expect(() => registerGameScripts({ clash })).toThrow(/game "clash" ships bot script "idle", a name another script has \(registerScript\)/);
    expect(getScript('idle').games).toBeUndefined();
  });

  it('random-input drives any game: every input field within its range, changed every 250..750 ms, repeatable', () => {
    const run = (seed: number, gameName: string): string[] => {
      const brain = randomInput.create({ botIndex: 0, rng: new Rng(seed), inputRateHz: 60, gameName });
      const out: string[] = [];
      for (let step = 0; step < 600; step++) out.push(JSON.stringify(brain.next((step * 1000) / 60, undefined)));
      return out;
    };
    const a = run(3, 'orbit');
    expect(run(3, 'orbit')).toEqual(a);
    const values = a.map((j) => JSON.parse(j) as { ax: number; ay: number });
    for (const v of values) {
      expect(Object.keys(v).sort()).toEqual(['ax', 'ay']);
      expect([-1, 0, 1]).toContain(v.ax);
      expect([-1, 0, 1]).toContain(v.ay);
    }
    const changes = a.filter((v, i) => i > 0 && v !== a[i - 1]).length;
    // 10 s at one change per 250..750 ms: about 20 draws, a few of them equal to the last
    expect(changes).toBeGreaterThan(10);
    expect(changes).toBeLessThan(41);
    expect(new Set(run(4, 'arena-v1').map((j) => Object.keys(JSON.parse(j) as object).join()))).toEqual(new Set([Object.keys(arena.input).join()]));
  });
});

describe('bots against orbit', () => {
  let srv: TickwireServer;
  let dir: string;
  beforeAll(async () => {
    srv = await startTestServer({ game: 'orbit', gameParams: {}, roomCapacity: 16 }, { game: orbit });
    dir = mkdtempSync(join(tmpdir(), 'tickwire-scripts-'));
  });
  afterAll(async () => {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('full bots report render error, corrections and input acks on the game\'s position fields (Pos.x / Pos.y)', async () => {
    const pool = await BotPool.start({ url: urlOf(srv), count: 3, transport: 'ws', inProcess: true, rampPerSec: 100, seed: 3, fullBots: 2, game: 'orbit' });
    try {
      expect(pool.script).toBe('random-input');
      let first = await pool.read();
      for (const deadline = Date.now() + 5000; first.active < 3 && Date.now() < deadline; first = await pool.read()) await new Promise((r) => setTimeout(r, 20));
      expect(first.active).toBe(3);
      await new Promise((r) => setTimeout(r, 2500));
      const last = await pool.read();
      const s = summarizeBots(diffTotals(last, first), (last.atMs - first.atMs) / 1000);
      expect(s.errorReasons).toEqual({});
      expect(s.errors).toBe(0);
      expect(s.fullBots).toBe(2);
      expect(s.renderErrorSamples).toBeGreaterThan(0);
      expect(s.renderErrorUnits.mean).not.toBeNull();
      expect(s.predictionCorrectionsPerSec).not.toBeNull();
      expect(s.inputsAcked).toBeGreaterThan(s.inputsSent * 0.8);
    } finally {
      await pool.stop();
    }
    await waitFor(() => srv.sessions.size === 0, 5000, 'sessions to close');
  });

  it('CLI: --script-module is loaded before --script is checked; --json prints only the summary on stdout; no listener warning', async () => {
    const module = join(dir, 'my-scripts.ts');
    writeFileSync(module, [
      `import { registerScript } from ${JSON.stringify(join(root, 'tools/bots/scripts.ts'))};`,
      `console.log('a script module that prints');`,
      `registerScript({ name: 'strafe', description: 'east, then west', games: ['orbit'], needsWorld: false,`,
      `  create: () => ({ next: (nowMs: number) => ({ ax: Math.floor(nowMs / 1000) % 2 === 0 ? 1 : -1, ay: 0 }) }) });`,
    ].join('\n'));
    // 11 s of run time: the old loop added an abort listener every second and warned past 10
    const r = await runCli(['--url', urlOf(srv), '--count', '2', '--seconds', '11', '--ramp', '100', '--script-module', module, '--script', 'strafe', '--json'], 60_000);
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as BotSummary;
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(s.connected).toBe(2);
    expect(s.failed).toBe(0);
    expect(s.errors).toBe(0);
    expect(s.renderErrorSamples).toBeGreaterThan(0);
    expect(r.stderr).toContain('a script module that prints');
    expect(r.stderr).not.toMatch(/MaxListenersExceeded|Warning/);
  }, 70_000);

  it('CLI: a script written for another game is a clear error naming the scripts for this one', async () => {
    const r = await runCli(['--url', urlOf(srv), '--count', '1', '--seconds', '1', '--script', 'chase-nearest', '--json'], 30_000);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/bot script "chase-nearest" is written for arena-v1, not for orbit; scripts for orbit: .*random-input/);
    const u = await runCli(['--url', urlOf(srv), '--count', '1', '--seconds', '1', '--script', 'strafe'], 30_000);
    expect(u.code).toBe(1);
    expect(u.stderr).toMatch(/unknown bot script "strafe"; known for orbit: .*idle/);
  }, 40_000);
});

describe('bots CLI without a server', () => {
  it('says that no Tickwire server answers at the URL, on stderr, with exit code 1', async () => {
    const r = await runCli(['--url', 'http://127.0.0.1:1', '--count', '1', '--seconds', '1', '--json'], 30_000);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('no Tickwire server answers at http://127.0.0.1:1 (GET /config: connection refused)');
    expect(r.stderr).not.toContain('fetch failed');
  }, 40_000);
});
