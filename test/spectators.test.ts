// Spectators: hello.spectate watches an open room with no entity and no inputs, gets every snapshot
// (sharing the players' encoded sections), counts in GET /rooms and against maxSpectatorsPerRoom,
// and keeps a room without players ticking; a spectator never creates a room.
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { arena } from '../games/arena.ts';
import { Connection } from '../netcode/connection.ts';
import type { TickwireServer } from '../server/server.ts';
import { configHash, PROTOCOL_VERSION } from '../shared/config.ts';
import { BitWriter } from '../shared/protocol/bits.ts';
import { decodeServerControl, encodeControl, NO_ENTITY, type ServerControl } from '../shared/protocol/control.ts';
import { RejectCode } from '../shared/protocol/ids.ts';
import { writeInputPacket } from '../shared/protocol/input.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { requestSeat } from '../netcode/matchmake.ts';
import { parseBotsArgs } from '../tools/bots/cli.ts';
import { nodeClientIO } from '../tools/node-client/io.ts';
import { connectClient, startTestServer, urlOf, waitFor } from './helpers/server.ts';

let srv: TickwireServer | undefined;
const closers: (() => void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) c();
  await srv?.stop();
  srv = undefined;
});

function spectator(server: TickwireServer, room: string, events: { onControl?: (m: ServerControl) => void } = {}): Connection {
  const c = new Connection(arena, nodeClientIO({ webrtc: false }), { url: urlOf(server), name: 'watcher', room, transport: 'ws', spectate: true }, events);
  c.connect();
  closers.push(() => c.close());
  return c;
}

describe('spectators', () => {
  it('watch a room: no entity, every snapshot, counted in /rooms; inputs ignored; the room ticks on without players', async () => {
    srv = await startTestServer({ gameParams: { npcs: 20 }, resumeGraceMs: 0 });
    const player = await connectClient(srv, { name: 'p', room: 'watched' });
    closers.push(() => player.close());
    const room = srv.rooms.get('watched')!;
    const entities = room.replicated().length;
    const s = spectator(srv, 'watched');
    await waitFor(() => s.state === 'active', 5000, 'spectator welcome');
    expect(s.welcome?.spectator).toBe(true);
    expect(s.welcome?.eid).toBe(NO_ENTITY);
    expect(room.players.length).toBe(1);
    expect(room.spectators.length).toBe(1);
    expect(room.replicated().length).toBe(entities);
    const info = ((await (await fetch(`${urlOf(srv)}/rooms`)).json()) as { rooms: { name: string; players: number; spectators: number }[] }).rooms.find((r) => r.name === 'watched')!;
    expect(info).toMatchObject({ players: 1, spectators: 1 });
    // every snapshot, the whole room decoded, the player's entity in it
    const b0 = { s: s.counters.bytesDown, p: player.counters.bytesDown, n: s.counters.snapshots };
    await new Promise((r) => setTimeout(r, 2000));
    const got = s.counters.snapshots - b0.n;
    expect(got).toBeGreaterThan(30);
    const frame = s.receiver!.latest();
    expect(frame).toBeDefined();
    expect(frame!.indexOf(player.welcome!.eid)).toBeGreaterThanOrEqual(0);
    expect(frame!.count).toBe(entities);
    const perSpectator = (s.counters.bytesDown - b0.s) / 2;
    const perPlayer = (player.counters.bytesDown - b0.p) / 2;
    console.log(`spectator ${perSpectator.toFixed(0)} B/s down against a player's ${perPlayer.toFixed(0)} B/s (20 NPCs)`);
    expect(perSpectator).toBeLessThan(perPlayer * 1.5);
    // a spectator's input packets are dropped unread
    const raw = new WebSocket(`${urlOf(srv).replace('http', 'ws')}/ws`);
    closers.push(() => raw.terminate());
    const msgs: ServerControl[] = [];
    raw.on('message', (d: Buffer) => d[0] === 1 && msgs.push(decodeServerControl(new Uint8Array(d))));
    await new Promise((r) => raw.once('open', r));
    raw.send(encodeControl({ t: 'hello', v: PROTOCOL_VERSION, hash: configHash(arena), name: 'sneaky', room: 'watched', spectate: true }));
    await waitFor(() => msgs.some((m) => m.t === 'welcome'), 3000, 'raw spectator welcome');
    const w = new BitWriter(64);
    for (let i = 0; i < 10; i++) raw.send(writeInputPacket(w, compileSchema(arena), i, room.ctx.tick, 1, [3]).slice());
    await waitFor(() => srv!.stats.spectatorInputsIgnored >= 10, 3000, 'ignored inputs');
    expect(room.players.length).toBe(1);
    // the player leaves: the watched room ticks on, the spectators stay
    player.close();
    await waitFor(() => room.players.length === 0, 3000, 'player left');
    const t0 = room.ctx.tick;
    await new Promise((r) => setTimeout(r, 500));
    expect(room.ctx.tick).toBeGreaterThan(t0 + 15);
    expect(s.state).toBe('active');
    s.close();
    raw.terminate();
    await waitFor(() => room.spectators.length === 0, 3000, 'spectators left');
  });

  it('have a limit per room, and never create a room', async () => {
    srv = await startTestServer({ gameParams: { npcs: 5 }, maxSpectatorsPerRoom: 1 });
    const p = await connectClient(srv, { name: 'p', room: 'small' });
    closers.push(() => p.close());
    const first = spectator(srv, 'small');
    await waitFor(() => first.state === 'active', 5000, 'first spectator');
    const rejects: number[] = [];
    const second = spectator(srv, 'small', { onControl: (m) => m.t === 'reject' && rejects.push(m.code) });
    await waitFor(() => second.state === 'closed', 5000, 'second spectator refused');
    const ghost = spectator(srv, 'no-such-room', { onControl: (m) => m.t === 'reject' && rejects.push(m.code) });
    await waitFor(() => ghost.state === 'closed', 5000, 'spectator of a missing room refused');
    expect(rejects).toEqual([RejectCode.RoomFull, RejectCode.BadRoomName]);
    expect(srv.rooms.get('no-such-room')).toBeUndefined();
    // the matchmaker knows the room is at its spectator limit: no spectator's seat there, named or not
    const url = urlOf(srv);
    await expect(requestSeat(url, { name: 'w', room: 'small', spectate: true })).rejects.toMatchObject({ reason: 'room_full', status: 409 });
    await expect(requestSeat(url, { name: 'w', spectate: true })).rejects.toMatchObject({ reason: 'no_room', status: 409 });
    first.close();
    await waitFor(() => srv!.rooms.get('small')!.spectators.length === 0, 3000, 'first spectator left');
    expect((await requestSeat(url, { name: 'w', room: 'small', spectate: true })).room).toBe('small');
  });

  it('come through the matchmaker: a seat for an existing room (named, or the most played), never a new room, not counted as a player', async () => {
    srv = await startTestServer({ gameParams: { npcs: 5 }, roomCapacity: 1 });
    const p = await connectClient(srv, { name: 'p', room: 'full' });
    closers.push(() => p.close());
    const url = urlOf(srv);
    // the room is full for players, but a spectator's seat holds no player place
    await expect(requestSeat(url, { name: 'late', room: 'full' })).rejects.toMatchObject({ reason: 'room_full' });
    const seat = await requestSeat(url, { name: 'watcher', room: 'full', spectate: true });
    expect(seat.room).toBe('full');
    const c = new Connection(arena, nodeClientIO({ webrtc: false }), { url: seat.url, name: 'watcher', room: seat.room, seat: seat.seat, transport: 'ws', spectate: true });
    c.connect();
    closers.push(() => c.close());
    await waitFor(() => c.state === 'active' || c.state === 'closed', 5000, 'seated spectator welcome');
    expect(c.welcome).toMatchObject({ spectator: true, eid: NO_ENTITY, room: 'full' });
    expect(srv.rooms.get('full')!.spectators.length).toBe(1);
    // a spectator's seat is single-use and seats no player
    const rejects: number[] = [];
    const again = new Connection(arena, nodeClientIO({ webrtc: false }), { url, name: 'again', room: 'full', seat: seat.seat, transport: 'ws', spectate: true }, { onControl: (m) => m.t === 'reject' && rejects.push(m.code) });
    again.connect();
    closers.push(() => again.close());
    await waitFor(() => again.state === 'closed', 5000, 'spent seat refused');
    const seat2 = await requestSeat(url, { name: 'watcher2', spectate: true });
    expect(seat2.room).toBe('full');
    const asPlayer = new Connection(arena, nodeClientIO({ webrtc: false }), { url, name: 'sneak', room: 'full', seat: seat2.seat, transport: 'ws' }, { onControl: (m) => m.t === 'reject' && rejects.push(m.code) });
    asPlayer.connect();
    closers.push(() => asPlayer.close());
    await waitFor(() => asPlayer.state === 'closed', 5000, 'a spectator seat used to play refused');
    expect(rejects).toEqual([RejectCode.SeatRefused, RejectCode.SeatRefused]);
    expect(srv.rooms.get('full')!.players.length).toBe(1);
    // never a new room
    await expect(requestSeat(url, { name: 'w', room: 'empty-here', spectate: true })).rejects.toMatchObject({ reason: 'no_room', status: 409 });
    expect(srv.rooms.get('empty-here')).toBeUndefined();
    const bad = await fetch(`${url}/matchmake`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'w', spectate: 'yes' }) });
    expect(bad.status).toBe(400);
  });

  it('bots take --spectate with a room or a matchmaker, never alone', () => {
    expect(parseBotsArgs(['--url', 'http://127.0.0.1:1', '--room', 'r', '--spectate']).spectate).toBe(true);
    expect(parseBotsArgs(['--matchmake', 'http://127.0.0.1:1', '--spectate']).spectate).toBe(true);
    expect(parseBotsArgs(['--url', 'http://127.0.0.1:1']).spectate).toBeUndefined();
    expect(() => parseBotsArgs(['--url', 'http://127.0.0.1:1', '--spectate'])).toThrow(/--spectate needs --room/);
  });
});
