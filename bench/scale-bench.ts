// The server-side scale benchmark (`npm run bench:scale`): the real server (inbound dispatch and
// inbox, input buffers, the tick, interest management, the snapshot encoder) for N clients over
// the loopback transport in one process, on a simulated clock stepped one tick at a time. Clients
// are the shared Connection sending the bots' inputs (arena walk, 60 Hz, one tick of lead); most
// acknowledge snapshots from their headers as the thin bots do, a sample decodes every packet and
// compares each complete frame with the server's quantized state of its view. Every loop is
// bounded in count and in wall time.
import { Connection, type ConnectionOptions } from '../netcode/connection.ts';
import { arenaWalk } from '../tools/bots/scripts.ts';
import type { BotBrain } from '../shared/sim/view.ts';
import { ThinConnection } from '../tools/bots/bot.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import { deriveSeed, Rng } from '../shared/sim/rng.ts';
import { loadServerConfig } from '../server/config.ts';
import { LoopbackTransport, loopbackClientIO } from '../server/net/loopback.ts';
import type { Player } from '../server/player.ts';
import { TickwireServer } from '../server/server.ts';
import { viewFrameMatches } from '../server/interest.ts';
import { percentileSorted, round } from '../tools/measure/stats.ts';
import { machineCpuFigures, readMachineCpu } from '../tools/measure/proc.ts';
import { referenceMs } from '../tools/measure/reference.ts';

/** What one scale run measures with. */
export interface ScaleOptions {
  /** The game (arena-v2, or arena-v1 for a room without views). */
  game: AnyGame;
  /** Clients, all in one room. */
  players: number;
  /** NPCs (the game's `npcs` parameter); default the game's default. */
  npcs?: number;
  /** Simulated seconds measured (after warm-up). */
  seconds: number;
  /** Simulated seconds before measuring (joins, first full snapshots). Default 3. */
  warmupSec?: number;
  /** Clients that decode every packet and are checked against the server. Default 20. */
  sample?: number;
  /** Run seed (room PRNG, the clients' walks). Default 1. */
  seed?: number;
  /** Clients joining per tick at the start. Default 50. */
  joinsPerTick?: number;
  /** Snapshot bytes per second each view may take (ServerConfig.viewBudgetBytesPerSec); default the server's default. */
  viewBudgetBytesPerSec?: number;
  /** Give up after this much wall time, ms. Default 15 minutes. */
  wallLimitMs?: number;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Called as the measured window starts and when it ends (e.g. to profile the window alone). */
  onWindow?: (at: 'start' | 'end') => Promise<void>;
}

/** The one JSON object `npm run bench:scale -- --json` prints. */
export interface ScaleResult {
  scenario: string;
  players: number;
  npcs: number;
  entities: number;
  seconds: number;
  warmupSec: number;
  /** Clients in the room when measuring started and ended. */
  connected: number;
  /**
   * The server's tick over the measured window, wall clock, ms, as the server times it for
   * tickwire_tick_duration_seconds and the socket benchmark reports it: the inbox drain, the
   * simulation and the snapshot encoding (every tick; rooms with views send a third of their
   * players' snapshots each tick). The hand-off of the tick's packets to the transport follows
   * the tick (sendsAfterTick): `handoffMs` and `frameMs` count it.
   */
  tickMs: { p50: number; p99: number; max: number; mean: number };
  /** From each tick's start to its last packet handed to the (loopback) transport, ms: what `tickwire_tick_handoff_seconds` measures. */
  handoffMs: { p50: number; p99: number; max: number };
  /** The whole frame (the tick, then the hand-off), wall clock, ms. */
  frameMs: { p50: number; p99: number; max: number; mean: number };
  /** Clients that joined on each frame of the ramp before the warm-up. */
  joinsPerTick: number;
  /**
   * The ramp's frames (each with `joinsPerTick` hellos to handle, then a tick), wall clock, ms:
   * p50/p99/max over the whole ramp, and `nearFullMean`, the mean of the frames that joined
   * while the room held at least 90% of the players (what joining a full room costs).
   */
  joinFrameMs: { p50: number; p99: number; max: number; nearFullMean: number };
  /** After the window: every other client (half the room) closes its connection at once; the longest frame of the 100 ms from then (the closes handled, the departures announced), wall clock, ms. */
  halfLeaveFrameMs: number;
  /**
   * The same frames in CPU time of the process (process.cpuUsage around each), ms: what the
   * frame costs without the time other processes of a shared machine took from it (GC threads included).
   */
  frameCpuMs: { p50: number; p99: number; max: number; mean: number };
  /** The ticks (as tickMs) of snapshot ticks alone (tick % snapshotEvery = 0), ms. */
  snapshotTickMs: { p50: number; p99: number; max: number };
  /** Ticks run in the window. */
  ticks: number;
  /** CPU time of the server's work (its frames: inbox, tick, outbound) per simulated second: the cores a real-time server would use. */
  serverCpuCoresUsed: number;
  /** Wall time of the same work per simulated second (higher than the CPU figure when the machine is shared). */
  serverWallCoresUsed: number;
  /** CPU of the whole process (server, loopback and every client) per simulated second. */
  processCpuCoresUsed: number;
  /**
   * The whole machine over the window's wall time, cores: busy (this process and anything else)
   * and stolen by the hypervisor (steal; above 0 the cores ran slower than their count says).
   */
  machineCpu: { busyCores: number; stealCores: number };
  /**
   * A fixed piece of work (tools/measure/reference.ts) timed just before and just after the window,
   * median of 5, ms: the machine's speed at the time. Runs whose ticks differ while this differs as
   * much measured the machine.
   */
  machineReferenceMs: { before: number; after: number };
  /** Downstream payload bytes per client per second (snapshots and control messages). */
  downPayloadBytesPerClientPerSec: number;
  /** Upstream payload bytes per client per second (inputs, acks, pings). */
  upPayloadBytesPerClientPerSec: number;
  /** Complete snapshots per client per second. */
  snapshotsPerClientPerSec: number;
  /** Entities in a view, mean over every view computed in the window (room entities without views). */
  meanViewEntities: number;
  /** Entities entering and leaving views per client per second. */
  viewEnteredPerClientPerSec: number;
  viewLeftPerClientPerSec: number;
  /** Entities that waited a snapshot for their view's byte budget, per client per second. */
  deferredEntriesPerClientPerSec: number;
  /** Most snapshots an entity waited to enter a view in the window. */
  maxEntryWaitSnapshots: number;
  /**
   * Longest time an entity in (or entitled to) a client's view went without its state reaching the
   * client, ms: one snapshot interval for the entities held (every snapshot brings each one exactly
   * up to date), plus the longest wait of an entity entering the view under the byte budget.
   */
  maxRefreshIntervalMs: number;
  /** Snapshot bytes per second each view may take (ServerConfig.viewBudgetBytesPerSec). */
  viewBudgetBytesPerSec: number;
  /** Full and delta snapshots sent in the window. */
  fullSnapshots: number;
  deltaSnapshots: number;
  /** Clients that decode and check every snapshot. */
  sampledClients: number;
  /** Complete frames the sampled clients checked, and those that differed from the server's state. */
  sampledFramesChecked: number;
  sampledMismatches: number;
  /** Frames the server no longer held when checked (not counted either way). */
  sampledUnchecked: number;
  /** Decode errors at any client. */
  decodeErrors: number;
  wallSeconds: number;
  node: string;
  date: string;
}

/** A timer queue on the simulated clock, for the clients' heartbeats and retries. */
class SimTimers {
  private readonly due: { at: number; fn: () => void; live: boolean }[] = [];
  constructor(private readonly now: () => number) {}
  set(fn: () => void, ms: number): unknown {
    const t = { at: this.now() + ms, fn, live: true };
    this.due.push(t);
    return t;
  }
  clear(handle: unknown): void {
    if (handle && typeof handle === 'object' && 'live' in handle) (handle as { live: boolean }).live = false;
  }
  run(): void {
    const now = this.now();
    let keep = 0;
    const list = this.due.splice(0, this.due.length);
    for (const t of list) {
      if (!t.live) continue;
      if (t.at <= now) t.fn();
      else {
        this.due.push(t);
        keep++;
      }
    }
    void keep;
  }
}

/** One simulated client. */
interface SimClient {
  readonly conn: Connection;
  readonly brain: BotBrain;
  readonly sampled: boolean;
  player: Player | undefined;
}

/** Runs one scale point. */
export async function runScale(o: ScaleOptions): Promise<ScaleResult> {
  const log = o.log ?? (() => undefined);
  const seed = o.seed ?? 1;
  const warmupSec = o.warmupSec ?? 3;
  const sampleN = Math.min(o.players, o.sample ?? 20);
  const joinsPerTick = Math.max(1, o.joinsPerTick ?? 50);
  const wallLimitMs = o.wallLimitMs ?? 15 * 60_000;
  const game = o.game;
  const params: Record<string, number> = o.npcs !== undefined ? { npcs: o.npcs } : {};
  let now = 0;
  const nowMs = (): number => now;
  const config = loadServerConfig({}, {
    webrtc: false, logLevel: 'silent', resumeGraceMs: 0, game: game.name, seed, roomCapacity: Math.max(1, o.players), gameParams: params,
    maxSessions: Math.max(2000, o.players), maxSessionsPerAddress: 256,
    ...(o.viewBudgetBytesPerSec !== undefined ? { viewBudgetBytesPerSec: o.viewBudgetBytesPerSec } : {}),
  });
  const server = new TickwireServer(config, { game, clock: { nowMs }, autoTick: false });
  const transport = new LoopbackTransport({ reliable: true, manual: true, nowMs });
  server.startInProcess(transport);
  const timers = new SimTimers(nowMs);
  const tickMs = 1000 / config.net.tickRateHz;
  const clients: SimClient[] = [];
  const sampleEvery = Math.max(1, Math.floor(o.players / Math.max(1, sampleN)));
  let measuring = false;
  let checked = 0;
  let mismatches = 0;
  let unchecked = 0;
  const wall0 = performance.now();

  const makeClient = (i: number): SimClient => {
    const io = { ...loopbackClientIO(transport, undefined, { nowMs, remoteAddress: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }), setTimeout: (fn: () => void, ms: number) => timers.set(fn, ms), clearTimeout: (h: unknown) => timers.clear(h) };
    const copts: ConnectionOptions = { url: 'http://loopback', name: `bot-${i}`, transport: 'ws' };
    const sampled = clients.filter((c) => c.sampled).length < sampleN && i % sampleEvery === 0;
    const conn = sampled ? new Connection(game, io, copts) : new ThinConnection(game, io, copts);
    const brain = arenaWalk.create({ botIndex: i, rng: new Rng(deriveSeed(seed, i)), inputRateHz: config.net.tickRateHz, gameName: game.name });
    const c: SimClient = { conn, brain, sampled, player: undefined };
    conn.events.onWelcome = () => {
      if (conn instanceof ThinConnection) conn.receiver = undefined;
    };
    if (sampled) {
      conn.events.onSnapshot = (frame) => {
        if (!measuring || !frame.complete) return;
        const room = server.rooms.list[0];
        const player = c.player ?? (c.player = room?.players.find((p) => p.eid === conn.eid));
        if (!room || !player) return;
        const ok = viewFrameMatches(room.history, room.interest, player, frame);
        if (ok === undefined) unchecked++;
        else {
          checked++;
          if (!ok) mismatches++;
        }
      };
    }
    conn.connect();
    return c;
  };

  const tickTimes: number[] = [];
  const frameTimes: number[] = [];
  const handoffTimes: number[] = [];
  const tickCpu: number[] = [];
  let tickMsSum = 0;
  const snapTimes: number[] = [];
  let serverMs = 0;
  let serverCpuMs = 0;
  const step = (): number => {
    now += tickMs;
    timers.run();
    const room = server.rooms.list[0];
    const target = (room ? room.ctx.tick : 0) + 1;
    for (const c of clients) {
      if (c.conn.state !== 'active') continue;
      c.conn.sendInput(c.brain.next(now, undefined), target);
    }
    transport.pump();
    const st = server.stats;
    const ticks0 = st.tickSeconds.count;
    const handoffs0 = st.tickHandoffSeconds.count;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    server.frame({ run: 1, skipped: 0 });
    const t1 = performance.now();
    const c1 = process.cpuUsage(c0);
    if (measuring) {
      const cpuMs = (c1.user + c1.system) / 1000;
      serverMs += t1 - t0;
      serverCpuMs += cpuMs;
      tickCpu.push(cpuMs);
      frameTimes.push(t1 - t0);
      if (st.tickSeconds.count !== ticks0) {
        const tick = st.tickSeconds.last * 1000;
        tickTimes.push(tick);
        tickMsSum += tick;
        const r = server.rooms.list[0];
        if (r && r.ctx.tick % r.snapshotEvery === 0) snapTimes.push(tick);
      }
      if (st.tickHandoffSeconds.count !== handoffs0) handoffTimes.push(st.tickHandoffSeconds.last * 1000);
    }
    transport.pump();
    return t1 - t0;
  };

  const checkWall = (): void => {
    if (performance.now() - wall0 > wallLimitMs) throw new Error(`bench:scale gave up after ${wallLimitMs} ms of wall time`);
  };
  // Joins, ramped; then the warm-up.
  const joinTicks = Math.ceil(o.players / joinsPerTick);
  const joinFrames: number[] = [];
  const nearFull: number[] = [];
  for (let t = 0; t < joinTicks; t++) {
    const before = server.rooms.list[0]?.players.length ?? 0;
    for (let k = 0; k < joinsPerTick && clients.length < o.players; k++) clients.push(makeClient(clients.length));
    const ms = step();
    joinFrames.push(ms);
    if (before >= 0.9 * o.players) nearFull.push(ms);
  }
  const warmTicks = Math.round(warmupSec * config.net.tickRateHz);
  for (let t = 0; t < warmTicks; t++) {
    step();
    if (t % 60 === 0) {
      checkWall();
      await new Promise((r) => setImmediate(r));
    }
  }
  const room = server.rooms.list[0];
  const connected0 = room?.players.length ?? 0;
  log(`${connected0} of ${o.players} clients in the room; measuring ${o.seconds} s`);
  const sum = (f: (c: SimClient) => number): number => clients.reduce((s, c) => s + f(c), 0);
  const down0 = sum((c) => c.conn.counters.bytesDown);
  const up0 = sum((c) => c.conn.counters.bytesUp);
  const snaps0 = sum((c) => c.conn.counters.snapshots);
  const enc = server.stats.encoder;
  const full0 = enc.fullSnapshots;
  const delta0 = enc.deltaSnapshots;
  const ist = server.stats.interest;
  const views0 = ist.views;
  const viewEnt0 = ist.viewEntities;
  const entered0 = ist.entered;
  const left0 = ist.left;
  const deferred0 = ist.deferred;
  ist.maxWaitSnapshots = 0;
  if (o.onWindow) await o.onWindow('start');
  const referenceBefore = referenceMs();
  const cpu0 = process.cpuUsage();
  const machine0 = readMachineCpu();
  measuring = true;
  const ticks = Math.round(o.seconds * config.net.tickRateHz);
  for (let t = 0; t < ticks; t++) {
    step();
    if (t % 60 === 0) {
      checkWall();
      if (t % 600 === 0 && t > 0) log(`${t / config.net.tickRateHz} s simulated`);
      await new Promise((r) => setImmediate(r));
    }
  }
  measuring = false;
  const cpu = process.cpuUsage(cpu0);
  const machine = machineCpuFigures(machine0, readMachineCpu());
  const referenceAfter = referenceMs();
  if (o.onWindow) await o.onWindow('end');
  const connectedEnd = room?.players.length ?? 0;
  const simSec = ticks / config.net.tickRateHz;
  const n = Math.max(1, clients.length);
  const sorted = Float64Array.from(tickTimes).sort();
  const frameSorted = Float64Array.from(frameTimes).sort();
  const handoffSorted = Float64Array.from(handoffTimes).sort();
  const pcts = (a: Float64Array): { p50: number; p99: number; max: number } => ({ p50: round(percentileSorted(a, 0.5), 3), p99: round(percentileSorted(a, 0.99), 3), max: round(a[a.length - 1] ?? 0, 3) });
  const snapSorted = Float64Array.from(snapTimes).sort();
  const cpuSorted = Float64Array.from(tickCpu).sort();
  const views = ist.views - views0;
  const entities = room ? room.replicated().length : 0;
  const result: ScaleResult = {
    scenario: game.name,
    players: o.players,
    npcs: o.npcs ?? game.defaultParams?.npcs ?? 0,
    entities,
    seconds: o.seconds,
    warmupSec,
    connected: Math.min(connected0, connectedEnd),
    tickMs: { ...pcts(sorted), mean: round(tickMsSum / Math.max(1, tickTimes.length), 3) },
    handoffMs: pcts(handoffSorted),
    frameMs: { ...pcts(frameSorted), mean: round(serverMs / Math.max(1, frameTimes.length), 3) },
    joinsPerTick,
    halfLeaveFrameMs: 0,
    joinFrameMs: { ...pcts(Float64Array.from(joinFrames).sort()), nearFullMean: round(nearFull.reduce((a, b) => a + b, 0) / Math.max(1, nearFull.length), 3) },
    frameCpuMs: { ...pcts(cpuSorted), mean: round(serverCpuMs / Math.max(1, tickCpu.length), 3) },
    snapshotTickMs: pcts(snapSorted),
    ticks: frameTimes.length,
    serverCpuCoresUsed: round(serverCpuMs / 1000 / simSec, 3),
    serverWallCoresUsed: round(serverMs / 1000 / simSec, 3),
    processCpuCoresUsed: round((cpu.user + cpu.system) / 1e6 / simSec, 3),
    machineCpu: machine,
    machineReferenceMs: { before: round(referenceBefore, 3), after: round(referenceAfter, 3) },
    downPayloadBytesPerClientPerSec: Math.round((sum((c) => c.conn.counters.bytesDown) - down0) / n / simSec),
    upPayloadBytesPerClientPerSec: Math.round((sum((c) => c.conn.counters.bytesUp) - up0) / n / simSec),
    snapshotsPerClientPerSec: round((sum((c) => c.conn.counters.snapshots) - snaps0) / n / simSec, 2),
    meanViewEntities: views > 0 ? round((ist.viewEntities - viewEnt0) / views, 1) : entities,
    viewEnteredPerClientPerSec: round((ist.entered - entered0) / n / simSec, 2),
    viewLeftPerClientPerSec: round((ist.left - left0) / n / simSec, 2),
    deferredEntriesPerClientPerSec: round((ist.deferred - deferred0) / n / simSec, 3),
    maxEntryWaitSnapshots: ist.maxWaitSnapshots,
    maxRefreshIntervalMs: round(((ist.maxWaitSnapshots + 1) * 1000) / config.net.snapshotRateHz, 1),
    viewBudgetBytesPerSec: config.viewBudgetBytesPerSec,
    fullSnapshots: enc.fullSnapshots - full0,
    deltaSnapshots: enc.deltaSnapshots - delta0,
    sampledClients: clients.filter((c) => c.sampled).length,
    sampledFramesChecked: checked,
    sampledMismatches: mismatches,
    sampledUnchecked: unchecked,
    decodeErrors: sum((c) => c.conn.counters.decodeErrors),
    wallSeconds: round((performance.now() - wall0) / 1000, 1),
    node: process.version,
    date: new Date().toISOString(),
  };
  // half the room leaves at once (a match over, a network blip)
  for (let i = 1; i < clients.length; i += 2) clients[i].conn.close('half leave');
  transport.pump();
  // the closes, then the departures' announcement (up to a snapshot interval later): the longest frame of 100 ms
  let longest = 0;
  for (let t = 0; t < Math.ceil(config.net.tickRateHz / 10); t++) longest = Math.max(longest, step());
  result.halfLeaveFrameMs = round(longest, 3);
  for (const c of clients) c.conn.close('bench over');
  transport.pump();
  await server.stop('bench over');
  return result;
}
