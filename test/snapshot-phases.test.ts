// Staggered snapshot phases (rooms with views): each player's snapshots go out on its own tick
// phase, a third of the players each tick at 60 / 20 Hz. Every player still gets a snapshot every
// interval, phases are balanced, each tick sends to one phase only, what the server measures of a
// phased stream (send times, loss, round trips) is right, nothing starves and every frame decodes
// exactly under loss, duplication and reordering; rooms without views keep their snapshot ticks.
import { describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { arenaV2 } from '../games/arena-v2.ts';
import { Connection } from '../netcode/connection.ts';
import { loadServerConfig } from '../server/config.ts';
import { SnapshotHistory } from '../server/history.ts';
import { viewFrameMatches } from '../server/interest.ts';
import { LoopbackTransport, loopbackClientIO } from '../server/net/loopback.ts';
import { TickwireServer } from '../server/server.ts';
import { ClientLinkStats, SnapshotSendTimes } from '../server/snapshots.ts';
import { defaultLinkSettings, type LinkSettings } from '../shared/net/link-conditioner.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import { Rng } from '../shared/sim/rng.ts';

const EVERY = 3;

describe('phased streams: what the server measures', () => {
  it('remembers the send time of every tick, whatever its phase, for 64 snapshot intervals', () => {
    const s = new SnapshotSendTimes(EVERY);
    for (let t = 1; t <= 400; t++) s.record(t, t * 10);
    for (let t = 400 - 64 * EVERY + 1; t <= 400; t++) expect(s.sentMs(t)).toBe(t * 10);
    expect(s.sentMs(400 - 64 * EVERY)).toBe(-1);
    expect(s.sentMs(401)).toBe(-1);
    expect(s.sentMs(-3)).toBe(-1);
    expect(s.sentMs(Number.NaN)).toBe(-1);
  });

  it('counts loss on the ticks of the client phase, and ignores acks of other phases', () => {
    for (const phase of [0, 1, 2]) {
      const l = new ClientLinkStats();
      l.phase = phase;
      l.restart(7);
      const held: number[] = [];
      let sent = 0;
      for (let tick = 8; tick <= 400; tick++) {
        if (tick % EVERY !== phase) continue;
        sent++;
        // every fifth snapshot lost; the client acks the newest complete and the 32 before it
        if (sent % 5 !== 0) held.push(tick);
        const newest = held[held.length - 1];
        if (newest === undefined) continue;
        let bits = 0;
        for (let i = 0; i < 32; i++) if (held.includes(newest - (i + 1) * EVERY)) bits |= 1 << i;
        l.ack(newest, bits >>> 0, EVERY, tick);
        // an ack naming a tick of another phase is hostile or stale: ignored
        l.ack(newest + 1, 0, EVERY, tick + 1);
      }
      expect(l.settled).toBeGreaterThan(90);
      expect(l.lossShare()).toBeCloseTo(0.2, 1);
    }
  });

  it('finds each stored tick of a per-tick history in one probe, and none that left it', () => {
    const h = new SnapshotHistory(compileSchema(arenaV2), 12);
    for (let t = 1; t <= 100; t++) h.claim(t);
    for (let t = 89; t <= 100; t++) expect(h.get(t)?.tick).toBe(t);
    for (const t of [88, 50, 0, 101, -1, 2.5]) expect(h.get(t)).toBeUndefined();
    // ticks of a room with a snapshot every third tick
    const g = new SnapshotHistory(compileSchema(arenaV2), 5);
    for (let t = 3; t <= 300; t += 3) g.claim(t);
    for (let t = 288; t <= 300; t += 3) expect(g.get(t)?.tick).toBe(t);
    expect(g.get(285)).toBeUndefined();
  });
});

interface Run {
  /** Complete snapshot ticks each client decoded, in arrival order. */
  ticks: number[][];
  /** Players the server sent snapshots to, per tick after the joins, and the room tick of each. */
  sentPerTick: number[];
  roomTicks: number[];
  checked: number;
  bad: number;
  phases: number[];
  lost: number[];
  rttSamples: number[];
}

/** `n` clients in one room of `game` over the loopback (with `link`), run for `ticks` ticks. */
async function run(game: AnyGame, n: number, ticks: number, link: LinkSettings, params: Record<string, number>): Promise<Run> {
  let now = 0;
  const nowMs = (): number => now;
  const config = loadServerConfig({}, { webrtc: false, logLevel: 'silent', resumeGraceMs: 0, game: game.name, roomCapacity: 40, gameParams: params });
  const server = new TickwireServer(config, { game, clock: { nowMs }, autoTick: false });
  const transport = new LoopbackTransport({ reliable: true, manual: true, nowMs, link, lossyDatagrams: true });
  server.startInProcess(transport);
  const rng = new Rng(11);
  const out: Run = { ticks: [], sentPerTick: [], roomTicks: [], checked: 0, bad: 0, phases: [], lost: [], rttSamples: [] };
  const clients = Array.from({ length: n }, (_, i) => {
    const io = loopbackClientIO(transport, undefined, { nowMs, remoteAddress: `10.0.1.${i}` });
    const conn = new Connection(game, io, { url: 'http://loopback', name: `c${i}`, transport: 'ws' });
    const mine: number[] = [];
    out.ticks.push(mine);
    conn.events.onSnapshot = (frame) => {
      if (!frame.complete) return;
      mine.push(frame.tick);
      const room = server.rooms.list[0];
      const player = room?.players.find((p) => p.eid === conn.eid);
      if (!room || !player || !room.interest) return;
      const ok = viewFrameMatches(room.history, room.interest, player, frame);
      if (ok === undefined) return;
      out.checked++;
      if (!ok) out.bad++;
    };
    conn.connect();
    return { conn, dir: 0 };
  });
  for (let t = 0; t < ticks; t++) {
    now += 1000 / 60;
    const room = server.rooms.list[0];
    for (const c of clients) {
      if (t % 20 === 0) c.dir = rng.int(9);
      if (c.conn.state === 'active') c.conn.sendInput({ dir: c.dir }, (room?.ctx.tick ?? 0) + 1);
    }
    transport.pump();
    const before = server.stats.encoder.deltaSnapshots + server.stats.encoder.fullSnapshots;
    server.frame({ run: 1, skipped: 0 });
    if (t >= 120) {
      out.sentPerTick.push(server.stats.encoder.deltaSnapshots + server.stats.encoder.fullSnapshots - before);
      out.roomTicks.push(server.rooms.list[0].ctx.tick);
    }
    transport.pump();
    if (t % 60 === 0) await new Promise((r) => setImmediate(r));
  }
  const room = server.rooms.list[0];
  expect(room.players.length).toBe(n);
  for (const p of room.players) {
    out.phases.push(room.interest?.peek(p)?.phase ?? -1);
    out.lost.push(p.link.lossShare());
    out.rttSamples.push(p.link.rttSamples);
  }
  for (const c of clients) c.conn.close();
  transport.pump();
  await server.stop();
  return out;
}

describe('phased streams: the server', () => {
  it('sends each player a snapshot every third tick on its own phase, a third of the players each tick', async () => {
    const link = { ...defaultLinkSettings(), enabled: true, delayMs: 20 };
    const r = await run(arenaV2, 24, 60 * 6, link, { npcs: 300 });
    // balanced phases: 8 players each
    expect([0, 1, 2].map((p) => r.phases.filter((x) => x === p).length)).toEqual([8, 8, 8]);
    // after the joins every tick sends to one phase: 8 players
    expect(r.sentPerTick.length).toBeGreaterThan(200);
    expect(r.sentPerTick.every((k) => k === 8)).toBe(true);
    for (const ticks of r.ticks) {
      const late = ticks.filter((t) => t > 120);
      // 20 snapshots a second: one every third tick, all on one phase, none skipped
      expect(late.length).toBeGreaterThanOrEqual(((60 * 6 - 140) / EVERY) | 0);
      const phase = late[0] % EVERY;
      for (let i = 1; i < late.length; i++) {
        expect(late[i] % EVERY).toBe(phase);
        expect(late[i] - late[i - 1]).toBe(EVERY);
      }
    }
    expect(r.bad).toBe(0);
    expect(r.checked).toBeGreaterThan(24 * 60);
    // the server measures the phased streams: round trips, no loss on a clean link
    for (const x of r.rttSamples) expect(x).toBeGreaterThan(30);
    for (const x of r.lost) expect(x).toBe(0);
  });

  it('decodes every frame exactly and starves no player under loss, duplication and reordering', async () => {
    const link = { ...defaultLinkSettings(), enabled: true, delayMs: 30, jitterMs: 25, lossPct: 10, duplicatePct: 3, reorderPct: 10 };
    const r = await run(arenaV2, 15, 60 * 8, link, { npcs: 300 });
    expect(r.bad).toBe(0);
    expect(r.checked).toBeGreaterThan(15 * 80);
    for (const ticks of r.ticks) {
      const late = [...new Set(ticks.filter((t) => t > 120))].sort((a, b) => a - b);
      // about 20 a second less the 10% lost (and parts of split snapshots), never a long silence
      expect(late.length).toBeGreaterThan(((60 * 8 - 130) / EVERY) * 0.7);
      let gap = 0;
      for (let i = 1; i < late.length; i++) gap = Math.max(gap, late[i] - late[i - 1]);
      expect(gap).toBeLessThanOrEqual(8 * EVERY);
    }
    // measured loss near the link's 10% (a snapshot lost in any of its parts counts)
    const mean = r.lost.reduce((a, b) => a + b, 0) / r.lost.length;
    expect(mean).toBeGreaterThan(0.03);
    expect(mean).toBeLessThan(0.25);
  });

  it('keeps the snapshot ticks of rooms without views: every player on every third tick', async () => {
    const link = { ...defaultLinkSettings(), enabled: true, delayMs: 20 };
    const r = await run(arena, 6, 60 * 4, link, { npcs: 20 });
    expect(r.sentPerTick.length).toBeGreaterThan(100);
    for (let t = 0; t < r.sentPerTick.length; t++) expect(r.sentPerTick[t]).toBe(r.roomTicks[t] % EVERY === 0 ? 6 : 0);
    for (const ticks of r.ticks) for (const t of ticks) expect(t % EVERY).toBe(0);
  });
});
