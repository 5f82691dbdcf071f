// Rooms saved at a tick boundary and restored in a fresh room (server/room-state.ts): the restored
// room saves to the same bytes, plays on exactly like the original, refuses another game or version,
// and a game with state outside its stores is caught unless it declares it (game.state).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { orbit } from '../games/orbit.ts';
import { tag } from '../games/tag.ts';
import { DEFAULT_NET_CONFIG } from '../shared/config.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { defineGame, type AnyGame } from '../shared/sim/game.ts';
import { Player } from '../server/player.ts';
import { restoreRoom, readRoomHeader, roomStateProblems, RoomStateError, saveRoom } from '../server/room-state.ts';
import { Room } from '../server/rooms.ts';
import { FullSnapshotEncoder, newEncoderStats } from '../server/snapshots.ts';
import { snapState, runSystems } from '../server/tick.ts';

function makeRoom(game: AnyGame, seed: number, players: number, params: Record<string, number> = { npcs: 30 }): Room {
  const schema = compileSchema(game);
  const room = new Room('r', game, schema, DEFAULT_NET_CONFIG, 16, seed, params, (s, _n, st) => new FullSnapshotEncoder(s, st), 0, newEncoderStats());
  for (let i = 0; i < players; i++) room.addPlayer(new Player(i + 1, `p${i + 1}`, schema.inputFields.length, 8));
  return room;
}

/** One tick as the server runs it, with each player's input drawn from `inputs` (any integers). */
function step(room: Room, inputs: readonly number[]): void {
  const fields = room.schema.inputFields;
  for (let p = 0; p < room.players.length; p++) {
    for (let f = 0; f < fields.length; f++) room.input[fields[f].name] = fields[f].q.dequantize((inputs[p] ?? 0) % (fields[f].q.maxQ + 1));
    room.game.stepPlayer(room.ctx.c, room.players[p].eid, room.input, room.ctx.dtSec);
  }
  runSystems(room);
  room.events.length = 0;
  snapState(room);
  room.ctx.tick++;
}

/** A fresh room for restoring into, seated with the saved room's players. */
function freshFor(game: AnyGame, seed: number, params?: Record<string, number>): (saved: Uint8Array) => Room {
  return (saved) => {
    const room = makeRoom(game, seed + 1, 0, params);
    const h = restoreRoom(saved, room);
    for (const p of h.players) room.adoptPlayer(new Player(p.id, p.name, room.schema.inputFields.length, 8), p.eid);
    return room;
  };
}

describe('saved rooms', () => {
  for (const game of [arena, tag, orbit] as AnyGame[]) {
    it(`${game.name}: restore(save(room)) equals the room at any tick, and plays on identically`, () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 240 }), fc.integer({ min: 0, max: 4 }), fc.integer({ min: 1, max: 1000 }), (ticks, players, seed) => {
          const original = makeRoom(game, seed, players);
          const restoreInto = freshFor(game, seed);
          let copy: Room | undefined;
          const problems = roomStateProblems(original, () => {
            copy = restoreInto(saveRoom(original));
            return copy;
          }, { ticks, ticksAfter: 60, players, seed, step });
          expect(problems).toEqual([]);
          expect(copy!.ctx.tick).toBe(original.ctx.tick);
          expect(copy!.players.map((p) => p.eid)).toEqual(original.players.map((p) => p.eid));
        }),
        { numRuns: 25 },
      );
    });
  }

  it('a player joining and leaving after the restore gets the same entity id in both rooms', () => {
    const original = makeRoom(tag, 7, 3);
    for (let t = 0; t < 90; t++) step(original, [1, 2, 3]);
    original.removePlayer(original.players[1], 0);
    const copy = freshFor(tag, 7)(saveRoom(original));
    const a = original.addPlayer(new Player(9, 'late', 1, 8));
    const b = copy.addPlayer(new Player(9, 'late', 1, 8));
    expect(b).toBe(a);
    for (let t = 0; t < 60; t++) {
      step(original, [4, 5, 6]);
      step(copy, [4, 5, 6]);
    }
    expect(saveRoom(copy)).toEqual(saveRoom(original));
  });

  it('is small: bytes per room at the arena-v1 default point', () => {
    const room = makeRoom(arena, 1, 16, { npcs: 500 });
    for (let t = 0; t < 120; t++) step(room, Array.from({ length: 16 }, (_, i) => i));
    const bytes = saveRoom(room).length;
    console.log(`saved room: arena-v1, 500 NPCs, 16 players: ${bytes} bytes`);
    expect(bytes).toBeLessThan(64 * 1024);
  });

  it('refuses another game, another version of the game, and a damaged file, naming why', () => {
    const saved = saveRoom(makeRoom(arena, 1, 2));
    expect(() => readRoomHeader(saved, orbit)).toThrow(/game arena-v1, this server hosts orbit/);
    const changed: AnyGame = defineGame({ ...arena, maxEntities: arena.maxEntities + 1 });
    expect(() => readRoomHeader(saved, changed)).toThrow(RoomStateError);
    expect(() => readRoomHeader(saved, changed)).toThrow(/config hash/);
    expect(() => readRoomHeader(saved.subarray(0, 10), arena)).toThrow(RoomStateError);
    const bumped = new TextEncoder().encode(new TextDecoder().decode(saved.subarray(4, 4 + new DataView(saved.buffer).getUint32(0, true))).replace('"v":1', '"v":9'));
    const other = new Uint8Array(4 + bumped.length);
    new DataView(other.buffer).setUint32(0, bumped.length, true);
    other.set(bumped, 4);
    expect(() => readRoomHeader(other, arena)).toThrow(/format 9/);
  });

  it('a game with state in a closure drifts after a restore unless it declares game.state', () => {
    // orbit plus a counter kept in a system's closure that decides where the players are pushed
    const withClosure = (declare: boolean): AnyGame => {
      let pushes = 0;
      return defineGame({
        ...orbit,
        name: declare ? 'orbit-closure-declared' : 'orbit-closure',
        systems: (ctx) => {
          const bodies = ctx.query([ctx.c.Pos]);
          return [
            ...orbit.systems(ctx),
            (x) => {
              pushes++;
              // from the 21st tick on, players drift east: when depends on the counter
              if (pushes > 20) for (const e of bodies()) x.c.Pos.x[e] += 1;
            },
          ];
        },
        ...(declare ? { state: { save: () => pushes, restore: (_ctx, data) => void (pushes = data as number) } } : {}),
      });
    };
    for (const declare of [false, true]) {
      const game = withClosure(declare);
      const original = makeRoom(game, 3, 2, {});
      const problems = roomStateProblems(original, () => freshFor(withClosure(declare), 3, {})(saveRoom(original)), { ticks: 10, ticksAfter: 30, players: 2, seed: 3, step });
      if (declare) expect(problems).toEqual([]);
      else expect(problems.join()).toMatch(/drifted from the original/);
    }
  });
});
