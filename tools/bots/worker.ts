// A bot process: runs its share of the bots on one fixed-rate step loop and answers the
// coordinator's requests for counters over IPC. Also usable in-process (BotWorker) by tests.
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { GAMES } from '../../games/index.ts';
import type { ClientIO } from '../../netcode/connection.ts';
import type { AnyGame } from '../../shared/sim/game.ts';
import { compileSchema } from '../../shared/protocol/schema.ts';
import { Bot, totalsOf, type BotLinkConditions, type BotMode, type FullClientFactory } from './bot.ts';
import { SharedTruth } from '../measure/render-error.ts';
import { countReason, emptyTotals, type BotTotals } from '../measure/totals.ts';
import { nodeClientIO } from '../node-client/io.ts';
import { getScript, registerGameScripts } from './scripts.ts';
import { MatchmakeError, requestSeat, type Seat } from '../../netcode/matchmake.ts';
import type { BotScript } from '../../shared/sim/view.ts';

/**
 * Imports modules that register bot scripts (paths resolved against the working directory), in
 * order; a module that fails to load is an error naming it.
 */
export async function loadScriptModules(paths: readonly string[]): Promise<void> {
  for (const m of paths) {
    try {
      await import(pathToFileURL(resolve(m)).href);
    } catch (err) {
      throw new Error(`--script-module ${m}: ${(err as Error).message}`);
    }
  }
}

/**
 * The registry that holds the server's game: this package's games/index.ts, or the `GAMES` a module
 * exports (a game project's games.ts), whose games' bot scripts are then registered too.
 */
export async function loadGames(gamesModule?: string): Promise<Readonly<Record<string, AnyGame>>> {
  if (gamesModule === undefined) return GAMES;
  let mod: { GAMES?: Readonly<Record<string, AnyGame>> };
  try {
    mod = (await import(pathToFileURL(resolve(gamesModule)).href)) as typeof mod;
  } catch (err) {
    throw new Error(`--games ${gamesModule}: ${(err as Error).message}`);
  }
  if (!mod.GAMES || typeof mod.GAMES !== 'object') throw new Error(`--games ${gamesModule} exports no GAMES registry`);
  registerGameScripts(mod.GAMES);
  return mod.GAMES;
}

/** The named game of a registry; an unknown name is an error listing the known ones. */
export function gameOf(games: Readonly<Record<string, AnyGame>>, name: string): AnyGame {
  const game = Object.hasOwn(games, name) ? games[name] : undefined;
  if (!game) throw new Error(`unknown game ${JSON.stringify(name)}; known: ${Object.keys(games).join(', ')}`);
  return game;
}

/** One bot to run: its global index, its mode and when to start it. */
export interface BotSpec {
  index: number;
  mode: BotMode;
  /** Wall-clock start time, ms since the Unix epoch (shared by all processes: the ramp). */
  startAtMs: number;
}

/** Everything a bot process needs (sent by the coordinator as JSON). */
export interface WorkerInit {
  url: string;
  transport: 'ws' | 'webrtc';
  /** Game name (must match the server's). */
  game: string;
  /** Module whose `GAMES` registry holds the game, as an absolute path (default: this package's games/index.ts). */
  gamesModule?: string;
  /** Script name. */
  script: string;
  /** Modules to import first (they may call registerScript), as absolute paths (or relative to the working directory). */
  scriptModules: string[];
  seed: number;
  bots: BotSpec[];
  /** Inputs per second per bot. */
  inputRateHz: number;
  /** Input packets per second per bot; omitted = the netcode's default. */
  inputPacketRateHz?: number;
  pingIntervalMs: number;
  connectTimeoutMs: number;
  webrtcTimeoutMs: number;
  conditions?: BotLinkConditions;
  room?: string;
  /** Origin header of the bots' WebSockets. */
  origin?: string;
  /** Matchmaker base URL (--matchmake): each bot asks it for a seat and connects wherever the seat is, and again when it loses its server. */
  matchmake?: string;
  /** Every bot watches as a spectator (--spectate); with --matchmake it asks for a spectator's seat. */
  spectate?: boolean;
  /** Spectators' camera speed, world units/s (--camera-pan). */
  cameraPanUnitsPerSec?: number;
}

/** Coordinator -> bot process. */
export type ToWorker = { t: 'init'; init: WorkerInit } | { t: 'read'; id: number } | { t: 'stop'; id: number };
/** Bot process -> coordinator. */
export type FromWorker =
  | { t: 'ready'; fullClient: boolean }
  | { t: 'totals'; id: number; totals: BotTotals }
  | { t: 'fatal'; message: string };

/** Times one bot may lose its server and matchmake again in a run. */
const MAX_REJOINS = 20;

/** Most input steps run back to back after the loop was late; later ones are skipped and counted. */
const MAX_CATCH_UP_STEPS = 4;

/** Runs a set of bots in this process. */
export class BotWorker {
  readonly bots: Bot[] = [];
  private readonly pending: { spec: BotSpec; bot: Bot | undefined }[] = [];
  /** Bots that got no seat from the matchmaker, by reason (counted as failed bots). */
  private readonly seatFailures: Record<string, number> = {};
  private seatFailed = 0;
  /** Rejoins per bot index (bounded, so a fleet that keeps refusing cannot spin a bot). */
  private readonly rejoinCount = new Map<number, number>();
  private script!: BotScript;
  private mode: (spec: BotSpec) => BotMode = () => 'thin';
  private timer: NodeJS.Timeout | undefined;
  private t0 = 0;
  private steps = 0;
  private stepsSkipped = 0;
  private readonly stepMs: number;
  private readonly cpu0 = process.cpuUsage();
  private stopped = false;
  private truth: SharedTruth | undefined;
  /** One SharedTruth for all full bots of this process. */
  private readonly sharedTruth = (ticksPerSnapshot: number): SharedTruth => {
    if (!this.truth || this.truth.ticksPerSnapshot !== ticksPerSnapshot) this.truth = new SharedTruth(compileSchema(this.game), ticksPerSnapshot);
    return this.truth;
  };

  private constructor(
    readonly init: WorkerInit,
    private readonly io: ClientIO,
    readonly fullClient: FullClientFactory | undefined,
    private readonly game: AnyGame,
  ) {
    this.stepMs = 1000 / init.inputRateHz;
  }

  /**
   * Prepares the bots (imports script modules, loads the WebRTC client when needed) and starts the
   * step loop; bots connect at their startAtMs. `fullClient` builds full-mode bots.
   */
  static async create(init: WorkerInit, fullClient?: FullClientFactory): Promise<BotWorker> {
    await loadScriptModules(init.scriptModules);
    const game = gameOf(await loadGames(init.gamesModule), init.game);
    const script = getScript(init.script, game.name);
    // the client netcode predicts and interpolates the game's declared position: without one every bot runs thin
    if (!game.position) fullClient = undefined;
    const w = new BotWorker(init, nodeClientIO({ webrtc: init.transport === 'webrtc', ...(init.origin ? { origin: init.origin } : {}) }), fullClient, game);
    if (init.transport === 'webrtc') {
      const { loadGeckosClient } = await import('../node-client/rtc.ts');
      await loadGeckosClient();
    }
    w.script = script;
    w.mode = (spec) => (spec.mode === 'full' && fullClient ? 'full' : 'thin');
    for (const spec of [...init.bots].sort((a, b) => a.startAtMs - b.startAtMs)) {
      // with a matchmaker the bot is made once it has a seat (it connects where the seat is)
      const bot = init.matchmake ? undefined : w.makeBot(spec);
      if (bot) w.bots.push(bot);
      w.pending.push({ spec, bot });
    }
    w.t0 = performance.now();
    w.loop();
    return w;
  }

  private makeBot(spec: BotSpec, seat?: Seat): Bot {
    const init = this.init;
    const room = seat?.room ?? init.room;
    return new Bot({
      url: seat?.url ?? init.url, index: spec.index, seed: init.seed, transport: init.transport, mode: this.mode(spec), script: this.script, game: this.game, io: this.io,
      inputRateHz: init.inputRateHz, pingIntervalMs: init.pingIntervalMs, connectTimeoutMs: init.connectTimeoutMs, webrtcTimeoutMs: init.webrtcTimeoutMs,
      ...(init.conditions ? { conditions: init.conditions } : {}),
      ...(init.inputPacketRateHz !== undefined ? { inputPacketRateHz: init.inputPacketRateHz } : {}),
      ...(room !== undefined ? { room } : {}),
      ...(init.spectate ? { spectate: true } : {}),
      ...(init.cameraPanUnitsPerSec ? { cameraPanUnitsPerSec: init.cameraPanUnitsPerSec } : {}),
      ...(this.fullClient ? { fullClient: this.fullClient, sharedTruth: this.sharedTruth } : {}),
      ...(seat ? { seat: seat.seat, onLost: () => this.rejoin(spec) } : {}),
    });
  }

  /** A matchmade bot lost its server: ask the matchmaker again (at most MAX_REJOINS times per bot). */
  private rejoin(spec: BotSpec): void {
    const n = (this.rejoinCount.get(spec.index) ?? 0) + 1;
    this.rejoinCount.set(spec.index, n);
    if (n > MAX_REJOINS) return this.seatFailure(`lost its server more than ${MAX_REJOINS} times`);
    // spread the returning bots over a moment: a member that died sends all of them back at once
    setTimeout(() => void this.seatAndStart(spec), 50 + ((spec.index * 37) % 500)).unref();
  }

  private seatFailure(reason: string): void {
    this.seatFailed++;
    countReason(this.seatFailures, reason.replace(/\d+/g, 'N').slice(0, 120));
  }

  /** Asks the matchmaker for a seat (retrying while it says busy, full or unreachable, up to connectTimeoutMs), then starts a bot there. */
  private async seatAndStart(spec: BotSpec): Promise<void> {
    const deadline = Date.now() + this.init.connectTimeoutMs;
    for (let attempt = 0; !this.stopped; attempt++) {
      try {
        const seat = await requestSeat(this.init.matchmake!, {
          name: `bot-${spec.index}`, game: this.game.name, ...(this.init.room !== undefined ? { room: this.init.room } : {}), ...(this.init.spectate ? { spectate: true } : {}),
        });
        if (this.stopped) return;
        const bot = this.makeBot(spec, seat);
        this.bots.push(bot);
        bot.start();
        return;
      } catch (err) {
        const e = err instanceof MatchmakeError ? err : new MatchmakeError('error', (err as Error).message, 0);
        if (!e.retryable || Date.now() + 100 > deadline) return this.seatFailure(`matchmake: ${e.reason}`);
        await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt, Math.max(0, deadline - Date.now()))));
      }
    }
  }

  private readonly loop = (): void => {
    if (this.stopped) return;
    const now = performance.now();
    const wall = Date.now();
    while (this.pending.length > 0 && this.pending[0].spec.startAtMs <= wall) {
      const p = this.pending.shift()!;
      if (p.bot) p.bot.start();
      else void this.seatAndStart(p.spec);
    }
    const due = Math.floor((now - this.t0) / this.stepMs);
    let n = due - this.steps;
    if (n > MAX_CATCH_UP_STEPS) {
      this.stepsSkipped += n - MAX_CATCH_UP_STEPS;
      n = MAX_CATCH_UP_STEPS;
    }
    this.steps = due;
    for (let k = 0; k < n; k++) {
      const at = now - (n - 1 - k) * this.stepMs;
      for (const b of this.bots) {
        try {
          b.step(at);
        } catch (err) {
          b.errors++;
          countReason(b.errorReasons, `step threw: ${(err as Error).message}`.slice(0, 120));
        }
      }
    }
    const next = this.t0 + (this.steps + 1) * this.stepMs;
    this.timer = setTimeout(this.loop, Math.max(0, next - performance.now()));
  };

  /** Cumulative counters of this process's bots now. */
  async read(): Promise<BotTotals> {
    const t = totalsOf(this.bots, performance.now(), Date.now(), emptyTotals());
    t.bots += this.seatFailed;
    t.failed += this.seatFailed;
    for (const [k, v] of Object.entries(this.seatFailures)) countReason(t.failReasons, k, v);
    const cpu = process.cpuUsage(this.cpu0);
    t.botCpuSec = (cpu.user + cpu.system) / 1e6;
    t.stepsSkipped = this.stepsSkipped;
    return t;
  }

  /** Stops the loop, closes every bot and returns the final counters. */
  async stop(): Promise<BotTotals> {
    const t = await this.read();
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    for (const b of this.bots) {
      try {
        b.stop();
      } catch {
        // already closed
      }
    }
    return t;
  }
}

async function runAsChild(): Promise<void> {
  let worker: BotWorker | undefined;
  const send = (m: FromWorker): void => {
    process.send?.(m);
  };
  process.on('disconnect', () => process.exit(0)); // the coordinator is gone
  process.on('message', (raw: unknown) => {
    const m = raw as ToWorker;
    void (async () => {
      try {
        if (m.t === 'init') {
          const { defaultFullClient } = await import('./bot.ts');
          worker = await BotWorker.create(m.init, defaultFullClient());
          send({ t: 'ready', fullClient: worker.fullClient !== undefined });
        } else if (m.t === 'read') {
          send({ t: 'totals', id: m.id, totals: worker ? await worker.read() : emptyTotals(Date.now()) });
        } else if (m.t === 'stop') {
          const totals = worker ? await worker.stop() : emptyTotals(Date.now());
          send({ t: 'totals', id: m.id, totals });
          // give the close frames a moment to leave, then exit
          setTimeout(() => process.exit(0), 300).unref();
        }
      } catch (err) {
        send({ t: 'fatal', message: (err as Error).stack ?? String(err) });
      }
    })();
  });
}

if (process.send && process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) void runAsChild();
