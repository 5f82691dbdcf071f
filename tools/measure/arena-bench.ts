// The socket benchmark of arena-v1 and arena-v2: starts the server in its own process, runs bot
// processes as scenario-arena-v1.md / scenario-arena-v2.md say, measures the server (CPU, RSS, tick times) and the clients (bytes,
// snapshots, render error) over a window after warm-up; the sweep and the capacity search.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { getPriority, loadavg } from 'node:os';
import { join } from 'node:path';
import { renderChartSvg, type ChartPanel } from './chart.ts';
import { readFileSync as readProcFile } from 'node:fs';
import { clockTicksPerSec, machineCpuFigures, readMachineCpu, readMachineUdp, readProcTree, treeCpuCoresUsed, type MachineCpuSample, type MachineUdpSample, type ProcTreeSample } from './proc.ts';
import { histogramDelta, histogramMaxBound, histogramQuantile, promHas, promHistogram, promValue, scrapeMetrics, type PromSample } from './prom.ts';
import { commitId, machineInfo, markdownTable, type MachineInfo } from './report.ts';
import { ServerProcess } from './server-proc.ts';
import { round } from './stats.ts';
import { summarizeBots, type BotSummary } from './summary.ts';
import { diffTotals, type BotTotals } from './totals.ts';
import { BotPool, fullSampleSize, REPO_ROOT } from '../bots/pool.ts';

/** Where results are stored. */
export const RESULTS_DIR = join(REPO_ROOT, 'bench/results');
/** Half the tick budget at 60 Hz, ms: the capacity criterion for tick p99. */
export const CAPACITY_BUDGET_MS = 1000 / 60 / 2;
/** The benchmark scenarios (each is the game of the same name). */
export type Scenario = 'arena-v1' | 'arena-v2';
/** The scenarios `npm run bench` knows. */
export const SCENARIOS: readonly Scenario[] = ['arena-v1', 'arena-v2'];
/** The scenario's sweep (scenario-arena-v1.md). */
export const SWEEP_PLAYERS = [10, 50, 100, 200] as const;
export const SWEEP_NPCS = [0, 500, 2000] as const;
/**
 * Each scenario's sweep and default point: arena-v1's grid, and arena-v2's room at its 2,000 NPCs
 * (scenario-arena-v2.md) from 100 players up to its 1,000-player target.
 */
export const SCENARIO_SWEEP: Readonly<Record<Scenario, { players: readonly number[]; npcs: readonly number[]; defaultPlayers: number; defaultNpcs: number }>> = {
  'arena-v1': { players: SWEEP_PLAYERS, npcs: SWEEP_NPCS, defaultPlayers: 50, defaultNpcs: 500 },
  'arena-v2': { players: [100, 250, 500, 1000], npcs: [2000], defaultPlayers: 1000, defaultNpcs: 2000 },
};

/** One benchmark point to run. */
export interface PointOptions {
  /** Scenario (and game) of the point. Default 'arena-v1'. */
  scenario?: Scenario;
  players: number;
  npcs: number;
  transport: 'ws' | 'webrtc';
  /** Measured window, s (scenario default 20). */
  seconds: number;
  /** Warm-up after every bot connected, excluded from the figures, s (scenario default 5). */
  warmupSec: number;
  /** Run seed (server simulation and bots). Default 1. */
  seed?: number;
  /** Connects per second. Default 50. */
  rampPerSec?: number;
  /** Full-netcode bots. Default 1 per 25 bots, 1..8. */
  fullBots?: number;
  /** Input packets per second per bot (the netcode's inputPacketRateHz); omitted = its default. */
  inputPacketRateHz?: number;
  /** Nice value of the bot processes (BotRunOptions.nice); omitted: the runner's own. */
  botsNice?: number;
  /** Progress lines (stderr). */
  log?: (line: string) => void;
  /** Record the room to a replay file in this directory (TICKWIRE_RECORD_ROOMS, TICKWIRE_REPLAY_DIR); omitted = not recorded. */
  recordDir?: string;
}

/** The figures of one point (the JSON `npm run bench` prints). */
export interface PointResult {
  scenario: Scenario;
  players: number;
  npcs: number;
  transport: 'ws' | 'webrtc';
  seconds: number;
  warmupSec: number;
  /** Client-side application payload bytes per client per second (both channels). */
  downPayloadBytesPerClientPerSec: number;
  upPayloadBytesPerClientPerSec: number;
  /** WebSocket TCP stream bytes incl. framing per client per second (ws transport only; null otherwise). */
  downWireBytesPerClientPerSec: number | null;
  upWireBytesPerClientPerSec: number | null;
  /** Server-side count: payload bytes the server sent per connected client per second. */
  serverDownPayloadBytesPerClientPerSec: number;
  snapshotsPerClientPerSec: number;
  /** Server user+sys CPU seconds per wall second: the server process and its children (the WebRTC worker). */
  serverCpuCoresUsed: number;
  /** Server peak resident set size (VmHWM), MiB: summed over the server process and its children. */
  serverPeakRssMiB: number;
  /** The server's processes: CPU over the window and peak RSS of each. */
  serverProcesses: { pid: number; role: string; cpuCoresUsed: number; peakRssMiB: number }[];
  /** Tick duration over the window, ms: p50/p99 interpolated from histogram buckets, max exact. */
  tickMs: { p50: number; p99: number; max: number };
  /**
   * The tick's phases over the window, ms (p50/p99 from histogram buckets): simulation, snapshot
   * encoding, the hand-off of the queued packets after the tick, and tick start to the last packet
   * handed off; null from a server without these histograms.
   */
  tickPhasesMs: Record<'simulate' | 'encode' | 'send' | 'handoff', { p50: number; p99: number }> | null;
  ticksPerSec: number;
  /** Ticks the loop skipped in the window (stalls beyond the catch-up bound). */
  ticksSkipped: number;
  renderErrorUnits: { mean: number | null; p99: number | null };
  renderErrorSamples: number;
  predictionCorrectionsPerSec: number | null;
  rttMs: { p50: number; p99: number };
  connected: number;
  failed: number;
  failReasons: Record<string, number>;
  webrtcAtEnd: number;
  errors: number;
  inputsSent: number;
  inputsAcked: number;
  /** Input packets per second per bot asked for (null: the netcode's default, DEFAULT_INPUT_PACKET_RATE_HZ). */
  inputPacketRateHz: number | null;
  /** Input delay of the full bots, ms: sampling an input to the server tick that applied it (null without full bots). */
  inputDelayMs: BotSummary['inputDelayMs'];
  /** Client-side counts per client per second: input packets, snapshot acks inside them and alone, upstream datagrams (input packets + lone acks). */
  upstream: { inputPackets: number; acksInInput: number; acksStandalone: number; datagrams: number };
  /** Server-side count: messages the server received per connected client per second (every channel, control included). */
  serverMessagesInPerClientPerSec: number;
  /** The bot processes; `nice` is their nice value (0: sharing the cores evenly with the server; absent in results before it was recorded). */
  bots: { processes: number; fullBots: number; fullClientNetcode: boolean; cpuCoresUsed: number; stepsSkipped: number; nice?: number };
  machine: MachineInfo;
  /**
   * The whole machine over the window, cores: busy (server, bots and anything else running) and
   * stolen by the hypervisor (steal time; above 0, the cores ran slower than their count says).
   */
  machineCpu: { busyCores: number; stealCores: number };
  /**
   * UDP datagrams the machine sent over the window, per connected client per second (every socket:
   * the server's WebRTC process, the bots and anything else; on loopback each is also received
   * once). Over WebRTC this counts what the application never sees: SCTP's SACKs, heartbeats and
   * ICE checks beside the inputs and snapshots. Absent in results before it was recorded.
   */
  machineUdpOutPerClientPerSec?: number;
  /** The machine's 1-minute load average at the start and the end of the window (other work on the machine shows here). */
  loadAverage1m: { start: number; end: number };
  commit: string;
  at: string;
  /** The command that produced a stored result. */
  command?: string;
}

interface Mark {
  atMs: number;
  proc: ProcTreeSample;
  cpu: MachineCpuSample;
  udp: MachineUdpSample;
  metrics: PromSample[];
  bots: BotTotals;
}

async function mark(server: ServerProcess, pool: BotPool): Promise<Mark> {
  const bots = await pool.read();
  const metrics = await scrapeMetrics(`${server.url}/metrics`);
  const atMs = performance.now();
  return { atMs, proc: readProcTree(server.pid, atMs), cpu: readMachineCpu(atMs), udp: readMachineUdp(), metrics, bots };
}

/** The nice value of a process's main thread (0 when it cannot be read). */
function niceOf(pid: number | undefined): number {
  try {
    return pid === undefined ? 0 : getPriority(pid);
  } catch {
    return 0;
  }
}

/** What a server process is, from its command line: 'main' for the root, else its script's name. */
function processRole(pid: number, root: number): string {
  if (pid === root) return 'main';
  try {
    const args = readProcFile(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    const script = [...args].reverse().find((a) => /\.(ts|js|mjs)$/.test(a));
    return script ? script.replace(/^.*\//, '') : (args[0] ?? 'unknown');
  } catch {
    return 'exited';
  }
}

/** Per-process CPU and peak RSS of the server's process tree over a window. */
export function serverProcessFigures(a: ProcTreeSample, b: ProcTreeSample, role: (pid: number) => string): { cpuCoresUsed: number; peakRssMiB: number; processes: { pid: number; role: string; cpuCoresUsed: number; peakRssMiB: number }[] } {
  const cpu = treeCpuCoresUsed(a, b, clockTicksPerSec());
  const processes = [...b.procs.entries()].map(([pid, p]) => ({ pid, role: role(pid), cpuCoresUsed: round(cpu.byPid[pid] ?? 0, 3), peakRssMiB: round(p.status.vmHwmKiB / 1024, 1) }));
  return { cpuCoresUsed: round(cpu.total, 3), peakRssMiB: round(processes.reduce((s, p) => s + p.peakRssMiB, 0), 1), processes };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Figures from the server's two scrapes around the window. */
export function serverWindowFigures(a: { atMs: number; metrics: PromSample[] }, b: { atMs: number; metrics: PromSample[] }): { tickMs: { p50: number; p99: number; max: number }; tickPhasesMs: PointResult['tickPhasesMs']; ticksPerSec: number; ticksSkipped: number; bytesOut: number; messagesIn: number } {
  const name = 'tickwire_tick_duration_seconds';
  const ha = promHistogram(a.metrics, name);
  const hb = promHistogram(b.metrics, name);
  const sec = (b.atMs - a.atMs) / 1000;
  let tickMs = { p50: 0, p99: 0, max: 0 };
  if (ha && hb) {
    const d = histogramDelta(hb, ha);
    // the max gauge covers exactly the time since the previous scrape (a's)
    const maxSec = promHas(b.metrics, 'tickwire_tick_duration_max_seconds') ? promValue(b.metrics, 'tickwire_tick_duration_max_seconds') : histogramMaxBound(d);
    tickMs = { p50: round(histogramQuantile(d, 0.5, maxSec) * 1000, 3), p99: round(histogramQuantile(d, 0.99, maxSec) * 1000, 3), max: round(maxSec * 1000, 3) };
  }
  const delta = (metric: string, labels: Record<string, string> = {}): number => promValue(b.metrics, metric, labels) - promValue(a.metrics, metric, labels);
  const phase = (which: string): { p50: number; p99: number } | undefined => {
    const pa = promHistogram(a.metrics, `tickwire_tick_${which}_seconds`);
    const pb = promHistogram(b.metrics, `tickwire_tick_${which}_seconds`);
    if (!pa || !pb) return undefined;
    const d = histogramDelta(pb, pa);
    const max = histogramMaxBound(d);
    return { p50: round(histogramQuantile(d, 0.5, max) * 1000, 3), p99: round(histogramQuantile(d, 0.99, max) * 1000, 3) };
  };
  const simulate = phase('simulate');
  const encode = phase('encode');
  const send = phase('send');
  const handoff = phase('handoff');
  return {
    tickMs,
    tickPhasesMs: simulate && encode && send && handoff ? { simulate, encode, send, handoff } : null,
    ticksPerSec: sec > 0 ? round(delta('tickwire_ticks_total') / sec, 2) : 0,
    ticksSkipped: delta('tickwire_ticks_skipped_total'),
    bytesOut: delta('tickwire_bytes_total', { direction: 'out' }),
    messagesIn: delta('tickwire_messages_total', { direction: 'in' }),
  };
}

/** Runs one point of a scenario (arena-v1 unless `scenario` says) and returns its figures. */
export async function runPoint(o: PointOptions): Promise<PointResult> {
  const log = o.log ?? ((): void => undefined);
  const scenario = o.scenario ?? 'arena-v1';
  const tag = `[${scenario} P=${o.players} N=${o.npcs} ${o.transport}]`;
  log(`${tag} starting the server`);
  const server = await ServerProcess.start({ root: REPO_ROOT, game: scenario, webrtc: o.transport === 'webrtc', npcs: o.npcs, roomCapacity: o.players + 8, seed: o.seed ?? 1, ...(o.recordDir !== undefined ? { env: recordEnv(o.recordDir) } : {}) });
  let pool: BotPool | undefined;
  try {
    const fullBots = Math.min(o.players, o.fullBots ?? fullSampleSize(o.players));
    const rampPerSec = o.rampPerSec ?? 50;
    pool = await BotPool.start({
      url: server.url, game: scenario, count: o.players, transport: o.transport, seed: o.seed ?? 1, rampPerSec, fullBots, script: 'arena-v1',
      ...(o.inputPacketRateHz !== undefined ? { inputPacketRateHz: o.inputPacketRateHz } : {}),
      ...(o.botsNice !== undefined ? { nice: o.botsNice } : {}),
    });
    log(`${tag} server PID ${server.pid}, ${pool.processCount} bot process(es) (PIDs ${pool.pids.join(', ')}), ramp ${rampPerSec}/s`);
    const deadline = Date.now() + 3000 + (o.players * 1000) / rampPerSec + 25_000;
    let t = await pool.read();
    // every bot welcomed (or failed) and, for WebRTC, on its datachannel (or fallen back)
    const settled = (x: BotTotals): boolean => x.active + x.failed >= o.players && (o.transport !== 'webrtc' || x.activeWebrtc + x.fellBackToWs >= x.active);
    while (!settled(t) && Date.now() < deadline) {
      if (server.exited) throw new Error(`server exited during the ramp:\n${server.output.join('\n')}`);
      await sleep(250);
      t = await pool.read();
    }
    log(`${tag} ${t.active} connected (${t.activeWebrtc} on WebRTC), ${t.failed} failed; warming up ${o.warmupSec} s`);
    await sleep(o.warmupSec * 1000);
    const loadStart = loadavg()[0];
    const a = await mark(server, pool);
    log(`${tag} measuring ${o.seconds} s`);
    await sleep(o.seconds * 1000);
    const b = await mark(server, pool);
    if (server.exited) throw new Error(`server exited during the measurement:\n${server.output.join('\n')}`);
    const windowSec = (b.atMs - a.atMs) / 1000;
    const bots: BotSummary = summarizeBots(diffTotals(b.bots, a.bots), windowSec);
    const srv = serverWindowFigures(a, b);
    const procs = serverProcessFigures(a.proc, b.proc, (pid) => processRole(pid, server.pid));
    const clients = Math.max(1, b.bots.active);
    const result: PointResult = {
      scenario, players: o.players, npcs: o.npcs, transport: o.transport, seconds: round(windowSec, 2), warmupSec: o.warmupSec,
      downPayloadBytesPerClientPerSec: bots.downPayloadBytesPerClientPerSec,
      upPayloadBytesPerClientPerSec: bots.upPayloadBytesPerClientPerSec,
      downWireBytesPerClientPerSec: bots.downWireBytesPerClientPerSec,
      upWireBytesPerClientPerSec: bots.upWireBytesPerClientPerSec,
      serverDownPayloadBytesPerClientPerSec: round(srv.bytesOut / clients / windowSec, 1),
      snapshotsPerClientPerSec: bots.snapshotsPerClientPerSec,
      serverCpuCoresUsed: procs.cpuCoresUsed,
      serverPeakRssMiB: procs.peakRssMiB,
      serverProcesses: procs.processes,
      tickMs: srv.tickMs,
      tickPhasesMs: srv.tickPhasesMs,
      ticksPerSec: srv.ticksPerSec,
      ticksSkipped: srv.ticksSkipped,
      renderErrorUnits: bots.renderErrorUnits,
      renderErrorSamples: bots.renderErrorSamples,
      predictionCorrectionsPerSec: bots.predictionCorrectionsPerSec,
      rttMs: bots.rttMs,
      connected: b.bots.connectedTotal,
      failed: b.bots.failed,
      failReasons: b.bots.failReasons,
      webrtcAtEnd: b.bots.activeWebrtc,
      errors: bots.errors,
      inputsSent: bots.inputsSent,
      inputsAcked: bots.inputsAcked,
      inputPacketRateHz: o.inputPacketRateHz ?? null,
      inputDelayMs: bots.inputDelayMs,
      upstream: { inputPackets: bots.inputPacketsPerClientPerSec, acksInInput: bots.acksInInputPerClientPerSec, acksStandalone: bots.acksStandalonePerClientPerSec, datagrams: bots.upDatagramsPerClientPerSec },
      serverMessagesInPerClientPerSec: round(srv.messagesIn / clients / windowSec, 2),
      bots: { processes: pool.processCount, fullBots: pool.fullClientAvailable ? b.bots.fullBots : 0, fullClientNetcode: pool.fullClientAvailable, cpuCoresUsed: bots.botCpuCoresUsed, stepsSkipped: bots.botStepsSkipped, nice: niceOf(pool.pids[0]) },
      machine: machineInfo(),
      machineCpu: machineCpuFigures(a.cpu, b.cpu),
      machineUdpOutPerClientPerSec: round((b.udp.outDatagrams - a.udp.outDatagrams) / clients / windowSec, 2),
      loadAverage1m: { start: round(loadStart, 2), end: round(loadavg()[0], 2) },
      commit: commitId(REPO_ROOT),
      at: new Date().toISOString(),
    };
    log(`${tag} done: tick p99 ${result.tickMs.p99} ms, server CPU ${result.serverCpuCoresUsed} cores, ${result.downPayloadBytesPerClientPerSec} B/client/s down`);
    return result;
  } finally {
    await pool?.stop().catch(() => pool?.kill());
    await server.stop();
  }
}

/** The server environment that records every room into `dir`. */
export function recordEnv(dir: string): Record<string, string> {
  return { TICKWIRE_RECORD_ROOMS: '1', TICKWIRE_REPLAY_DIR: dir };
}

/** The figures compared with stored results. */
export const COMPARED_METRICS = [
  'downPayloadBytesPerClientPerSec', 'upPayloadBytesPerClientPerSec', 'snapshotsPerClientPerSec', 'serverCpuCoresUsed', 'serverPeakRssMiB',
  'tickMs.p50', 'tickMs.p99', 'tickMs.max', 'ticksPerSec', 'renderErrorUnits.mean', 'renderErrorUnits.p99',
] as const;

/** A stored sweep. */
export interface SweepFile {
  scenario: Scenario;
  transport: 'ws' | 'webrtc';
  command: string;
  note: string;
  machine: MachineInfo;
  at: string;
  points: PointResult[];
  /** Points that could not be measured, with the reason. */
  failedPoints: { players: number; npcs: number; error: string }[];
}

/** Reads a stored JSON result; undefined when missing or unreadable. */
export function readJson<T>(path: string): T | undefined {
  try {
    return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : undefined;
  } catch {
    return undefined;
  }
}

/** The last stored result for this point: its own file, else the matching point of the stored sweep. */
export function storedPoint(players: number, npcs: number, transport: 'ws' | 'webrtc', dir = RESULTS_DIR, scenario: Scenario = 'arena-v1'): PointResult | undefined {
  const own = readJson<PointResult>(join(dir, pointFileName(players, npcs, transport, scenario)));
  if (own) return own;
  return readJson<SweepFile>(join(dir, `${scenario}-sweep-${transport}.json`))?.points.find((p) => p.players === players && p.npcs === npcs);
}

/** File name of a stored single point. */
export function pointFileName(players: number, npcs: number, transport: 'ws' | 'webrtc', scenario: Scenario = 'arena-v1'): string {
  return `${scenario}-p${players}-n${npcs}-${transport}.json`;
}

/** Markdown table of sweep points. */
export function sweepMarkdown(points: readonly PointResult[]): string {
  const header = ['players', 'NPCs', 'down B/client/s', 'up B/client/s', 'snapshots/client/s', 'server CPU (cores)', 'peak RSS MiB', 'tick p50 ms', 'tick p99 ms', 'tick max ms', 'ticks/s', 'render err mean', 'render err p99', 'connected/failed', 'bot CPU (cores)', 'machine load (1 min)'];
  const rows = points.map((p) => [
    p.players, p.npcs, p.downPayloadBytesPerClientPerSec, p.upPayloadBytesPerClientPerSec, p.snapshotsPerClientPerSec, p.serverCpuCoresUsed, p.serverPeakRssMiB,
    p.tickMs.p50, p.tickMs.p99, p.tickMs.max, p.ticksPerSec, p.renderErrorUnits.mean, p.renderErrorUnits.p99, `${p.connected}/${p.failed}`, p.bots.cpuCoresUsed,
    p.loadAverage1m ? `${p.loadAverage1m.start}-${p.loadAverage1m.end}` : null,
  ]);
  return markdownTable(header, rows);
}

/** The sweep chart: bytes per client and tick p99 against players, one line per NPC count, for each transport given. */
export function sweepChart(sweeps: readonly SweepFile[]): string {
  const panels: ChartPanel[] = [];
  const series = (s: SweepFile, y: (p: PointResult) => number): ChartPanel['series'] =>
    [...new Set(s.points.map((p) => p.npcs))].sort((a, b) => a - b).map((n) => ({
      name: `${n} NPCs`,
      points: s.points.filter((p) => p.npcs === n).map((p) => [p.players, y(p)] as [number, number]),
    }));
  for (const s of sweeps) {
    const which = s.scenario && s.scenario !== 'arena-v1' ? `${s.scenario}, ${s.transport}` : s.transport;
    panels.push({ title: `Bytes per client (${which})`, xLabel: 'players (bots)', yLabel: 'downstream payload, bytes/client/s', series: series(s, (p) => p.downPayloadBytesPerClientPerSec) });
    panels.push({ title: `Tick time p99 (${which})`, xLabel: 'players (bots)', yLabel: 'tick p99, ms', series: series(s, (p) => p.tickMs.p99), refY: { value: CAPACITY_BUDGET_MS, label: 'half the 60 Hz budget' } });
  }
  const m = sweeps[0]?.machine;
  const scenarios = [...new Set(sweeps.map((s) => s.scenario ?? 'arena-v1'))].join(' and ');
  const caption = m ? `${scenarios}, ${m.cores} cores (${m.cpuModel}), bots on the same machine as the server; ${sweeps.map((s) => `${s.transport} ${s.at.slice(0, 10)}`).join(', ')}` : scenarios;
  return renderChartSvg(panels, { caption, columns: 2 });
}

/** Capacity search result. */
export interface CapacityResult {
  scenario: Scenario;
  transport: 'ws' | 'webrtc';
  npcs: number;
  budgetMs: number;
  /** Largest bot count that met the criterion (0 if none did). */
  capacity: number;
  /** True when the search stopped at its upper bound (or its time budget) while still passing. */
  capacityIsLowerBound: boolean;
  /** Wall-time budget of the search, s (no probe starts after it is spent; null: none). */
  timeBudgetSec?: number | null;
  /** True when the time budget ended the search before it reached its resolution. */
  stoppedByTimeBudget?: boolean;
  /** Nice value the probes' bot processes ran at (--bots-nice; 0: not set). */
  botsNice?: number;
  cores: number;
  machine: MachineInfo;
  /** Every probe in order (a failing count is probed twice; it fails only if both fail). */
  probes: { players: number; tickP99Ms: number; snapshotsPerClientPerSec?: number | null; connected: number; failed: number; serverCpuCoresUsed: number; botCpuCoresUsed: number; botStepsSkipped: number; pass: boolean; reason: string; loadAverage1m: number | null }[];
  command: string;
  at: string;
}

/** Snapshots per client per second a capacity probe must deliver: the scenarios' 20 Hz, within 1% (window edges). */
export const CAPACITY_MIN_SNAPSHOTS_PER_SEC = 19.8;
/** Share of the bot processes' 60 Hz steps they may skip (fallen behind) before a probe stops measuring the load it claims. */
export const CAPACITY_MAX_BOT_STEPS_SKIPPED = 0.01;

/** The figures of a point the capacity verdict reads. */
export type CapacityFigures = Pick<PointResult, 'players' | 'connected' | 'tickMs'> & Partial<Pick<PointResult, 'snapshotsPerClientPerSec' | 'seconds'>> & { bots?: Pick<PointResult['bots'], 'processes' | 'stepsSkipped'> };

/**
 * Whether a point passes the capacity criterion, and why not: every bot connected, tick p99 under
 * the budget, 20 snapshots a second reaching the clients, and bots that kept up with their own
 * steps (bots that fell behind sent less than the point claims).
 */
export function capacityVerdict(r: CapacityFigures, budgetMs = CAPACITY_BUDGET_MS): { pass: boolean; reason: string } {
  if (r.connected < r.players) return { pass: false, reason: `only ${r.connected}/${r.players} bots connected` };
  if (r.tickMs.p99 >= budgetMs) return { pass: false, reason: `tick p99 ${r.tickMs.p99} ms >= ${round(budgetMs, 2)} ms` };
  if (r.snapshotsPerClientPerSec !== undefined && r.snapshotsPerClientPerSec < CAPACITY_MIN_SNAPSHOTS_PER_SEC) return { pass: false, reason: `${r.snapshotsPerClientPerSec} snapshots/s per client < ${CAPACITY_MIN_SNAPSHOTS_PER_SEC}` };
  if (r.bots && r.seconds !== undefined) {
    const steps = r.bots.processes * 60 * r.seconds;
    if (steps > 0 && r.bots.stepsSkipped > CAPACITY_MAX_BOT_STEPS_SKIPPED * steps) return { pass: false, reason: `the bots skipped ${r.bots.stepsSkipped} of ${Math.round(steps)} steps (fell behind)` };
  }
  return { pass: true, reason: `tick p99 ${r.tickMs.p99} ms < ${round(budgetMs, 2)} ms` };
}

/**
 * Largest bot count with tick p99 under half the 60 Hz budget: doubles from `start` until a probe
 * fails (or `max` is reached), then bisects to within `resolution` bots.
 */
export async function capacitySearch(o: { scenario?: Scenario; timeBudgetSec?: number; botsNice?: number; now?: () => number; transport: 'ws' | 'webrtc'; npcs: number; seconds: number; warmupSec: number; start: number; max: number; resolution: number; rampPerSec: number; log: (l: string) => void; probe?: (players: number) => Promise<Pick<PointResult, 'players' | 'connected' | 'failed' | 'tickMs' | 'serverCpuCoresUsed' | 'bots'> & Partial<Pick<PointResult, 'loadAverage1m' | 'snapshotsPerClientPerSec' | 'seconds'>>> }): Promise<Omit<CapacityResult, 'command' | 'at' | 'machine' | 'cores' | 'scenario'>> {
  const probes: CapacityResult['probes'] = [];
  const now = o.now ?? ((): number => performance.now());
  const startedMs = now();
  const timeBudgetSec = o.timeBudgetSec ?? null;
  // a probe starts only while the budget lasts; the one running when it ends finishes
  const timeLeft = (): boolean => timeBudgetSec === null || (now() - startedMs) / 1000 < timeBudgetSec;
  const run = o.probe ?? ((players: number) => runPoint({ scenario: o.scenario ?? 'arena-v1', players, npcs: o.npcs, transport: o.transport, seconds: o.seconds, warmupSec: o.warmupSec, rampPerSec: o.rampPerSec, fullBots: 1, log: o.log, ...(o.botsNice !== undefined ? { botsNice: o.botsNice } : {}) }));
  const probe = async (players: number, attempt = 1): Promise<boolean> => {
    const r = await run(players);
    const v = capacityVerdict(r);
    probes.push({ players, tickP99Ms: r.tickMs.p99, snapshotsPerClientPerSec: r.snapshotsPerClientPerSec ?? null, connected: r.connected, failed: r.failed, serverCpuCoresUsed: r.serverCpuCoresUsed, botCpuCoresUsed: r.bots.cpuCoresUsed, botStepsSkipped: r.bots.stepsSkipped, pass: v.pass, reason: v.reason, loadAverage1m: r.loadAverage1m?.end ?? null });
    o.log(`[capacity ${o.transport}] ${players} bots: ${v.pass ? 'pass' : 'fail'} (${v.reason})`);
    // one stall of a shared machine should not decide the search: a failing count is measured twice
    if (!v.pass && attempt < 2) return probe(players, attempt + 1);
    return v.pass;
  };
  let lo = 0;
  let hi = -1;
  let outOfTime = false;
  const base = { transport: o.transport, npcs: o.npcs, budgetMs: round(CAPACITY_BUDGET_MS, 3), timeBudgetSec, botsNice: o.botsNice ?? 0 };
  for (let p = Math.min(o.start, o.max); ; p = Math.min(o.max, p * 2)) {
    if (await probe(p)) lo = p;
    else {
      hi = p;
      break;
    }
    if (p >= o.max) break;
    if (!timeLeft()) {
      outOfTime = true;
      break;
    }
  }
  if (hi < 0) return { ...base, capacity: lo, capacityIsLowerBound: true, stoppedByTimeBudget: outOfTime, probes };
  while (hi - lo > o.resolution) {
    if (!timeLeft()) {
      outOfTime = true;
      break;
    }
    const mid = Math.round((lo + hi) / 2);
    if (await probe(mid)) lo = mid;
    else hi = mid;
  }
  return { ...base, capacity: lo, capacityIsLowerBound: false, stoppedByTimeBudget: outOfTime, probes };
}

/** The caveat stored with every result of this machine. */
export const NOTE = 'Measured on a 2-core machine with the bots running on the same machine as the server (and other work sharing the cores): preliminary figures.';

/** Writes a result file under bench/results; returns its path. */
export function save(name: string, body: string): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, name);
  writeFileSync(path, body);
  return path;
}
