// Hostile and broken clients against the real server: input floods, forged and replayed
// sequences, slow readers, rate limits. The match must go on and nobody may move too fast.
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { arena, PLAYER_SPEED } from '../games/arena.ts';
import { configHash, PROTOCOL_VERSION } from '../shared/config.ts';
import { BitWriter } from '../shared/protocol/bits.ts';
import { decodeServerControl, encodeControl, type ServerControl } from '../shared/protocol/control.ts';
import { CloseCode } from '../shared/protocol/ids.ts';
import { writeInputPacket } from '../shared/protocol/input.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import type { TickwireServer } from '../server/server.ts';
import { DEFAULT_SERVER_CONFIG } from '../server/config.ts';
import { joinWithoutReading } from '../tools/node-client/raw-ws.ts';
import { startTestServer, waitFor } from './helpers/server.ts';

const schema = compileSchema(arena);
let srv: TickwireServer | undefined;
const sockets: { close(): void }[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await srv?.stop();
  srv = undefined;
});

/** A raw client: joins, then does whatever the test says. */
async function join(server: TickwireServer): Promise<{ ws: WebSocket; welcome: Extract<ServerControl, { t: 'welcome' }>; msgs: ServerControl[]; closed: () => number }> {
  const ws = new WebSocket(`ws://127.0.0.1:${server.http!.port}/ws`);
  const msgs: ServerControl[] = [];
  let closeCode = 0;
  ws.on('message', (d: Buffer) => {
    if (d[0] === 1) msgs.push(decodeServerControl(new Uint8Array(d)));
  });
  ws.on('close', (code) => {
    closeCode = code;
  });
  await new Promise((r) => ws.once('open', r));
  ws.send(encodeControl({ t: 'hello', v: PROTOCOL_VERSION, hash: configHash(arena), name: 'h' }));
  await waitFor(() => msgs.some((m) => m.t === 'welcome'), 3000, 'welcome');
  sockets.push({ close: () => ws.terminate() });
  return { ws, welcome: msgs.find((m) => m.t === 'welcome') as Extract<ServerControl, { t: 'welcome' }>, msgs, closed: () => closeCode };
}

describe('cheating inputs', () => {
  it('10x input rate, forged and replayed sequences cannot beat the speed limit', async () => {
    srv = await startTestServer({ maxMessagesPerSec: 2000 });
    const { ws, welcome } = await join(srv);
    const room = srv.rooms.get(welcome.room)!;
    const p = room.ctx.c.Position;
    const x0 = p.x[welcome.eid];
    const y0 = p.y[welcome.eid];
    const tick0 = room.ctx.tick;
    const w = new BitWriter(64);
    let seq = 0;
    // Runs for 90 room ticks (1.5 s when the machine keeps up; longer on a loaded one, up to 15 s).
    const end = Date.now() + 15_000;
    // 600 packets/s, each 16 inputs; every fifth packet replays old sequences or jumps far ahead.
    while (room.ctx.tick - tick0 < 90 && Date.now() < end) {
      for (let k = 0; k < 10; k++) {
        const forged = seq % 5 === 4 ? (seq + 30_000) & 0xffff : seq % 5 === 3 ? Math.max(0, seq - 40) : seq;
        ws.send(writeInputPacket(w, schema, forged, room.ctx.tick, 16, new Array(16).fill(8)).slice());
        seq = (seq + 16) & 0xffff;
      }
      await new Promise((r) => setTimeout(r, 16));
    }
    const ticks = room.ctx.tick - tick0;
    const moved = Math.hypot(p.x[welcome.eid] - x0, p.y[welcome.eid] - y0);
    expect(ticks).toBeGreaterThan(30);
    expect(moved).toBeGreaterThan(0);
    // One input per tick at most; 1/16 grid snapping is the only slack.
    expect(moved).toBeLessThanOrEqual(PLAYER_SPEED * (ticks / 60) * 1.02 + 0.1);
  });

  it('drops input packets that claim a tick more than 2 s from the room tick, and keeps the player', async () => {
    srv = await startTestServer();
    const { ws, welcome } = await join(srv);
    const room = srv.rooms.get(welcome.room)!;
    const p = room.ctx.c.Position;
    const x0 = p.x[welcome.eid];
    const w = new BitWriter(64);
    const skew = (DEFAULT_SERVER_CONFIG.maxInputTickSkewMs / 1000) * 60;
    // far ahead and far behind (the u32 wraps to a huge tick): nothing applied, all counted
    for (let i = 0; i < 30; i++) {
      ws.send(writeInputPacket(w, schema, i, room.ctx.tick + skew + 60, 1, [1]).slice());
      ws.send(writeInputPacket(w, schema, 100 + i, (room.ctx.tick - skew - 60) >>> 0, 1, [1]).slice());
    }
    await waitFor(() => srv!.stats.inputsTickRejected >= 60, 3000, 'rejected packets');
    await new Promise((r) => setTimeout(r, 100));
    expect(p.x[welcome.eid]).toBe(x0);
    expect(ws.readyState).toBe(WebSocket.OPEN);
    // a client in sync (a tick just ahead) moves
    for (let i = 0; i < 30; i++) ws.send(writeInputPacket(w, schema, 200 + i, room.ctx.tick + 2, 1, [1]).slice());
    await waitFor(() => p.x[welcome.eid] > x0, 3000, 'moved by in-sync inputs');
    expect(srv.stats.inputsTickRejected).toBe(60);
  });

  it('inputs of one player cannot affect another player', async () => {
    srv = await startTestServer();
    const a = await join(srv);
    const b = await join(srv);
    const room = srv.rooms.get(a.welcome.room)!;
    const bx = room.ctx.c.Position.x[b.welcome.eid];
    const w = new BitWriter(64);
    for (let i = 0; i < 60; i++) a.ws.send(writeInputPacket(w, schema, i, room.ctx.tick, 1, [1]).slice());
    await waitFor(() => (room.players.find((s) => s.eid === a.welcome.eid)!.inputs!.stats.applied ?? 0) >= 5, 3000, 'inputs applied');
    expect(room.ctx.c.Position.x[b.welcome.eid]).toBe(bx);
  });
});

describe('rate limits', () => {
  it('drops messages past the per-client rate and disconnects a sustained flood', async () => {
    srv = await startTestServer({ maxMessagesPerSec: 50 });
    const c = await join(srv);
    const ack = new Uint8Array([4, 0, 0, 0, 0, 0, 0, 0, 0]);
    for (let i = 0; i < 400 && c.ws.readyState === WebSocket.OPEN; i++) c.ws.send(ack);
    await waitFor(() => c.closed() !== 0, 5000, 'disconnect');
    expect(srv.stats.rateLimited).toBeGreaterThan(0);
    expect(c.msgs.at(-1)).toMatchObject({ t: 'bye', code: CloseCode.RateLimited });
  });
});

describe('slow and vanishing clients', () => {
  it('a client that stops reading is dropped within 10 s with bounded server buffering', async () => {
    srv = await startTestServer({ clientTimeoutMs: 3000, resumeGraceMs: 2000, wsMaxBackpressureBytes: 64 * 1024, gameParams: { npcs: 500 } });
    const port = srv.http!.port;
    // Handshake by hand, then never read again.
    const sock = await joinWithoutReading(port, 'slow');
    sockets.push({ close: () => sock.destroy() });
    await waitFor(() => srv!.sessions.size === 1 && [...srv!.sessions.values()][0].state === 'active', 3000, 'slow client joined');
    const session = [...srv.sessions.values()][0];
    const socketId = session.reliable!.id;
    let maxBuffered = 0;
    const t0 = Date.now();
    while (session.reliable?.id === socketId && Date.now() - t0 < 12_000) {
      maxBuffered = Math.max(maxBuffered, srv.http!.bufferedAmount(socketId));
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(session.reliable?.id).not.toBe(socketId);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(maxBuffered).toBeLessThanOrEqual(64 * 1024 + 8 * 1024);
    // Nobody resumed it: the session and its entity are gone after the grace window.
    await waitFor(() => srv!.sessions.size === 0, 5000, 'session expired');
    expect(srv.rooms.list[0].players.length).toBe(0);
  }, 30_000);
});
