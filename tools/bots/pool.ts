// The bots coordinator: spreads bots over child processes (about 200 WebRTC peers per process),
// staggers their connects (the ramp), and sums the processes' counters on request.
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultFullClient, type BotLinkConditions, type FullClientFactory } from './bot.ts';
import { reniceProcess } from '../measure/proc.ts';
import { sumTotals, type BotTotals } from '../measure/totals.ts';
import { BotWorker, gameOf, loadGames, loadScriptModules, type BotSpec, type FromWorker, type ToWorker, type WorkerInit } from './worker.ts';
import { defaultScriptName, getScript } from './scripts.ts';

/** Repository root (the bots' processes run from it). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Most WebRTC bots per process. One process held about 200 peers at 20 Hz here, but 200 with full
 * bots among them and 2000 entities fell behind (skipped input steps), so 100.
 */
export const WEBRTC_BOTS_PER_PROCESS = 100;
/** Most WebSocket bots per process. */
export const WS_BOTS_PER_PROCESS = 400;

/** How a set of bots is run. */
export interface BotRunOptions {
  /** Server base URL. */
  url: string;
  /** Number of bots. */
  count: number;
  transport: 'ws' | 'webrtc';
  /** Script name (tools/bots/scripts.ts, a game's `client.bot`, or one a script module registers). Default: the game's (defaultScriptName). */
  script?: string;
  /** Extra modules registering scripts, loaded here and in every bot process (paths relative to the working directory). */
  scriptModules?: string[];
  /** Game name; must match the server's. Default 'arena-v1'. */
  game?: string;
  /** Matchmaker base URL: every bot asks its POST /matchmake for a seat (and again after losing its server). */
  matchmake?: string;
  /** Every bot watches as a spectator (no entity, no inputs; `room` or, with `matchmake`, a spectator's seat). */
  spectate?: boolean;
  /** Spectators' cameras cross the world at this speed, world units/s (--camera-pan); 0 or omitted: still. */
  cameraPanUnitsPerSec?: number;
  /** Module exporting the `GAMES` registry that holds the game (a game project's games.ts). Default: this package's games/index.ts. */
  gamesModule?: string;
  /** Run seed. Default 1. */
  seed?: number;
  /** Connects started per second. Default 50. */
  rampPerSec?: number;
  /** Bots running the full client netcode (the rest run thin). Default fullSampleSize(count). */
  fullBots?: number;
  /** Bots per process; default 200 for WebRTC, 400 for WebSocket. */
  botsPerProcess?: number;
  /** Run the bots in this process instead of child processes (tests; never next to a measured server). */
  inProcess?: boolean;
  /** Full-client factory for in-process runs. Default: the shared client netcode. */
  fullClient?: FullClientFactory;
  inputRateHz?: number;
  /** Input packets per second per bot (the netcode's inputPacketRateHz); omitted = its default. */
  inputPacketRateHz?: number;
  pingIntervalMs?: number;
  connectTimeoutMs?: number;
  webrtcTimeoutMs?: number;
  conditions?: BotLinkConditions;
  room?: string;
  /** Origin header of the bots' WebSockets. Default none. */
  origin?: string;
  /**
   * Nice value of the bot processes (every thread), -20..19; omitted: inherited. A load generator
   * sharing the server's cores set above 0 yields them to the server, as bots on other machines would.
   */
  nice?: number;
}

/** Default number of full-netcode bots for a run of `count`: 1 per 25 bots, at least 1, at most 8. */
export function fullSampleSize(count: number): number {
  return Math.min(count, Math.max(1, Math.min(8, Math.ceil(count / 25))));
}

/**
 * Plans the run: bot i starts at t0 + i / rampPerSec; full bots are spread evenly over the indices;
 * bots are dealt round-robin to `processes` groups so each process ramps at the same pace.
 */
export function planBots(count: number, processes: number, fullBots: number, t0Ms: number, rampPerSec: number): BotSpec[][] {
  const groups: BotSpec[][] = Array.from({ length: Math.max(1, processes) }, () => []);
  const full = new Set<number>();
  for (let k = 0; k < fullBots; k++) full.add(Math.floor((k * count) / fullBots));
  for (let i = 0; i < count; i++) {
    groups[i % groups.length].push({ index: i, mode: full.has(i) ? 'full' : 'thin', startAtMs: t0Ms + (rampPerSec > 0 ? (i * 1000) / rampPerSec : 0) });
  }
  return groups;
}

interface Child {
  proc: ChildProcess;
  waiting: Map<number, (t: BotTotals) => void>;
  exited: boolean;
}

/** A running set of bots. */
export class BotPool {
  private nextId = 1;
  /** True when full bots run the shared client netcode (false: it is unavailable and every bot runs thin). */
  fullClientAvailable = false;
  /** Name of the script the bots run. */
  script = '';

  private constructor(
    readonly opts: BotRunOptions,
    private readonly children: Child[],
    private readonly local: BotWorker | undefined,
  ) {}

  /** Number of bot processes. */
  get processCount(): number {
    return this.children.length;
  }

  /** PIDs of the bot processes. */
  get pids(): number[] {
    return this.children.map((c) => c.proc.pid ?? -1);
  }

  /** Starts the bots (processes ready, connects ramping). */
  static async start(opts: BotRunOptions): Promise<BotPool> {
    // Load the script modules here first, so a script they register is checked before any process starts.
    const scriptModules = (opts.scriptModules ?? []).map((m) => resolve(m));
    await loadScriptModules(scriptModules);
    const game = opts.game ?? 'arena-v1';
    const games = await loadGames(opts.gamesModule);
    gameOf(games, game);
    const script = getScript(opts.script ?? defaultScriptName(game, games), game).name;
    const perProcess = opts.botsPerProcess ?? (opts.transport === 'webrtc' ? WEBRTC_BOTS_PER_PROCESS : WS_BOTS_PER_PROCESS);
    const processes = opts.inProcess ? 1 : Math.max(1, Math.ceil(opts.count / perProcess));
    const fullBots = Math.min(opts.count, opts.fullBots ?? fullSampleSize(opts.count));
    // leave the processes time to load before the first connect
    const t0 = Date.now() + (opts.inProcess ? 0 : 1500);
    const plan = planBots(opts.count, processes, fullBots, t0, opts.rampPerSec ?? 50);
    const initFor = (bots: BotSpec[]): WorkerInit => ({
      url: opts.url, transport: opts.transport, game, script, scriptModules,
      seed: opts.seed ?? 1, bots, inputRateHz: opts.inputRateHz ?? 60, pingIntervalMs: opts.pingIntervalMs ?? 1000,
      connectTimeoutMs: opts.connectTimeoutMs ?? 20_000, webrtcTimeoutMs: opts.webrtcTimeoutMs ?? 5000,
      ...(opts.conditions ? { conditions: opts.conditions } : {}),
      ...(opts.inputPacketRateHz !== undefined ? { inputPacketRateHz: opts.inputPacketRateHz } : {}),
      ...(opts.room !== undefined ? { room: opts.room } : {}),
      ...(opts.origin !== undefined ? { origin: opts.origin } : {}),
      ...(opts.gamesModule !== undefined ? { gamesModule: resolve(opts.gamesModule) } : {}),
      ...(opts.matchmake !== undefined ? { matchmake: opts.matchmake } : {}),
      ...(opts.spectate ? { spectate: true } : {}),
      ...(opts.cameraPanUnitsPerSec ? { cameraPanUnitsPerSec: opts.cameraPanUnitsPerSec } : {}),
    });
    if (opts.inProcess) {
      const w = await BotWorker.create(initFor(plan[0]), opts.fullClient ?? defaultFullClient());
      const pool = new BotPool(opts, [], w);
      pool.script = script;
      pool.fullClientAvailable = w.fullClient !== undefined;
      return pool;
    }
    const children: Child[] = [];
    const pool = new BotPool(opts, children, undefined);
    pool.script = script;
    const readies: Promise<boolean>[] = [];
    for (const bots of plan) {
      // the processes' stdout goes to our stderr: our stdout carries only what the caller prints (--json)
      const proc = fork(resolve(REPO_ROOT, 'tools/bots/worker.ts'), [], { cwd: REPO_ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 2, 'inherit', 'ipc'] });
      const child: Child = { proc, waiting: new Map(), exited: false };
      children.push(child);
      readies.push(new Promise<boolean>((ok, fail) => {
        const timer = setTimeout(() => fail(new Error('bot process did not start within 30 s')), 30_000);
        proc.on('message', (raw: unknown) => {
          const m = raw as FromWorker;
          if (m.t === 'ready') {
            clearTimeout(timer);
            ok(m.fullClient);
          } else if (m.t === 'totals') {
            const cb = child.waiting.get(m.id);
            child.waiting.delete(m.id);
            cb?.(m.totals);
          } else if (m.t === 'fatal') {
            clearTimeout(timer);
            fail(new Error(`bot process failed: ${m.message}`));
          }
        });
        proc.on('exit', (code, signal) => {
          child.exited = true;
          clearTimeout(timer);
          fail(new Error(`bot process exited (${signal ?? code}) before it was ready`));
          for (const cb of child.waiting.values()) cb(sumTotals([]));
          child.waiting.clear();
        });
      }));
      proc.send({ t: 'init', init: initFor(bots) } satisfies ToWorker);
    }
    try {
      const fc = await Promise.all(readies);
      pool.fullClientAvailable = fc.every(Boolean);
      if (opts.nice !== undefined) for (const c of children) if (c.proc.pid !== undefined) reniceProcess(c.proc.pid, opts.nice);
    } catch (err) {
      await pool.kill();
      throw err;
    }
    return pool;
  }

  private ask(kind: 'read' | 'stop', timeoutMs = 15_000): Promise<BotTotals[]> {
    return Promise.all(this.children.map((c) => new Promise<BotTotals>((ok) => {
      if (c.exited) return ok(sumTotals([]));
      const id = this.nextId++;
      const timer = setTimeout(() => {
        c.waiting.delete(id);
        ok(sumTotals([]));
      }, timeoutMs);
      c.waiting.set(id, (t) => {
        clearTimeout(timer);
        ok(t);
      });
      c.proc.send({ t: kind, id } satisfies ToWorker);
    })));
  }

  /** Cumulative counters of all bots now. */
  async read(): Promise<BotTotals> {
    if (this.local) return this.local.read();
    return sumTotals(await this.ask('read'));
  }

  /** Stops every bot, waits for the processes to exit, and returns the final counters. */
  async stop(): Promise<BotTotals> {
    if (this.local) return this.local.stop();
    const totals = sumTotals(await this.ask('stop'));
    await this.waitExit(5000);
    return totals;
  }

  private async waitExit(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.children.some((c) => !c.exited) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await this.kill();
  }

  /** Kills bot processes still running (by PID, only the ones this pool started). */
  async kill(): Promise<void> {
    for (const c of this.children) {
      if (!c.exited && c.proc.pid !== undefined) {
        try {
          c.proc.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    }
  }
}
