// What recording a room costs the tick, in process and in CPU time (`node --expose-gc --import tsx
// bench/replay-cost.ts [--seconds S] [--game arena-v1|arena-v2] [--players N] [--npcs N] [--save]`):
// two identical rooms (arena-v1 by default: 50 players on bot inputs acknowledging every snapshot,
// 500 NPCs, the same seed; arena-v2: interest rules, the views' encoder, the recording a view of
// the whole world, 2000 NPCs by default), one recorded, ticked in
// alternating blocks of one second so the machine's load falls on both alike; the CPU time of
// each room's ticks (process.cpuUsage), the recorder's own capture time, the heap growth over the
// recorded run (after full collections), and the replay's bytes per minute. Bounded in ticks.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { arena } from '../games/arena.ts';
import { arenaV2 } from '../games/arena-v2.ts';
import { ViewSnapshotEncoder } from '../server/interest.ts';
import { configHash, makeNetConfig } from '../shared/config.ts';
import { parseReplay, summarizeReplay } from '../shared/protocol/replay.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { Rng } from '../shared/sim/rng.ts';
import { Player } from '../server/player.ts';
import { replayRecorders, newReplayStats } from '../server/replay-recorder.ts';
import { Room, type RoomRecorder } from '../server/rooms.ts';
import { DeltaSnapshotEncoder, newEncoderStats } from '../server/snapshots.ts';
import { runTick } from '../server/tick.ts';
import { machineInfo } from '../tools/measure/report.ts';
import { RESULTS_DIR, save } from '../tools/measure/arena-bench.ts';

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { seconds: { type: 'string', default: '60' }, save: { type: 'boolean', default: false }, game: { type: 'string', default: 'arena-v1' }, players: { type: 'string' }, npcs: { type: 'string' } },
  strict: true,
});
if (values.game !== 'arena-v1' && values.game !== 'arena-v2') throw new Error('--game is arena-v1 or arena-v2');
const v2 = values.game === 'arena-v2';
const game = v2 ? arenaV2 : arena;
const seconds = Math.min(600, Math.max(5, Number(values.seconds) || 60));
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc --import tsx bench/replay-cost.ts');

const PLAYERS = Math.min(1000, Math.max(1, Number(values.players ?? 50) || 50));
const NPCS = Math.min(4000, Math.max(0, Number(values.npcs ?? (v2 ? 2000 : 500)) || 0));
const net = makeNetConfig({});
const schema = compileSchema(game);
const dir = mkdtempSync(join(tmpdir(), 'tickwire-replay-cost-'));
const log = pino({ level: 'silent' });
const stats = newReplayStats();
const recorders = replayRecorders(true, { dir, keyframeSec: 10, maxBytes: 1 << 30 }, game, configHash(game), stats, log);

/** The recorder's capture, timed (CPU microseconds). */
let captureUs = 0;
let captures = 0;
function timed(rec: RoomRecorder): RoomRecorder {
  return {
    get name() {
      return rec.name;
    },
    get bytesOnDisk() {
      return rec.bytesOnDisk;
    },
    get state() {
      return rec.state;
    },
    capture(room) {
      const c0 = process.cpuUsage();
      rec.capture(room);
      const c = process.cpuUsage(c0);
      captureUs += c.user + c.system;
      captures++;
    },
    control: (tick, msg) => rec.control(tick, msg),
    finish: () => rec.finish(),
  };
}

function arenaRoom(recorded: boolean) {
  const room = new Room('cost', game, schema, net, PLAYERS, 1, { npcs: NPCS }, (s, n, st, i) => (i ? new ViewSnapshotEncoder(s, i, n, st) : new DeltaSnapshotEncoder(s, n, st)), 0, newEncoderStats(), undefined, undefined, undefined, v2 ? 4096 : 0);
  if (recorded) room.recorder = timed(recorders!(room)!);
  const rng = new Rng(7);
  const value = new Uint32Array(1);
  const bots = Array.from({ length: PLAYERS }, (_, i) => {
    const p = new Player(i + 1, `bot-${i + 1}`, 1, 8);
    room.addPlayer(p);
    p.send = (bytes: Uint8Array): void => {
      // acks what it got, as a client on a fast link does before the next snapshot
      const tick = (bytes[2] | (bytes[3] << 8) | (bytes[4] << 16) | (bytes[5] << 24)) >>> 0;
      if (tick > p.ackedTick && bytes[8] === bytes[9] - 1) p.ackedTick = tick;
    };
    return { p, dir: 0, next: 0, seq: 0 };
  });
  const host = { drainNetEvents: () => undefined, rooms: [room] };
  let t = 0;
  let cpuUs = 0;
  const tick = (): void => {
    for (const b of bots) {
      if (t >= b.next) {
        b.dir = rng.int(9);
        b.next = t + 15 + rng.int(31);
      }
      value[0] = b.dir;
      b.p.inputs.offer(b.seq, value, 0);
      b.seq = (b.seq + 1) & 0xffff;
    }
    const c0 = process.cpuUsage();
    runTick(host);
    const c = process.cpuUsage(c0);
    cpuUs += c.user + c.system;
    t++;
  };
  return { room, tick, cpu: () => cpuUs };
}

const yieldToIo = (): Promise<void> => new Promise((r) => setImmediate(r));

async function main(): Promise<void> {
  const load0 = loadavg()[0];
  const off = arenaRoom(false);
  const on = arenaRoom(true);
  const warm = 5 * 60;
  for (let i = 0; i < warm; i++) {
    off.tick();
    on.tick();
  }
  await yieldToIo();
  const off0 = off.cpu();
  const on0 = on.cpu();
  captureUs = 0;
  captures = 0;
  gc!();
  gc!();
  const heap0 = process.memoryUsage().heapUsed;
  for (let s = 0; s < seconds; s++) {
    // one second of each, in turn; the file writes get their turn between blocks
    for (let i = 0; i < 60; i++) off.tick();
    for (let i = 0; i < 60; i++) on.tick();
    await yieldToIo();
  }
  const offUs = off.cpu() - off0;
  const onUs = on.cpu() - on0;
  await on.room.recorder!.finish();
  gc!();
  gc!();
  const heap1 = process.memoryUsage().heapUsed;
  const file = readdirSync(dir).find((f) => f.endsWith('.twr'))!;
  const parsed = parseReplay(new Uint8Array(readFileSync(join(dir, file))));
  const sum = summarizeReplay(parsed);
  // with views the recorder is called every tick and records on its phase's ticks only
  const recorded = parsed.snapshotTicks.filter((t) => t > warm).length;
  rmSync(dir, { recursive: true, force: true });
  const ticks = seconds * 60;
  const r = {
    scenario: `${game.name} in process`, players: PLAYERS, npcs: NPCS, entities: on.room.replicated().length, seconds, ticks,
    tickCpuUsOff: Math.round((offUs / ticks) * 10) / 10, tickCpuUsOn: Math.round((onUs / ticks) * 10) / 10,
    recordingShareOfTick: Math.round(((onUs - offUs) / offUs) * 1000) / 10,
    captureUsPerSnapshot: Math.round((captureUs / captures) * 10) / 10, captures,
    captureUsPerRecordedSnapshot: Math.round((captureUs / Math.max(1, recorded)) * 10) / 10, recordedSnapshots: recorded,
    recorderCoresAt60Hz: Math.round(((captureUs / 1e6) / seconds) * 10000) / 10000,
    heapGrowthBytesWhileRecording: heap1 - heap0,
    replay: { bytes: sum.bytes, durationSec: sum.durationSec, bytesPerMinute: sum.bytesPerMinute, keyframes: sum.keyframes, bytesWritten: stats.bytesWritten },
    loadAverage1m: { start: Math.round(load0 * 100) / 100, end: Math.round(loadavg()[0] * 100) / 100 }, machine: machineInfo(), at: new Date().toISOString(),
    command: `node --expose-gc --import tsx bench/replay-cost.ts ${process.argv.slice(2).join(' ')}`.trim(),
  };
  console.log(JSON.stringify(r, null, 2));
  if (values.save) console.error(`wrote ${save(v2 ? `replay-cost-arena-v2-p${PLAYERS}-n${NPCS}.json` : 'replay-cost.json', JSON.stringify(r, null, 2) + '\n')} (${RESULTS_DIR})`);
}

void main();
