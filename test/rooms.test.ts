// Rooms: capacity, matchmaking, named rooms, disposal after the grace period, seeded repeatability.
import { describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { orbit } from '../games/orbit.ts';
import { DEFAULT_NET_CONFIG } from '../shared/config.ts';
import { RejectCode } from '../shared/protocol/ids.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { RoomManager, Room } from '../server/rooms.ts';
import { Player } from '../server/player.ts';
import { FullSnapshotEncoder, newEncoderStats } from '../server/snapshots.ts';
import { runTick } from '../server/tick.ts';
import type { AnyGame } from '../shared/sim/game.ts';

function manager(game: AnyGame = arena, o: { capacity?: number; maxRooms?: number; graceMs?: number; npcs?: number } = {}): RoomManager {
  const schema = compileSchema(game);
  return new RoomManager({
    game, schema, net: DEFAULT_NET_CONFIG, capacity: o.capacity ?? 2, maxRooms: o.maxRooms ?? 3, emptyGraceMs: o.graceMs ?? 1000, seed: 1,
    params: { npcs: o.npcs ?? 10 }, encoderFactory: (s, _n, stats) => new FullSnapshotEncoder(s, stats), encoderStats: newEncoderStats(),
  });
}

let nextId = 1;
const session = (): Player => new Player(nextId, `p${nextId++}`, 1, 8);

describe('RoomManager', () => {
  it('matches players into the fullest room with space, then opens a new one', () => {
    const m = manager();
    const placed = [0, 1, 2].map(() => {
      const r = m.match(undefined, 0) as Room;
      r.addPlayer(session());
      return r.name;
    });
    expect(placed).toEqual(['arena-v1-1', 'arena-v1-1', 'arena-v1-2']);
    expect(m.size).toBe(2);
  });

  it('creates a named room on demand and refuses when it is full', () => {
    const m = manager();
    for (let i = 0; i < 2; i++) (m.match('lobby', 0) as Room).addPlayer(session());
    expect(m.match('lobby', 0)).toBe(RejectCode.RoomFull);
    expect(m.get('lobby')?.players.length).toBe(2);
  });

  it('refuses new rooms beyond maxRooms', () => {
    const m = manager(arena, { maxRooms: 1 });
    (m.match('a', 0) as Room).addPlayer(session());
    expect(m.match('b', 0)).toBe(RejectCode.ServerFull);
  });

  it('disposes a room empty for the grace period, not before, and not an occupied one', () => {
    const m = manager(arena, { graceMs: 1000 });
    const s = session();
    const r = m.match('x', 0) as Room;
    r.addPlayer(s);
    (m.match('y', 0) as Room).addPlayer(session());
    r.removePlayer(s, 5000);
    expect(m.disposeIdle(5999)).toEqual([]);
    expect(m.disposeIdle(6000)).toEqual(['x']);
    expect(m.get('x')).toBeUndefined();
    expect(m.get('y')).toBeDefined();
  });

  it('removing a player despawns its entity', () => {
    const m = manager();
    const r = m.match(undefined, 0) as Room;
    const s = session();
    const eid = r.addPlayer(s);
    expect(r.replicated()).toContain(eid);
    r.removePlayer(s, 0);
    expect(r.replicated()).not.toContain(eid);
    expect(s.eid).toBe(-1);
  });
});

describe('Room simulation', () => {
  const positions = (r: Room): number[] => {
    const out: number[] = [];
    for (const e of r.replicated()) out.push(e, r.ctx.c.Position.x[e], r.ctx.c.Position.y[e], r.ctx.c.Health.hp[e]);
    return out;
  };

  it('is repeatable for a seed: two rooms with the same seed evolve identically', () => {
    const a = manager(arena, { npcs: 50 });
    const b = manager(arena, { npcs: 50 });
    const ra = a.match(undefined, 0) as Room;
    const rb = b.match(undefined, 0) as Room;
    for (let i = 0; i < 600; i++) {
      runTick({ drainNetEvents: () => undefined, rooms: [ra] });
      runTick({ drainNetEvents: () => undefined, rooms: [rb] });
    }
    expect(ra.ctx.tick).toBe(600);
    expect(positions(ra)).toEqual(positions(rb));
  });

  it('arena-v1: NPCs stay in bounds, move at most 100 u/s, and hp changes about 2% per second', () => {
    const m = manager(arena, { npcs: 500 });
    const r = m.match(undefined, 0) as Room;
    const { Position: p, Health: h } = r.ctx.c;
    let hpChanges = 0;
    let maxStep = 0;
    let minCoord = Infinity;
    let maxCoord = -Infinity;
    for (let i = 0; i < 600; i++) {
      const before = r.replicated().map((e) => [p.x[e], p.y[e], h.hp[e]]);
      runTick({ drainNetEvents: () => undefined, rooms: [r] });
      r.replicated().forEach((e, k) => {
        minCoord = Math.min(minCoord, p.x[e], p.y[e]);
        maxCoord = Math.max(maxCoord, p.x[e], p.y[e]);
        maxStep = Math.max(maxStep, Math.hypot(p.x[e] - before[k][0], p.y[e] - before[k][1]));
        if (h.hp[e] !== before[k][2]) hpChanges++;
      });
    }
    expect(minCoord).toBeGreaterThanOrEqual(0);
    expect(maxCoord).toBeLessThanOrEqual(2048);
    // 100 u/s at 60 Hz, plus at most one 1/16 grid step of snapping per axis.
    expect(maxStep).toBeLessThanOrEqual(100 / 60 + Math.SQRT2 / 32);
    expect(maxStep).toBeGreaterThan(1.5);
    // 10 seconds x 2% of 500 = 100 picks (a few land on the same value or entity).
    expect(hpChanges).toBeGreaterThan(80);
    expect(hpChanges).toBeLessThanOrEqual(100);
  });

  it('hosts a second game through the same API', () => {
    const m = manager(orbit);
    const r = m.match(undefined, 0) as Room;
    const s = session();
    const eid = r.addPlayer(s);
    expect(r.replicated()).toEqual([eid]);
    runTick({ drainNetEvents: () => undefined, rooms: [r] });
    expect(r.ctx.tick).toBe(1);
  });
});
