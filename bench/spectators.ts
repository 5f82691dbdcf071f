// What a spectator costs the server beside a player. The server runs in its own process (arena-v1,
// 500 NPCs by default, WebSocket only) with P player bots in one room (bot processes); three
// windows are measured one after the other in the same run: P players; P players and S spectators
// (hello.spectate: no entity, no inputs, every snapshot encoded after the players'); P + S players.
// Server CPU (from /proc/PID/stat, all threads) per extra spectator against per extra player, and bytes down
// per spectator against per player (the bots' payload counters). The machine's load average is
// recorded beside each window. Spectators share their room's stream (ServerConfig.spectatorStream:
// one delta chain encoded once, no acks); with --ab the same three windows run first on a server
// with the stream off (each spectator its own acknowledged stream, as before), then on one with it
// on, in the same run, so the two are compared under the same load.
// `npm run bench:spectators -- [--players 20] [--spectators 20] [--npcs 500] [--seconds 10] [--warmup 3] [--ab] [--json] [--save]`
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BotPool, REPO_ROOT } from '../tools/bots/pool.ts';
import { cpuCoresUsed, readProcSample } from '../tools/measure/proc.ts';
import { commitId, machineInfo } from '../tools/measure/report.ts';
import { round } from '../tools/measure/stats.ts';
import { ServerProcess } from '../tools/measure/server-proc.ts';
import type { BotTotals } from '../tools/measure/totals.ts';

const { values } = parseArgs({
  options: {
    players: { type: 'string', default: '20' }, spectators: { type: 'string', default: '20' }, npcs: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '10' }, warmup: { type: 'string', default: '3' }, json: { type: 'boolean', default: false }, save: { type: 'boolean', default: false },
    ab: { type: 'boolean', default: false },
  },
});
const int = (name: string, v: string | undefined, min: number, max: number): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in ${min}..${max}`);
  return n;
};
const players = int('players', values.players, 1, 400);
const spectators = int('spectators', values.spectators, 1, 400);
const npcs = int('npcs', values.npcs, 0, 5000);
const seconds = int('seconds', values.seconds, 2, 600);
const warmup = int('warmup', values.warmup, 0, 60);
const ROOM = 'bench';
const log = (l: string): void => void process.stderr.write(`${l}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** One measured window. */
interface Window {
  label: string;
  players: number;
  spectators: number;
  /** Server process CPU, cores (1 = one core busy). */
  serverCores: number;
  /** Payload bytes down per second per player bot, and per spectator bot (0 when none). */
  playerBytesPerSec: number;
  spectatorBytesPerSec: number;
  /** 1-minute load average at the window's start and end. */
  load: [number, number];
}

async function untilActive(pool: BotPool, n: number, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const t = await pool.read();
    if (t.active >= n) return;
    if (Date.now() > deadline) throw new Error(`${what}: ${t.active} of ${n} bots active after 60 s (failed ${t.failed}: ${JSON.stringify(t.failReasons)})`);
    await sleep(250);
  }
}

/** Bytes down per second per active bot between two readings. */
function perBot(a: BotTotals, b: BotTotals): number {
  const clientSec = (b.activeClientMs - a.activeClientMs) / 1000;
  return clientSec > 0 ? (b.bytesDown - a.bytesDown) / clientSec : 0;
}

async function measure(server: ServerProcess, label: string, counts: { players: number; spectators: number }, playerPools: BotPool[], watchers: BotPool | undefined): Promise<Window> {
  await sleep(warmup * 1000);
  const l0 = loadavg()[0];
  const p0 = await Promise.all(playerPools.map((p) => p.read()));
  const s0 = await watchers?.read();
  const c0 = readProcSample(server.pid);
  await sleep(seconds * 1000);
  const c1 = readProcSample(server.pid);
  const p1 = await Promise.all(playerPools.map((p) => p.read()));
  const s1 = await watchers?.read();
  const bytes = p0.reduce((n, a, i) => n + (p1[i].bytesDown - a.bytesDown), 0);
  const clientSec = p0.reduce((n, a, i) => n + (p1[i].activeClientMs - a.activeClientMs), 0) / 1000;
  const w: Window = {
    label, ...counts,
    serverCores: round(cpuCoresUsed(c0, c1), 4),
    playerBytesPerSec: round(clientSec > 0 ? bytes / clientSec : 0, 0),
    spectatorBytesPerSec: s0 && s1 ? round(perBot(s0, s1), 0) : 0,
    load: [round(l0, 2), round(loadavg()[0], 2)],
  };
  log(`${label}: server ${(w.serverCores * 100).toFixed(1)}% of a core, ${w.playerBytesPerSec} B/s down per player${w.spectatorBytesPerSec ? `, ${w.spectatorBytesPerSec} B/s per spectator` : ''} (load ${w.load.join(' → ')})`);
  return w;
}

async function roomInfo(server: ServerProcess): Promise<{ spectators: number; entities: number; players: number }> {
  const body = (await (await fetch(`${server.url}/rooms`)).json()) as { rooms: { name: string; spectators: number; entities: number; players: number }[] };
  return body.rooms.find((r) => r.name === ROOM) ?? { spectators: 0, entities: 0, players: 0 };
}

/** What a spectator and a player each add, from the three windows of one server. */
interface PerExtra {
  spectatorCpuMsPerSec: number;
  playerCpuMsPerSec: number;
  spectatorBytesPerSec: number;
  playerBytesPerSec: number;
}

/** The three windows on one server process, the spectator stream on or off. */
async function runOn(stream: boolean): Promise<{ windows: Window[]; perExtra: PerExtra; entities: number }> {
  const server = await ServerProcess.start({
    root: REPO_ROOT, webrtc: false, npcs, roomCapacity: Math.min(1024, players + spectators),
    // the room is named (so the spectators can watch it): give it the server's NPC count, not the
    // smaller one of rooms clients name
    env: {
      TICKWIRE_MAX_SPECTATORS_PER_ROOM: String(spectators), TICKWIRE_CLIENT_ROOM_PARAMS: JSON.stringify({ npcs }), LOG_LEVEL: 'warn',
      TICKWIRE_SPECTATOR_STREAM: stream ? '1' : '0',
    },
  });
  const pools: BotPool[] = [];
  const bots = (count: number, seed: number, spectate: boolean): Promise<BotPool> =>
    BotPool.start({ url: server.url, count, transport: 'ws', room: ROOM, game: 'arena-v1', seed, fullBots: 0, rampPerSec: 50, inProcess: false, ...(spectate ? { spectate: true } : {}) });
  try {
    log(`server pid ${server.pid} (spectator stream ${stream ? 'on' : 'off'}): arena-v1, ${npcs} NPCs, room ${ROOM}; ${players} players, then + ${spectators} spectators, then + ${spectators} players; ${seconds} s windows after ${warmup} s`);
    const base = await bots(players, 1, false);
    pools.push(base);
    await untilActive(base, players, 'players');
    const info = await roomInfo(server);
    log(`room ${ROOM}: ${info.players} players, ${info.entities} entities`);
    if (info.entities < npcs) throw new Error(`room ${ROOM} has ${info.entities} entities, fewer than the ${npcs} NPCs asked for`);
    const tag = stream ? '' : ' (stream off)';
    const a = await measure(server, `players${tag}`, { players, spectators: 0 }, [base], undefined);
    const watchers = await bots(spectators, 2, true);
    pools.push(watchers);
    await untilActive(watchers, spectators, 'spectators');
    const b = await measure(server, `players + spectators${tag}`, { players, spectators }, [base], watchers);
    await watchers.stop();
    pools.splice(pools.indexOf(watchers), 1);
    for (let i = 0; i < 40 && (await roomInfo(server)).spectators > 0; i++) await sleep(250);
    const extra = await bots(spectators, 3, false);
    pools.push(extra);
    await untilActive(extra, spectators, 'extra players');
    const c = await measure(server, `players + extra players${tag}`, { players: players + spectators, spectators: 0 }, [base, extra], undefined);
    const perExtra: PerExtra = {
      spectatorCpuMsPerSec: round(((b.serverCores - a.serverCores) / spectators) * 1000, 3),
      playerCpuMsPerSec: round(((c.serverCores - a.serverCores) / spectators) * 1000, 3),
      spectatorBytesPerSec: b.spectatorBytesPerSec,
      playerBytesPerSec: c.playerBytesPerSec,
    };
    log(`per extra spectator${tag}: ${perExtra.spectatorCpuMsPerSec} ms of server CPU per second, ${perExtra.spectatorBytesPerSec} B/s down`);
    log(`per extra player${tag}:    ${perExtra.playerCpuMsPerSec} ms of server CPU per second, ${perExtra.playerBytesPerSec} B/s down`);
    return { windows: [a, b, c], perExtra, entities: info.entities };
  } finally {
    for (const p of pools) await p.stop().catch(() => undefined);
    await server.stop(5000).catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const off = values.ab ? await runOn(false) : undefined;
  const on = await runOn(true);
  const result = {
    bench: 'spectators', commit: commitId(REPO_ROOT), machine: machineInfo(), at: new Date().toISOString(),
    params: { game: 'arena-v1', npcs, entities: on.entities, players, spectators, seconds, warmup, transport: 'ws', spectatorStream: true },
    windows: on.windows,
    perExtra: on.perExtra,
    ...(off ? { streamOff: { windows: off.windows, perExtra: off.perExtra } } : {}),
  };
  if (values.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  const stored = join(REPO_ROOT, 'bench', 'results', 'spectators.json');
  if (existsSync(stored)) {
    const before = (JSON.parse(readFileSync(stored, 'utf8')) as typeof result).perExtra;
    const diff = Object.entries(result.perExtra).map(([k, v]) => `${k} ${before[k as keyof typeof before]} → ${v}`);
    log(`against bench/results/spectators.json: ${diff.join(', ')}`);
  }
  if (values.save) {
    const dir = join(REPO_ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'spectators.json'), `${JSON.stringify(result, null, 2)}\n`);
    log('saved bench/results/spectators.json');
  }
}

main().catch((err: unknown) => {
  log(`bench:spectators failed: ${(err as Error).stack ?? String(err)}`);
  process.exitCode = 1;
});
