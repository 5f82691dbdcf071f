// Snapshot codec benchmark: bytes per entity (full and delta), encode and decode time per snapshot
// for 10 / 100 / 1000 / 5000 entities and 1 / 50 / 200 clients, the arena default point, and heap
// growth over 10,000 ticks. Stores bench/results/codec-bench.json (+ .md) and prints the change
// against the previously stored result. Run: npm run bench:codec (node --expose-gc).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { arena } from '../games/arena.ts';
import { makeNetConfig, type NetConfig } from '../shared/config.ts';
import { SnapshotReceiver } from '../netcode/receiver.ts';
import { defineGame, type AnyGame } from '../shared/sim/game.ts';
import { compileSchema, type NetSchema } from '../shared/protocol/schema.ts';
import { SNAPSHOT_ACK_NONE, SnapshotFrame } from '../shared/protocol/snapshot.ts';
import { Rng } from '../shared/sim/rng.ts';
import { Room } from '../server/rooms.ts';
import { Player } from '../server/player.ts';
import { DeltaSnapshotEncoder, newEncoderStats, type EncoderStats, type SnapshotClient } from '../server/snapshots.ts';
import { runTick } from '../server/tick.ts';

/** arena-v1 with room for 8192 entities (the 5000-entity case; arena itself stops at 4096). Bench only. */
const arenaBig: AnyGame = defineGame({
  ...arena,
  name: 'arena-v1-bench-8k',
  maxEntities: 8192,
  setup(ctx) {
    // arena's setup spawns at most 4000 NPCs per call; call it in chunks.
    let left = Math.floor(ctx.params.npcs ?? 500);
    while (left > 0) {
      const n = Math.min(4000, left);
      arena.setup?.({ ...ctx, params: { npcs: n } });
      left -= n;
    }
  },
});

/** One measured point. */
interface CaseResult {
  entities: number;
  clients: number;
  /** Full snapshot bytes (headers included) per entity. */
  fullBytesPerEntity: number;
  /** Packets of one full snapshot at the default 1200-byte MTU. */
  fullParts: number;
  /** Delta bytes (headers included) per entity per snapshot, baseline one snapshot back. */
  deltaBytesPerEntity: number;
  /** Delta bytes per entity whose state differed from its extrapolated baseline. */
  deltaBytesPerChangedEntity: number;
  /** Changed entities per snapshot, share of all. */
  changedShare: number;
  /** Server encode time per snapshot tick for all clients (sections + per-client headers), microseconds. */
  encodeUsPerSnapshot: number;
  /** Entity sections encoded per snapshot tick (distinct baselines). */
  sectionsPerSnapshot: number;
  /** Full-snapshot encode time (one section), microseconds. */
  fullEncodeUs: number;
  /** Client decode time of one delta snapshot, microseconds. */
  decodeDeltaUs: number;
  /** Client decode time of one full snapshot, microseconds. */
  decodeFullUs: number;
}

interface Results {
  date: string;
  node: string;
  cpus: number;
  loadavg1m: number;
  note: string;
  cases: CaseResult[];
  arenaDefault: { players: number; npcs: number; bytesPerClientPerSec: number; bytesPerSnapshot: number; serverMsPerTick: number; fullSnapshots: number; deltaSnapshots: number };
  heap: { ticks: number; entities: number; clients: number; beforeBytes: number; afterBytes: number; growthBytes: number; growthBytesPerTick: number };
}

const TICKS_PER_SNAPSHOT = 3;

/** Counts entities of `t` that a delta against `b` must describe (anything but steady extrapolation). */
function changedEntities(schema: NetSchema, b: SnapshotFrame, t: SnapshotFrame): number {
  const nf = t.fieldCount;
  const nr = t.rateCount;
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
    let same = t.masks[i] === b.masks[j];
    for (let r = 0; same && r < nr; r++) if (t.rates[i * nr + r] !== b.rates[j * nr + r]) same = false;
    for (let f = 0; same && f < nf; f++) {
      const r = schema.fields[f].q.kind === 'fixed' ? f - 1 : -1; // arena: x, y are fields 1, 2 and rates 0, 1
      const pred = r >= 0 && r < nr ? b.values[j * nf + f] + b.rates[j * nr + r] * dt : b.values[j * nf + f];
      if (t.values[i * nf + f] !== pred) same = false;
    }
    if (!same) changed++;
  }
  return changed + (b.count - seen);
}

/** Runs one (entities, clients) point: NPC-only world, observers acking one or two snapshots late. */
function runCase(entities: number, clients: number, snapshots: number): CaseResult {
  const game = entities > 4000 ? arenaBig : arena;
  const schema = compileSchema(game);
  const net: NetConfig = makeNetConfig({});
  const stats = newEncoderStats();
  const room = new Room('bench', game, schema, net, 1, 1, { npcs: entities }, (s, n, st) => new DeltaSnapshotEncoder(s, n, st), 0, stats);
  const host = { drainNetEvents: () => undefined, rooms: [room] };
  const encoder = room.encoder;
  const rx = new SnapshotReceiver(schema, TICKS_PER_SNAPSHOT);
  const observers: (SnapshotClient & { lag: number; bytes: number })[] = Array.from({ length: clients }, (_, i) => ({ ackedTick: -1, ackedBits: 0, inputAck: 0, hasInputAck: false, lag: i % 4 === 3 ? 2 : 1, bytes: 0 }));
  let decodeUs = 0;
  let decodes = 0;
  const sendTo = observers.map((o, i) => (bytes: Uint8Array): void => {
    o.bytes += bytes.length;
    if (i === 0) {
      const t0 = performance.now();
      rx.receive(bytes);
      decodeUs += (performance.now() - t0) * 1000;
      decodes++;
    }
  });
  const sentTicks: number[] = [];
  // Warm up: 3 s of simulation, clients joined and acking.
  let encodeUs = 0;
  let sections = 0;
  let deltaBytes = 0;
  let changed = 0;
  let measured = 0;
  const prev = new SnapshotFrame(schema);
  const warmSnapshots = 60;
  for (let s = 0; s < warmSnapshots + snapshots; s++) {
    for (let t = 0; t < TICKS_PER_SNAPSHOT; t++) runTick(host);
    const frame = room.history.latest() as SnapshotFrame;
    // Acks arrive `lag` snapshots after the snapshot they acknowledge.
    for (let i = 0; i < clients; i++) {
      const o = observers[i];
      const k = sentTicks.length - o.lag;
      if (i === 0) {
        const ack = rx.ack();
        const tick = (ack[1] | (ack[2] << 8) | (ack[3] << 16) | (ack[4] << 24)) >>> 0;
        if (tick !== SNAPSHOT_ACK_NONE) o.ackedTick = tick;
      } else if (k >= 0) o.ackedTick = sentTicks[k];
    }
    const before = stats.bodiesEncoded;
    const bytesBefore = observers[1 % clients].bytes;
    decodeUs = 0;
    decodes = 0;
    const t0 = performance.now();
    for (let i = 0; i < clients; i++) encoder.encodeFor(observers[i], sendTo[i]);
    const us = (performance.now() - t0) * 1000 - decodeUs;
    sentTicks.push(frame.tick);
    if (s >= warmSnapshots) {
      encodeUs += us;
      sections += stats.bodiesEncoded - before;
      const o = observers[1 % clients];
      deltaBytes += o.bytes - bytesBefore;
      changed += changedEntities(schema, prev, frame);
      measured++;
    }
    prev.copyFrom(frame);
  }
  const deltaDecodeUs = decodeUs / Math.max(1, decodes);
  // Full snapshots: encode (one section) and decode.
  const frame = room.history.latest() as SnapshotFrame;
  const fullStats: EncoderStats = newEncoderStats();
  const fullEnc = new DeltaSnapshotEncoder(schema, net, fullStats);
  const fresh: SnapshotClient = { ackedTick: -1, ackedBits: 0, inputAck: 0, hasInputAck: false };
  const packets: Uint8Array[] = [];
  const reps = entities >= 1000 ? 20 : 200;
  let fullUs = 0;
  for (let r = 0; r < reps; r++) {
    fullEnc.begin(frame, room.history);
    packets.length = 0;
    const t0 = performance.now();
    fullEnc.encodeFor(fresh, (b) => packets.push(b.slice()));
    fullUs += (performance.now() - t0) * 1000;
  }
  const fullBytes = packets.reduce((a, b) => a + b.length, 0);
  let fullDecodeUs = 0;
  for (let r = 0; r < reps; r++) {
    const fresh2 = new SnapshotReceiver(schema, TICKS_PER_SNAPSHOT);
    const t0 = performance.now();
    for (const p of packets) fresh2.receive(p);
    fullDecodeUs += (performance.now() - t0) * 1000;
  }
  // The measured observer's stream includes its first full snapshot only during warm-up.
  return {
    entities: frame.count,
    clients,
    fullBytesPerEntity: round(fullBytes / frame.count, 3),
    fullParts: packets.length,
    deltaBytesPerEntity: round(deltaBytes / measured / frame.count, 4),
    deltaBytesPerChangedEntity: round(deltaBytes / Math.max(1, changed), 2),
    changedShare: round(changed / measured / frame.count, 4),
    encodeUsPerSnapshot: round(encodeUs / measured, 1),
    sectionsPerSnapshot: round(sections / measured, 2),
    fullEncodeUs: round(fullUs / reps, 1),
    decodeDeltaUs: round(deltaDecodeUs, 1),
    decodeFullUs: round(fullDecodeUs / reps, 1),
  };
}

/** Players driven by arena-v1 bot inputs (new random direction every 250..750 ms), each acking after one snapshot. */
function arenaRoom(players: number, npcs: number, rx: SnapshotReceiver | undefined) {
  const schema = compileSchema(arena);
  const net = makeNetConfig({});
  const stats = newEncoderStats();
  const room = new Room('bench', arena, schema, net, Math.max(1, players), 1, { npcs }, (s, n, st) => new DeltaSnapshotEncoder(s, n, st), 0, stats);
  const rng = new Rng(7);
  const value = new Uint32Array(1);
  const bots = Array.from({ length: players }, (_, i) => {
    const s = new Player(i + 1, `bot-${i + 1}`, 1, 8);
    room.addPlayer(s);
    const bot = { s, dir: 0, nextChangeTick: 0, seq: 0, bytes: 0 };
    s.send = (bytes: Uint8Array): void => {
      bot.bytes += bytes.length;
      if (i === 0 && rx) {
        rx.receive(bytes);
        const a = rx.ack();
        const tick = (a[1] | (a[2] << 8) | (a[3] << 16) | (a[4] << 24)) >>> 0;
        if (tick !== SNAPSHOT_ACK_NONE && tick > s.ackedTick) {
          s.ackedTick = tick;
          s.ackedBits = (a[5] | (a[6] << 8) | (a[7] << 16) | (a[8] << 24)) >>> 0;
        }
      } else {
        // Acks what it got, as a client on a fast link does before the next snapshot.
        const tick = (bytes[2] | (bytes[3] << 8) | (bytes[4] << 16) | (bytes[5] << 24)) >>> 0;
        if (tick > s.ackedTick && bytes[8] === bytes[9] - 1) s.ackedTick = tick;
      }
    };
    return bot;
  });
  const host = { drainNetEvents: () => undefined, rooms: [room] };
  const tick = (t: number): void => {
    for (let i = 0; i < bots.length; i++) {
      const b = bots[i];
      if (t >= b.nextChangeTick) {
        b.dir = rng.int(9);
        b.nextChangeTick = t + 15 + rng.int(31);
      }
      value[0] = b.dir;
      b.s.inputs.offer(b.seq, value, 0);
      b.seq = (b.seq + 1) & 0xffff;
    }
    runTick(host);
  };
  return { room, bots, tick, stats, schema };
}

function arenaDefault(): Results['arenaDefault'] {
  const rx = new SnapshotReceiver(compileSchema(arena), TICKS_PER_SNAPSHOT);
  const { bots, tick, stats } = arenaRoom(50, 500, rx);
  const warm = 300;
  const ticks = 1800;
  let t = 0;
  for (; t < warm; t++) tick(t);
  const b0 = bots.map((b) => b.bytes);
  const s0 = { ...stats };
  const t0 = performance.now();
  for (; t < warm + ticks; t++) tick(t);
  const ms = performance.now() - t0;
  const secs = ticks / 60;
  const perClient = bots.reduce((a, b, i) => a + (b.bytes - b0[i]), 0) / bots.length / secs;
  return {
    players: 50, npcs: 500, bytesPerClientPerSec: Math.round(perClient), bytesPerSnapshot: round(perClient / 20, 1), serverMsPerTick: round(ms / ticks, 3),
    fullSnapshots: stats.fullSnapshots - s0.fullSnapshots, deltaSnapshots: stats.deltaSnapshots - s0.deltaSnapshots,
  };
}

function heapGrowth(): Results['heap'] {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc (npm run bench:codec)');
  const rx = new SnapshotReceiver(compileSchema(arena), TICKS_PER_SNAPSHOT);
  const { tick, room } = arenaRoom(50, 500, rx);
  let t = 0;
  for (; t < 1000; t++) tick(t);
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const ticks = 10_000;
  for (; t < 1000 + ticks; t++) tick(t);
  gc();
  gc();
  const after = process.memoryUsage().heapUsed;
  return { ticks, entities: room.replicated().length, clients: 50, beforeBytes: before, afterBytes: after, growthBytes: after - before, growthBytesPerTick: round((after - before) / ticks, 2) };
}

function round(v: number, digits: number): number {
  const m = 10 ** digits;
  return Math.round(v * m) / m;
}

function pct(a: number, b: number): string {
  if (a === 0) return b === 0 ? '=' : 'new';
  const d = ((b - a) / Math.abs(a)) * 100;
  return `${d >= 0 ? '+' : ''}${d.toFixed(1)}%`;
}

function markdown(r: Results): string {
  const lines = [
    '# Snapshot codec benchmark',
    '',
    `${r.date}, Node ${r.node}, ${r.cpus} cores, load ${r.loadavg1m}. ${r.note}`,
    '',
    '| entities | clients | full B/entity | full parts | delta B/entity | delta B/changed entity | changed share | encode us/snapshot (all clients) | sections/snapshot | full encode us | decode delta us | decode full us |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.cases.map((c) => `| ${c.entities} | ${c.clients} | ${c.fullBytesPerEntity} | ${c.fullParts} | ${c.deltaBytesPerEntity} | ${c.deltaBytesPerChangedEntity} | ${c.changedShare} | ${c.encodeUsPerSnapshot} | ${c.sectionsPerSnapshot} | ${c.fullEncodeUs} | ${c.decodeDeltaUs} | ${c.decodeFullUs} |`),
    '',
    `arena-v1 default point, simulated in-process (${r.arenaDefault.players} players with bot inputs, ${r.arenaDefault.npcs} NPCs, acks before the next snapshot): ` +
      `${r.arenaDefault.bytesPerClientPerSec} B/s per client (${r.arenaDefault.bytesPerSnapshot} B per snapshot), ${r.arenaDefault.serverMsPerTick} ms per tick (simulation + capture + encode for 50 + one client decode), ` +
      `${r.arenaDefault.fullSnapshots} full / ${r.arenaDefault.deltaSnapshots} delta snapshots after warm-up.`,
    '',
    `Heap after ${r.heap.ticks} ticks (${r.heap.entities} entities, ${r.heap.clients} clients, after gc): ${r.heap.growthBytes} bytes growth (${r.heap.growthBytesPerTick} B/tick).`,
    '',
  ];
  return lines.join('\n');
}

function compare(prev: Results, cur: Results): void {
  console.log(`\nchange against the stored result of ${prev.date}:`);
  const keys: (keyof CaseResult)[] = ['fullBytesPerEntity', 'deltaBytesPerEntity', 'deltaBytesPerChangedEntity', 'encodeUsPerSnapshot', 'decodeDeltaUs', 'decodeFullUs'];
  for (const c of cur.cases) {
    const p = prev.cases.find((x) => x.clients === c.clients && Math.abs(x.entities - c.entities) <= c.entities * 0.1 + 5);
    if (!p) continue;
    console.log(`  ${c.entities} entities x ${c.clients} clients: ` + keys.map((k) => `${k} ${p[k]} -> ${c[k]} (${pct(p[k], c[k])})`).join(', '));
  }
  const a = prev.arenaDefault;
  const b = cur.arenaDefault;
  console.log(`  arena default: ${a.bytesPerClientPerSec} -> ${b.bytesPerClientPerSec} B/s per client (${pct(a.bytesPerClientPerSec, b.bytesPerClientPerSec)}), ${a.serverMsPerTick} -> ${b.serverMsPerTick} ms/tick (${pct(a.serverMsPerTick, b.serverMsPerTick)})`);
  console.log(`  heap growth: ${prev.heap.growthBytes} -> ${cur.heap.growthBytes} bytes over ${cur.heap.ticks} ticks`);
}

function main(): void {
  const quick = process.argv.includes('--quick');
  const entityCounts = quick ? [10, 1000] : [10, 100, 1000, 5000];
  const clientCounts = quick ? [1, 50] : [1, 50, 200];
  const cases: CaseResult[] = [];
  for (const n of entityCounts) {
    for (const c of clientCounts) {
      const r = runCase(n, c, n >= 5000 ? 60 : 150);
      cases.push(r);
      console.log(`${String(r.entities).padStart(5)} entities ${String(c).padStart(3)} clients: full ${r.fullBytesPerEntity} B/entity (${r.fullParts} parts), delta ${r.deltaBytesPerEntity} B/entity, ${r.deltaBytesPerChangedEntity} B/changed entity (${(r.changedShare * 100).toFixed(1)}% changed); encode ${r.encodeUsPerSnapshot} us/snapshot (${r.sectionsPerSnapshot} sections), full encode ${r.fullEncodeUs} us; decode delta ${r.decodeDeltaUs} us, full ${r.decodeFullUs} us`);
    }
  }
  const ad = arenaDefault();
  console.log(`arena default (50 players, 500 NPCs, in-process): ${ad.bytesPerClientPerSec} B/s per client, ${ad.bytesPerSnapshot} B/snapshot, ${ad.serverMsPerTick} ms/tick`);
  const heap = heapGrowth();
  console.log(`heap growth over ${heap.ticks} ticks: ${heap.growthBytes} bytes (${heap.growthBytesPerTick} B/tick)`);
  const results: Results = {
    date: new Date().toISOString(), node: process.versions.node, cpus: cpus().length, loadavg1m: round(loadavg()[0], 2),
    note: 'Times are from a shared 2-core machine with other work running: treat them as noisy; byte counts are exact and repeatable (seeded).',
    cases, arenaDefault: ad, heap,
  };
  const dir = new URL('./results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  const file = new URL(quick ? 'codec-bench-quick.json' : 'codec-bench.json', dir);
  if (existsSync(file)) compare(JSON.parse(readFileSync(file, 'utf8')) as Results, results);
  else console.log('\n(no stored result to compare with)');
  writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  writeFileSync(new URL(quick ? 'codec-bench-quick.md' : 'codec-bench.md', dir), markdown(results));
  console.log(`\nstored ${file.pathname}`);
}

main();
