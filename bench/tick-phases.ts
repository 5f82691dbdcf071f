// What each phase of the arena-v1 tick costs, in process (`node --import tsx bench/tick-phases.ts
// [--seconds S] [--json] [--save [--out NAME.json]]`; --save writes bench/results/NAME.json,
// default tick-phases.json): one arena-v1 room (50 players on bot inputs acknowledging every
// snapshot, 500 NPCs, seed 1), the pipeline of server/tick.ts run phase by phase with each
// phase's time summed (applying inputs, the systems, snapping to the grid, the rates before a
// snapshot tick, the snapshot capture and encode), per simulated second, as this process's CPU
// time (process.cpuUsage around each phase: a loaded machine's waits do not count). No sockets: the
// transport's share is the socket benchmark's (`npm run bench`). Bounded in ticks.
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { arena } from '../games/arena.ts';
import { makeNetConfig } from '../shared/config.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { Rng } from '../shared/sim/rng.ts';
import { Player } from '../server/player.ts';
import { Room } from '../server/rooms.ts';
import { DeltaSnapshotEncoder, newEncoderStats } from '../server/snapshots.ts';
import { applyInputs, captureRates, runSystems, sendSnapshots, snapState } from '../server/tick.ts';
import { commitId, machineInfo } from '../tools/measure/report.ts';
import { save } from '../tools/measure/arena-bench.ts';
import { REPO_ROOT } from '../tools/bots/pool.ts';

const { values } = parseArgs({ args: process.argv.slice(2), options: { seconds: { type: 'string', default: '30' }, save: { type: 'boolean', default: false }, out: { type: 'string' }, json: { type: 'boolean', default: false } }, strict: true });
const seconds = Math.min(600, Math.max(5, Number(values.seconds) || 30));
if (values.out !== undefined && !/^[\w.-]+\.json$/.test(values.out)) throw new Error('--out must be a file name ending in .json');
const PLAYERS = 50;
const NPCS = 500;
const net = makeNetConfig({});
const schema = compileSchema(arena);
const room = new Room('phases', arena, schema, net, PLAYERS, 1, { npcs: NPCS }, (s, n, st) => new DeltaSnapshotEncoder(s, n, st), 0, newEncoderStats());
const rng = new Rng(7);
const value = new Uint32Array(1);
let bytesOut = 0;
const bots = Array.from({ length: PLAYERS }, (_, i) => {
  const p = new Player(i + 1, `bot-${i + 1}`, 1, 8);
  room.addPlayer(p);
  p.send = (bytes: Uint8Array): void => {
    bytesOut += bytes.length;
    // acks what it got, as a client on a fast link does before the next snapshot
    const tick = (bytes[2] | (bytes[3] << 8) | (bytes[4] << 16) | (bytes[5] << 24)) >>> 0;
    if (tick > p.ackedTick && bytes[8] === bytes[9] - 1) p.ackedTick = tick;
  };
  return { p, dir: 0, next: 0, seq: 0 };
});

const PHASES = ['applyInputs', 'systems', 'snapState', 'captureRates', 'snapshots'] as const;
/** CPU time of this process so far, ms. */
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const ms: Record<(typeof PHASES)[number], number> = { applyInputs: 0, systems: 0, snapState: 0, captureRates: 0, snapshots: 0 };
let t = 0;
/** One tick of runTick's pipeline (no inbox, no game events in arena-v1), phase by phase. */
function tick(timed: boolean): void {
  for (const b of bots) {
    if (t >= b.next) {
      b.dir = rng.int(9);
      b.next = t + 15 + rng.int(31);
    }
    value[0] = b.dir;
    b.p.inputs.offer(b.seq, value, 0);
    b.seq = (b.seq + 1) & 0xffff;
  }
  const t0 = cpuMs();
  applyInputs(room);
  const t1 = cpuMs();
  runSystems(room);
  const t2 = cpuMs();
  snapState(room);
  const t3 = cpuMs();
  room.ctx.tick++;
  let t4 = t3;
  let t5 = t3;
  if (room.ctx.tick % room.snapshotEvery === 0) {
    sendSnapshots(room);
    t5 = cpuMs();
  } else if ((room.ctx.tick + 1) % room.snapshotEvery === 0) {
    captureRates(room);
    t4 = cpuMs();
  }
  if (timed) {
    ms.applyInputs += t1 - t0;
    ms.systems += t2 - t1;
    ms.snapState += t3 - t2;
    ms.captureRates += t4 - t3;
    ms.snapshots += t5 - t3 - (t4 - t3);
  }
  t++;
}

const load0 = loadavg()[0];
for (let i = 0; i < 10 * 60; i++) tick(false);
const bytes0 = bytesOut;
const c0 = process.cpuUsage();
for (let i = 0; i < seconds * 60; i++) tick(true);
const c = process.cpuUsage(c0);
const perSec = (v: number): number => Math.round((v / seconds) * 100) / 100;
const r = {
  scenario: 'arena-v1 in process (tick phases)', players: PLAYERS, npcs: NPCS, entities: room.replicated().length, seconds, ticks: seconds * 60,
  msPerSimSecond: Object.fromEntries(PHASES.map((p) => [p, perSec(ms[p])])),
  totalMsPerSimSecond: perSec(PHASES.reduce((a, p) => a + ms[p], 0)),
  cpuMsPerSimSecond: perSec((c.user + c.system) / 1000),
  downBytesPerClientPerSec: Math.round((bytesOut - bytes0) / PLAYERS / seconds),
  loadAverage1m: { start: load0, end: loadavg()[0] }, commit: commitId(REPO_ROOT), machine: machineInfo(), at: new Date().toISOString(),
  command: `node --import tsx bench/tick-phases.ts ${process.argv.slice(2).join(' ')}`.trim(),
};
console.log(values.json ? JSON.stringify(r) : JSON.stringify(r, null, 2));
if (values.save) console.error(`wrote ${save(values.out ?? 'tick-phases.json', JSON.stringify(r, null, 2) + '\n')}`);
