// The fleet on this machine, against a real redis-server started here:
// 1. capacity: for 1 and then 2 members (server processes), thin WebSocket bots join through the
//    matchmaker in steps; each step is held and every member's tick p99 read from its histogram;
//    the largest aggregate player count with every member's p99 under 8.33 ms (half a 60 Hz tick)
//    is what the fleet holds. Bot CPU is recorded beside the servers' (they share the 2 cores);
// 2. matchmaking: N concurrent POST /matchmake spread over the members (no game traffic): requests
//    per second, p50/p99 latency, and a check that no room got more seats than its capacity;
// 3. SIGKILL of a member with players: time until every listing is clean (default lease).
// `npm run bench:fleet -- [--step 50] [--max 800] [--hold 8] [--npcs 100] [--requests 1000] [--json] [--save]`
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { BotPool, REPO_ROOT } from '../tools/bots/pool.ts';
import { cpuCoresUsed, readProcSample } from '../tools/measure/proc.ts';
import { parsePromText } from '../tools/measure/prom.ts';
import { startRedis, type TestRedis } from '../tools/measure/redis-server.ts';
import { machineInfo } from '../tools/measure/report.ts';
import { ServerProcess } from '../tools/measure/server-proc.ts';
import { percentile, round } from '../tools/measure/stats.ts';

const { values } = parseArgs({
  options: {
    step: { type: 'string', default: '50' }, max: { type: 'string', default: '800' }, hold: { type: 'string', default: '8' },
    npcs: { type: 'string', default: '100' }, requests: { type: 'string', default: '1000' }, lease: { type: 'string', default: '5000' },
    json: { type: 'boolean', default: false }, save: { type: 'boolean', default: false },
  },
});
const STEP = Number(values.step);
const MAX = Number(values.max);
const HOLD_S = Number(values.hold);
const NPCS = Number(values.npcs);
const REQUESTS = Number(values.requests);
const LEASE_MS = Number(values.lease);
const BUDGET_S = 1 / 120;
const log = (l: string): void => void process.stderr.write(`${l}\n`);

async function member(redis: TestRedis, id: string): Promise<ServerProcess> {
  return ServerProcess.start({
    root: REPO_ROOT, webrtc: false, npcs: NPCS, roomCapacity: 64,
    env: { TICKWIRE_REDIS_URL: redis.url, TICKWIRE_MEMBER_ID: id, TICKWIRE_FLEET_LEASE_MS: String(LEASE_MS), TICKWIRE_MATCHMAKE_PER_SEC: '100000' },
  });
}

async function histogram(m: ServerProcess): Promise<Map<number, number>> {
  const text = await (await fetch(`${m.url}/metrics`)).text();
  const out = new Map<number, number>();
  for (const s of parsePromText(text)) if (s.name === 'tickwire_tick_duration_seconds_bucket') out.set(s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), s.value);
  return out;
}

/** p99 of the ticks between two readings, as the upper bound of its bucket. */
function p99(a: Map<number, number>, b: Map<number, number>): number {
  const bounds = [...b.keys()].sort((x, y) => x - y);
  const total = (b.get(Infinity) ?? 0) - (a.get(Infinity) ?? 0);
  for (const le of bounds) if ((b.get(le) ?? 0) - (a.get(le) ?? 0) >= 0.99 * total) return le;
  return Infinity;
}

interface Step {
  players: number;
  connected: number;
  failed: number;
  tickP99Ms: number[];
  serverCores: number[];
  botCores: number;
  held: boolean;
}

/** Ramps bots through the matchmaker on `members` until a member's tick p99 reaches the budget or bots fail. */
async function capacity(members: ServerProcess[]): Promise<{ members: number; heldPlayers: number; steps: Step[] }> {
  const pools: BotPool[] = [];
  const steps: Step[] = [];
  let held = 0;
  try {
    for (let players = STEP; players <= MAX; players += STEP) {
      const pool = await BotPool.start({ url: members[0].url, matchmake: members[0].url, count: STEP, transport: 'ws', rampPerSec: 100, seed: players, fullBots: 0, game: 'arena-v1', script: 'random-input' });
      pools.push(pool);
      const settle = Date.now() + 20_000;
      let active = 0;
      while (Date.now() < settle) {
        active = (await Promise.all(pools.map((p) => p.read()))).reduce((n, t) => n + t.active, 0);
        if (active >= players) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      await new Promise((r) => setTimeout(r, 2000));
      const h0 = await Promise.all(members.map(histogram));
      const c0 = members.map((m) => readProcSample(m.pid));
      const b0 = (await Promise.all(pools.map((p) => p.read()))).reduce((n, t) => n + t.botCpuSec, 0);
      const t0 = performance.now();
      await new Promise((r) => setTimeout(r, HOLD_S * 1000));
      const h1 = await Promise.all(members.map(histogram));
      const c1 = members.map((m) => readProcSample(m.pid));
      const totals = await Promise.all(pools.map((p) => p.read()));
      const b1 = totals.reduce((n, t) => n + t.botCpuSec, 0);
      const seconds = (performance.now() - t0) / 1000;
      const tickP99Ms = members.map((_, i) => round(p99(h0[i], h1[i]) * 1000, 2));
      const connected = totals.reduce((n, t) => n + t.active, 0);
      const failed = totals.reduce((n, t) => n + t.failed, 0);
      const ok = connected === players && failed === 0 && tickP99Ms.every((v) => v / 1000 < BUDGET_S);
      const step: Step = { players, connected, failed, tickP99Ms, serverCores: members.map((_, i) => round(cpuCoresUsed(c0[i], c1[i]), 3)), botCores: round((b1 - b0) / seconds, 3), held: ok };
      steps.push(step);
      log(`  ${members.length} member(s), ${players} players: connected ${connected}, tick p99 ${tickP99Ms.join(' / ')} ms, server cores ${step.serverCores.join(' / ')}, bot cores ${step.botCores} ${ok ? 'held' : 'NOT held'}`);
      if (!ok) break;
      held = players;
    }
  } finally {
    for (const p of pools) await p.stop().catch(() => undefined);
  }
  return { members: members.length, heldPlayers: held, steps };
}

/** REQUESTS concurrent matchmaking requests over the members. */
async function matchmaking(members: ServerProcess[]): Promise<{ requests: number; granted: number; refused: Record<string, number>; seconds: number; requestsPerSec: number; p50Ms: number; p99Ms: number; overCapacityRooms: number; duplicateSeats: number }> {
  const latencies: number[] = [];
  const refused: Record<string, number> = {};
  const seatsByRoom = new Map<string, number>();
  const seen = new Set<string>();
  let duplicateSeats = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: REQUESTS }, async (_, i) => {
    const m = members[i % members.length];
    const s = performance.now();
    const res = await fetch(`${m.url}/matchmake`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: `mm${i}`, game: 'arena-v1' }) });
    const body = (await res.json()) as { room?: string; seat?: string; error?: string };
    latencies.push(performance.now() - s);
    if (res.status === 200 && body.room && body.seat) {
      if (seen.has(body.seat)) duplicateSeats++;
      seen.add(body.seat);
      seatsByRoom.set(body.room, (seatsByRoom.get(body.room) ?? 0) + 1);
    } else refused[body.error ?? String(res.status)] = (refused[body.error ?? String(res.status)] ?? 0) + 1;
  }));
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: REQUESTS, granted: seen.size, refused, seconds: round(seconds, 3), requestsPerSec: round(REQUESTS / seconds, 0),
    p50Ms: round(percentile(latencies, 0.5), 1), p99Ms: round(percentile(latencies, 0.99), 1),
    overCapacityRooms: [...seatsByRoom.values()].filter((n) => n > 64).length, duplicateSeats,
  };
}

async function killToCleanListing(members: ServerProcess[]): Promise<{ leaseMs: number; msToCleanListing: number; roomsOfKilled: number }> {
  const pool = await BotPool.start({ url: members[0].url, matchmake: members[0].url, count: 100, transport: 'ws', rampPerSec: 100, seed: 99, fullBots: 0, game: 'arena-v1', script: 'idle' });
  try {
    const deadline = Date.now() + 20_000;
    while ((await pool.read()).active < 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    await new Promise((r) => setTimeout(r, 2000));
    const victim = members[1];
    const rooms = async (m: ServerProcess): Promise<{ owner: string }[]> => ((await (await fetch(`${m.url}/rooms`)).json()) as { rooms: { owner: string }[] }).rooms;
    const roomsOfKilled = (await rooms(members[0])).filter((r) => r.owner === 'b').length;
    const t0 = Date.now();
    process.kill(victim.pid, 'SIGKILL');
    for (;;) {
      const sent = Date.now();
      if (!(await rooms(members[0])).some((r) => r.owner === 'b')) return { leaseMs: LEASE_MS, msToCleanListing: sent - t0, roomsOfKilled };
      if (Date.now() - t0 > LEASE_MS + 10_000) return { leaseMs: LEASE_MS, msToCleanListing: -1, roomsOfKilled };
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    await pool.stop().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const redis = await startRedis();
  const started: ServerProcess[] = [];
  try {
    log('capacity, 1 member:');
    const a = await member(redis, 'a');
    started.push(a);
    const one = await capacity([a]);
    await a.stop();
    started.length = 0;
    log('capacity, 2 members:');
    const two = [await member(redis, 'a'), await member(redis, 'b')];
    started.push(...two);
    const both = await capacity(two);
    log('matchmaking:');
    const mm = await matchmaking(two);
    log(`  ${mm.requests} concurrent requests: ${mm.requestsPerSec}/s, p50 ${mm.p50Ms} ms, p99 ${mm.p99Ms} ms, granted ${mm.granted}, over capacity ${mm.overCapacityRooms}, duplicate seats ${mm.duplicateSeats}`);
    await new Promise((r) => setTimeout(r, 11_000)); // the unused seats expire
    log('SIGKILL to a clean listing:');
    const kill = await killToCleanListing(two);
    log(`  ${kill.msToCleanListing} ms (lease ${kill.leaseMs} ms, ${kill.roomsOfKilled} rooms on the killed member)`);
    const result = {
      bench: 'fleet', machine: machineInfo(), at: new Date().toISOString(),
      scenario: { game: 'arena-v1', npcsPerRoom: NPCS, roomCapacity: 64, transport: 'ws', step: STEP, holdSeconds: HOLD_S, tickBudgetMs: round(BUDGET_S * 1000, 2) },
      capacity: [one, both], matchmaking: mm, kill,
    };
    if (values.json) console.log(JSON.stringify(result));
    if (values.save) {
      const dir = join(REPO_ROOT, 'bench/results');
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, 'fleet.json'), `${JSON.stringify(result, null, 2)}\n`);
      log('saved bench/results/fleet.json');
    }
  } finally {
    for (const m of started) await m.stop(3000).catch(() => undefined);
    await redis.dispose();
  }
}

void main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
