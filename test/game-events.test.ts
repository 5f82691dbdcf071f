// Game events from a game's own code (GameContext.emit): sent after the tick's systems to every
// player of the room as reliable `event` messages without `from`, in order; events emitted while
// the room was empty reach nobody; a bad event name fails loudly.
import { addComponent } from 'bitecs';
import { afterAll, describe, expect, it } from 'vitest';
import { Connection } from '../netcode/connection.ts';
import type { TickwireServer } from '../server/server.ts';
import type { ServerControl } from '../shared/protocol/control.ts';
import { fixed } from '../shared/protocol/quantize.ts';
import { defineGame } from '../shared/sim/game.ts';
import { nodeClientIO } from '../tools/node-client/io.ts';
import { startTestServer, urlOf, waitFor } from './helpers/server.ts';

const comps = (n: number) => ({ Pos: { x: new Float32Array(n), y: new Float32Array(n) } });

/** Emits `setup` at room creation, `hello` {eid} on every spawn, `beat` {n} every 6 ticks. */
const beacon = defineGame<ReturnType<typeof comps>, { v: number }>({
  name: 'beacon',
  maxEntities: 16,
  components: comps,
  networked: { Pos: { x: fixed(0, 100, 1), y: fixed(0, 100, 1) } },
  local: [],
  input: { v: fixed(0, 1, 1) },
  position: { x: 'Pos.x', y: 'Pos.y' },
  stepPlayer: () => undefined,
  setup: (ctx) => ctx.emit?.('setup'),
  systems: () => {
    let n = 0;
    return [(ctx) => {
      if (ctx.tick % 6 === 0) ctx.emit?.('beat', { n: n++ });
    }];
  },
  spawnPlayer(ctx) {
    const e = ctx.spawn();
    addComponent(ctx.world, e, ctx.c.Pos);
    ctx.emit?.('hello', { eid: e });
    return e;
  },
});

const servers: TickwireServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.stop();
});

function join(srv: TickwireServer, name: string): { conn: Connection; events: Extract<ServerControl, { t: 'event' }>[] } {
  const events: Extract<ServerControl, { t: 'event' }>[] = [];
  const conn = new Connection(beacon, nodeClientIO({ webrtc: false }), { url: urlOf(srv), name, transport: 'ws', room: 'r' }, {
    onControl: (m) => {
      if (m.t === 'event') events.push(m);
    },
  });
  conn.connect();
  return { conn, events };
}

describe('GameContext.emit', () => {
  it('reaches every player of the room, in order, after the systems; nothing from the empty room', async () => {
    const srv = await startTestServer({}, { game: beacon });
    servers.push(srv);
    const a = join(srv, 'a');
    await waitFor(() => a.conn.state === 'active', 5000, 'a welcome');
    const b = join(srv, 'b');
    await waitFor(() => b.conn.state === 'active', 5000, 'b welcome');
    await waitFor(() => a.events.filter((e) => e.name === 'beat').length >= 5 && b.events.filter((e) => e.name === 'beat').length >= 5, 5000, 'beats');
    for (const c of [a, b]) {
      expect(c.events.every((e) => e.from === undefined)).toBe(true);
      expect(c.events.some((e) => e.name === 'setup')).toBe(false); // emitted before anyone was there
      const beats = c.events.filter((e) => e.name === 'beat').map((e) => (e.data as { n: number }).n);
      expect(beats).toEqual(beats.map((_, i) => beats[0] + i)); // every one, in order
    }
    // Each spawn told the room, the newcomer included.
    expect(a.events.filter((e) => e.name === 'hello').map((e) => (e.data as { eid: number }).eid)).toEqual([a.conn.eid, b.conn.eid]);
    expect(b.events.filter((e) => e.name === 'hello').map((e) => (e.data as { eid: number }).eid)).toEqual([b.conn.eid]);
    // The same beat reached both.
    const lastA = (a.events.filter((e) => e.name === 'beat').at(-1)!.data as { n: number }).n;
    await waitFor(() => b.events.some((e) => e.name === 'beat' && (e.data as { n: number }).n === lastA), 2000, 'the same beat on b');
    a.conn.close();
    b.conn.close();
  });

  it('refuses an event name the protocol cannot carry', async () => {
    const srv = await startTestServer({}, { game: beacon, autoTick: false });
    servers.push(srv);
    const room = srv.rooms.match('named', 0);
    if (typeof room === 'number') throw new Error(`no room: ${room}`);
    expect(() => room.ctx.emit?.('', 1)).toThrow(/event name "" must be 1..32 characters/);
    expect(() => room.ctx.emit?.('x'.repeat(33))).toThrow(RangeError);
    room.ctx.emit?.('ok', { fine: true });
    // setup's event waits too, until the first player's join drops it (nobody was there to tell).
    expect(room.events).toEqual([{ name: 'setup', data: undefined }, { name: 'ok', data: { fine: true } }]);
  });
});
