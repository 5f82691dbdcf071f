// End-to-end snapshot figures: starts a real server as a child process (WebSocket transport), connects
// P Node clients sending arena-v1 bot inputs (a few decode every snapshot with the shared client
// code, the rest are the bots' thin clients: they ack from the headers with the receiver's rules),
// and measures downstream payload bytes per client per second, bytes per changed entity and the
// server process's CPU and peak RSS (/proc/<pid>).
// Stores bench/results/codec-e2e.json (or codec-e2e-sweep.json with --sweep) (+ .md).
// Run: npx tsx bench/codec-e2e.ts [--players 50] [--npcs 500] [--warmup 5] [--seconds 20] [--decode 4] [--sweep]
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { arena } from '../games/arena.ts';
import { Connection } from '../netcode/connection.ts';
import { MsgType } from '../shared/protocol/ids.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import type { SnapshotFrame } from '../shared/protocol/snapshot.ts';
import { deriveSeed, Rng } from '../shared/sim/rng.ts';
import { ThinConnection } from '../tools/bots/bot.ts';
import { cpuCoresUsed, readProcSample } from '../tools/measure/proc.ts';
import { ServerProcess } from '../tools/measure/server-proc.ts';
import { nodeClientIO } from '../tools/node-client/io.ts';
import { REPO_ROOT } from '../tools/bots/pool.ts';

/** One measured point. */
interface Point {
  players: number;
  npcs: number;
  seconds: number;
  /** Every byte the clients received (snapshots and control messages), per client per second. */
  bytesPerClientPerSec: number;
  /** Snapshot bytes only, per client per second. */
  snapshotBytesPerClientPerSec: number;
  /** Snapshot bytes per entity that changed (anything but steady extrapolation), seen by the sampled clients. */
  bytesPerChangedEntity: number;
  /** Complete snapshots per client per second (20 expected). */
  snapshotsPerClientPerSec: number;
  /** Server process CPU, cores (user + sys seconds per wall second). */
  serverCpuCores: number;
  /** Server process peak resident set, MB. */
  serverRssMb: number;
  /** Client snapshots sent full and as deltas during the window (server counters). */
  fullSnapshots: number;
  /** Full snapshots sent in the window by fallback reason (tickwire_snapshot_full_fallbacks_total). */
  fullReasons: Record<string, number>;
  deltaSnapshots: number;
  /** Decode errors and deltas without baseline summed over clients (must be 0). */
  clientErrors: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function snapshotCounters(url: string): Promise<{ full: number; delta: number; reasons: Record<string, number> }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const read = (kind: string): number => Number(new RegExp(`tickwire_snapshots_total\\{kind="${kind}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  const reasons: Record<string, number> = {};
  for (const m of text.matchAll(/^tickwire_snapshot_full_fallbacks_total\{reason="([^"]+)"\} (\d+)/gm)) reasons[m[1]] = Number(m[2]);
  return { full: read('full'), delta: read('delta'), reasons };
}

/** Counts entities of `t` a delta against `b` must describe (the same rule as the codec benchmark). */
function changedEntities(b: SnapshotFrame, t: SnapshotFrame): number {
  const nf = t.fieldCount;
  const dt = t.tick - b.tick;
  let changed = 0;
  let seen = 0;
  for (let i = 0; i < t.count; i++) {
    const j = b.indexOf(t.ids[i]);
    if (j < 0) {
      changed++;
      continue;
    }
    seen++;
    const same = t.masks[i] === b.masks[j] && t.rates[i * 2] === b.rates[j * 2] && t.rates[i * 2 + 1] === b.rates[j * 2 + 1] &&
      t.values[i * nf] === b.values[j * nf] && t.values[i * nf + 1] === b.values[j * nf + 1] + b.rates[j * 2] * dt &&
      t.values[i * nf + 2] === b.values[j * nf + 2] + b.rates[j * 2 + 1] * dt && t.values[i * nf + 3] === b.values[j * nf + 3] && t.values[i * nf + 4] === b.values[j * nf + 4];
    if (!same) changed++;
  }
  return changed + (b.count - seen);
}

async function measure(players: number, npcs: number, warmupSec: number, seconds: number, decoding: number): Promise<Point> {
  const server = await ServerProcess.start({ root: REPO_ROOT, webrtc: false, npcs, roomCapacity: Math.max(64, players) });
  const { url, pid } = server;
  try {
    const schema = compileSchema(arena);
    const io = nodeClientIO({ webrtc: false });
    const conns: Connection[] = [];
    const snapBytes = new Float64Array(players);
    const sampled = Math.min(players, Math.max(1, decoding));
    const prevFrames = Array.from({ length: sampled }, () => ({ tick: -1, frame: undefined as SnapshotFrame | undefined }));
    let changedSum = 0;
    let sampledSnapBytes = 0;
    let measuring = false;
    for (let i = 0; i < players; i++) {
      const Kind = i < sampled ? Connection : ThinConnection;
      const c = new Kind(arena, io, { url, name: `e2e-${i}`, transport: 'ws' }, {
        onSnapshot(frame) {
          if (i >= sampled || !frame.complete) return;
          const p = prevFrames[i];
          if (measuring && p.frame && p.tick >= 0 && frame.tick > p.tick) changedSum += changedEntities(p.frame, frame);
          if (!p.frame) p.frame = new (frame.constructor as new (s: typeof schema, cap: number) => SnapshotFrame)(schema, frame.capacity);
          p.frame.copyFrom(frame);
          p.tick = frame.tick;
        },
      });
      const onBytes = c.onBytes.bind(c);
      c.onBytes = (bytes: Uint8Array): void => {
        if (bytes[0] === MsgType.Snapshot) {
          snapBytes[i] += bytes.length;
          if (measuring && i < sampled) sampledSnapBytes += bytes.length;
        }
        onBytes(bytes);
      };
      c.connect();
      conns.push(c);
      if (i % 25 === 24) await sleep(250);
    }
    const deadline = Date.now() + 60_000;
    while (conns.some((c) => c.state !== 'active') && Date.now() < deadline) await sleep(50);
    if (conns.some((c) => c.state !== 'active')) throw new Error(`only ${conns.filter((c) => c.state === 'active').length}/${players} clients connected`);
    // arena-v1 bots: a new random input (8 directions or idle) every 250..750 ms, sent at 60 Hz.
    const rngs = conns.map((_, i) => new Rng(deriveSeed(1, i)));
    const dirs = new Int32Array(players);
    const nextChange = new Float64Array(players);
    const input = { dir: 0 };
    const t0 = performance.now();
    const welcomeTick = conns[0].welcome?.tick ?? 0;
    const timer = setInterval(() => {
      const now = performance.now();
      const tick = welcomeTick + Math.floor(((now - t0) / 1000) * 60);
      for (let i = 0; i < players; i++) {
        if (now >= nextChange[i]) {
          dirs[i] = rngs[i].int(9);
          nextChange[i] = now + 250 + rngs[i].int(501);
        }
        input.dir = dirs[i];
        conns[i].sendInput(input, tick);
      }
    }, 1000 / 60);
    await sleep(warmupSec * 1000);
    const bytes0 = conns.map((c) => c.counters.bytesDown);
    const snap0 = Array.from(snapBytes);
    const completedOf = (c: Connection): number => (c instanceof ThinConnection ? c.counters.snapshots : (c.receiver?.counters.completed ?? 0));
    const count0 = conns.map(completedOf);
    const stat0 = readProcSample(pid);
    const snaps0 = await snapshotCounters(url);
    const w0 = performance.now();
    measuring = true;
    await sleep(seconds * 1000);
    measuring = false;
    const wallSec = (performance.now() - w0) / 1000;
    const stat1 = readProcSample(pid);
    const snaps1 = await snapshotCounters(url);
    clearInterval(timer);
    const down = conns.reduce((a, c, i) => a + c.counters.bytesDown - bytes0[i], 0);
    const snap = conns.reduce((a, _c, i) => a + snapBytes[i] - snap0[i], 0);
    const completed = conns.reduce((a, c, i) => a + completedOf(c) - count0[i], 0);
    const clientErrors = conns.reduce((a, c) => a + c.counters.decodeErrors + (c.receiver?.counters.missingBaseline ?? 0), 0);
    for (const c of conns) c.close();
    return {
      players, npcs, seconds: round(wallSec, 2),
      bytesPerClientPerSec: Math.round(down / players / wallSec),
      snapshotBytesPerClientPerSec: Math.round(snap / players / wallSec),
      bytesPerChangedEntity: round(sampledSnapBytes / Math.max(1, changedSum), 2),
      snapshotsPerClientPerSec: round(completed / players / wallSec, 2),
      serverCpuCores: round(cpuCoresUsed(stat0, stat1), 3),
      serverRssMb: round((stat1.status.vmHwmKiB * 1024) / 1e6, 1),
      fullSnapshots: snaps1.full - snaps0.full, deltaSnapshots: snaps1.delta - snaps0.delta,
      fullReasons: Object.fromEntries(Object.entries(snaps1.reasons).map(([k, v]) => [k, v - (snaps0.reasons[k] ?? 0)]).filter(([, v]) => (v as number) > 0)),
      clientErrors,
    };
  } finally {
    await server.stop();
  }
}

function round(v: number, d: number): number {
  const m = 10 ** d;
  return Math.round(v * m) / m;
}

function markdown(points: Point[], date: string): string {
  return [
    '# Snapshot figures end to end (WebSocket, child-process server)',
    '',
    `${date}, Node ${process.versions.node}, ${cpus().length} cores, load ${round(loadavg()[0], 2)}; clients in one Node process (4 decode every snapshot, the rest are thin clients acking from the headers), server in its own process. Shared machine: CPU figures are noisy.`,
    '',
    'Command: `npx tsx bench/codec-e2e.ts' + (points.length > 1 ? ' --sweep' : '') + '` (5 s warm-up, 20 s measured per point).',
    '',
    '| players | NPCs | B/s per client (all) | snapshot B/s per client | B per changed entity | snapshots/s | server CPU cores | server RSS MB | full | delta | client errors |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...points.map((p) => `| ${p.players} | ${p.npcs} | ${p.bytesPerClientPerSec} | ${p.snapshotBytesPerClientPerSec} | ${p.bytesPerChangedEntity} | ${p.snapshotsPerClientPerSec} | ${p.serverCpuCores} | ${p.serverRssMb} | ${p.fullSnapshots} | ${p.deltaSnapshots} | ${p.clientErrors} |`),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      players: { type: 'string', default: '50' }, npcs: { type: 'string', default: '500' }, warmup: { type: 'string', default: '5' },
      seconds: { type: 'string', default: '20' }, sweep: { type: 'boolean', default: false },
      decode: { type: 'string', default: '4' },
    },
  });
  const points: [number, number][] = values.sweep
    ? [10, 50, 100, 200].flatMap((p) => [0, 500, 2000].map((n): [number, number] => [p, n]))
    : [[Number(values.players), Number(values.npcs)]];
  const results: Point[] = [];
  for (const [p, n] of points) {
    const r = await measure(p, n, Number(values.warmup), Number(values.seconds), Number(values.decode));
    results.push(r);
    console.log(`P=${p} N=${n}: ${r.bytesPerClientPerSec} B/s per client (snapshots ${r.snapshotBytesPerClientPerSec}), ${r.bytesPerChangedEntity} B/changed entity, ${r.snapshotsPerClientPerSec} snapshots/s, server ${r.serverCpuCores} cores, RSS ${r.serverRssMb} MB, full ${r.fullSnapshots} delta ${r.deltaSnapshots}, client errors ${r.clientErrors}`);
  }
  const date = new Date().toISOString();
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const name = values.sweep ? 'codec-e2e-sweep' : 'codec-e2e';
  const file = new URL(`${name}.json`, dir);
  if (existsSync(file)) {
    const prev = JSON.parse(readFileSync(file, 'utf8')) as { date: string; points: Point[] };
    console.log(`\nchange against ${prev.date}:`);
    for (const r of results) {
      const p = prev.points.find((x) => x.players === r.players && x.npcs === r.npcs);
      if (p) console.log(`  P=${r.players} N=${r.npcs}: ${p.bytesPerClientPerSec} -> ${r.bytesPerClientPerSec} B/s per client, server ${p.serverCpuCores} -> ${r.serverCpuCores} cores`);
    }
  }
  writeFileSync(file, JSON.stringify({ date, node: process.versions.node, cpus: cpus().length, points: results }, null, 2) + '\n');
  writeFileSync(new URL(`${name}.md`, dir), markdown(results, date));
  console.log(`stored ${file.pathname}`);
  process.exit(0);
}

void main();
