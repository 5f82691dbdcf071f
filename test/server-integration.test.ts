// The real server over real sockets: handshake, rejects, inputs moving the player exactly as the
// shared step function says, snapshots, HTTP endpoints, hostile bytes, graceful shutdown.
import WebSocket from 'ws';
import { afterEach, describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { configHash, PROTOCOL_VERSION } from '../shared/config.ts';
import { snapToNetGrid } from '../shared/sim/netgrid.ts';
import { encodeControl, decodeServerControl, type ServerControl } from '../shared/protocol/control.ts';
import { RejectCode, CloseCode } from '../shared/protocol/ids.ts';
import { bindFieldStores, compileSchema } from '../shared/protocol/schema.ts';
import type { TickwireServer } from '../server/server.ts';
import type { Connection } from '../netcode/connection.ts';
import { connectClient, startTestServer, urlOf, waitFor } from './helpers/server.ts';

let servers: TickwireServer[] = [];
let clients: Connection[] = [];
afterEach(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.stop();
  servers = [];
  clients = [];
});

async function server(o: Parameters<typeof startTestServer>[0] = {}, opts: Parameters<typeof startTestServer>[1] = {}): Promise<TickwireServer> {
  const s = await startTestServer(o, opts);
  servers.push(s);
  return s;
}

/** Opens a raw WebSocket and collects decoded control messages. */
async function rawSocket(srv: TickwireServer): Promise<{ ws: WebSocket; msgs: ServerControl[]; closed: { code: number } | null }> {
  const ws = new WebSocket(`ws://127.0.0.1:${srv.http!.port}/ws`);
  const out = { ws, msgs: [] as ServerControl[], closed: null as { code: number } | null };
  ws.on('message', (data: Buffer) => {
    if (data[0] === 1) out.msgs.push(decodeServerControl(new Uint8Array(data)));
  });
  ws.on('close', (code) => {
    out.closed = { code };
  });
  await new Promise((r, j) => {
    ws.once('open', r);
    ws.once('error', j);
  });
  return out;
}

describe('server over the WebSocket', () => {
  it('welcomes a client, streams snapshots, and moves its player exactly as stepPlayer says', async () => {
    const srv = await server();
    const c = await connectClient(srv, { transport: 'ws' });
    clients.push(c);
    expect(c.state).toBe('active');
    const w = c.welcome!;
    expect(w.token).toMatch(/^[0-9a-f]{32}$/);
    expect(w.tickRateHz).toBe(60);
    const room = srv.rooms.get(w.room)!;
    const session = room.players[0];
    const { Position } = room.ctx.c;
    const x0 = Position.x[w.eid];
    const y0 = Position.y[w.eid];

    // Hold "east" for a while (inputs target the room's ticks).
    let tick = room.ctx.tick;
    const timer = setInterval(() => c.sendInput({ dir: 1 }, tick++), 1000 / 60);
    try {
      await waitFor(() => (session.inputs?.stats.applied ?? 0) >= 30, 5000, '30 applied inputs');
    } finally {
      clearInterval(timer);
    }
    await waitFor(() => c.counters.snapshots >= 5, 3000, 'snapshots');
    // Replay the shared step function for every tick that applied "east" (applied + repeated).
    const schema = compileSchema(arena);
    const local = arena.components(arena.maxEntities);
    const stores = bindFieldStores(schema, local);
    const stepsBefore = session.inputs!.stats.applied + session.inputs!.stats.repeated;
    const serverX = Position.x[w.eid];
    local.Position.x[w.eid] = x0;
    local.Position.y[w.eid] = y0;
    for (let i = 0; i < stepsBefore; i++) {
      arena.stepPlayer(local, w.eid, { dir: 1 }, 1 / 60);
      snapToNetGrid(schema, stores, w.eid);
    }
    expect(serverX).toBe(local.Position.x[w.eid]);
    expect(Position.y[w.eid]).toBe(y0);
    expect(serverX).toBeGreaterThan(x0);

    // The client's decoded snapshot holds the server's quantized state, and acks its inputs.
    const frame = c.receiver!.latest()!;
    expect(frame.count).toBe(room.replicated().length);
    const i = frame.indexOf(w.eid);
    expect(i).toBeGreaterThanOrEqual(0);
    expect(c.receiver!.header.hasInputAck).toBe(true);
    // Snapshot acks reached the server.
    expect(session.ackedTick).toBeGreaterThan(0);
  });

  it('rejects a wrong config hash and a wrong protocol version with reason codes', async () => {
    const srv = await server();
    for (const [hello, code] of [
      [{ t: 'hello', v: PROTOCOL_VERSION, hash: (configHash(arena) ^ 1) >>> 0, name: 'x' }, RejectCode.ConfigMismatch],
      [{ t: 'hello', v: PROTOCOL_VERSION + 1, hash: configHash(arena), name: 'x' }, RejectCode.ProtocolVersion],
    ] as const) {
      const s = await rawSocket(srv);
      s.ws.send(encodeControl(hello));
      await waitFor(() => s.closed !== null, 3000, 'close after reject');
      expect(s.msgs[0]).toMatchObject({ t: 'reject', code });
      expect(s.closed!.code).toBe(4000 + code);
    }
    expect(srv.stats.rejects).toBe(2);
    expect(srv.sessions.size).toBe(0);
  });

  it('runs the authenticate hook and refuses a bad token', async () => {
    const srv = await server({}, { hooks: { authenticate: async (token) => (token === 'letmein' ? { name: 'verified' } : false) } });
    const bad = await connectClient(srv, { transport: 'ws', authToken: 'nope' });
    expect(bad.state).toBe('closed');
    const good = await connectClient(srv, { transport: 'ws', authToken: 'letmein' });
    clients.push(good);
    expect(good.state).toBe('active');
    expect(srv.rooms.get(good.welcome!.room)!.players[0].name).toBe('verified');
  });

  it('rejects a full room and matches into named rooms', async () => {
    const srv = await server({ roomCapacity: 1 });
    const a = await connectClient(srv, { transport: 'ws', room: 'duel' });
    clients.push(a);
    const b = await connectClient(srv, { transport: 'ws', room: 'duel' });
    expect(b.state).toBe('closed');
    const c = await connectClient(srv, { transport: 'ws' });
    clients.push(c);
    expect(c.welcome!.room).not.toBe('duel');
    const rooms = (await (await fetch(`${urlOf(srv)}/rooms`)).json()) as { rooms: { name: string; players: number; capacity: number }[] };
    expect(rooms.rooms.map((r) => [r.name, r.players, r.capacity]).sort()).toEqual([['arena-v1-1', 1, 1], ['duel', 1, 1]]);
  });

  it('serves /healthz, /metrics in Prometheus format, /config and the client page', async () => {
    const srv = await server();
    const c = await connectClient(srv, { transport: 'ws' });
    clients.push(c);
    await waitFor(() => c.counters.snapshots >= 2, 3000, 'snapshots');
    const health = (await (await fetch(`${urlOf(srv)}/healthz`)).json()) as { status: string; sessions: number };
    expect(health).toMatchObject({ status: 'ok', sessions: 1 });
    const metrics = await (await fetch(`${urlOf(srv)}/metrics`)).text();
    for (const name of ['tickwire_ticks_total', 'tickwire_tick_duration_seconds_bucket', 'tickwire_ticks_skipped_total', 'tickwire_rooms 1', 'tickwire_sessions{transport="ws"} 1', 'tickwire_bytes_total{direction="out",channel="ws"}', 'tickwire_decode_errors_total', 'tickwire_messages_total']) {
      expect(metrics, name).toContain(name);
    }
    const cfg = (await (await fetch(`${urlOf(srv)}/config`)).json()) as { configHash: number; tickRateHz: number };
    expect(cfg).toMatchObject({ configHash: configHash(arena), tickRateHz: 60 });
    const page = await fetch(`${urlOf(srv)}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect((await fetch(`${urlOf(srv)}/nope`)).status).toBe(404);
  });

  it('drops and counts hostile bytes, then disconnects a client past the bad-message threshold', async () => {
    const srv = await server({ maxBadMessages: 5 });
    const s = await rawSocket(srv);
    s.ws.send(encodeControl({ t: 'hello', v: PROTOCOL_VERSION, hash: configHash(arena), name: 'mallory' }));
    await waitFor(() => s.msgs.some((m) => m.t === 'welcome'), 3000, 'welcome');
    const garbage = [new Uint8Array([2, 1]), new Uint8Array([1, 0xc1]), new Uint8Array([99]), new Uint8Array([4, 0, 0]), 'text frame', new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 200])];
    for (const g of garbage) s.ws.send(g);
    await waitFor(() => s.closed !== null, 3000, 'disconnect');
    expect(s.msgs.at(-1)).toMatchObject({ t: 'bye', code: CloseCode.TooManyBadMessages });
    const errs = srv.stats.decodeErrors;
    expect(errs.control + errs.input + errs.ack + errs.unknown).toBe(6);
    expect(srv.stats.disconnectsForBadMessages).toBe(1);
    // The server is still fine for others.
    const c = await connectClient(srv, { transport: 'ws' });
    clients.push(c);
    expect(c.state).toBe('active');
  });

  it('closes a connection that sends an oversized message', async () => {
    const srv = await server({ wsMaxPayloadBytes: 1024 });
    const s = await rawSocket(srv);
    s.ws.send(new Uint8Array(4096));
    await waitFor(() => s.closed !== null, 3000, 'close');
    expect(s.closed!.code).not.toBe(1000);
  });

  it('shuts down gracefully: clients are told why and the server stops within the limit', async () => {
    const srv = await server();
    const c = await connectClient(srv, { transport: 'ws' });
    const got: ServerControl[] = [];
    c.events.onControl = (m) => got.push(m);
    const t0 = Date.now();
    await srv.stop('maintenance');
    servers = servers.filter((s) => s !== srv);
    expect(Date.now() - t0).toBeLessThan(5000);
    await waitFor(() => c.state === 'closed', 3000, 'client closed');
    expect(got.find((m) => m.t === 'bye')).toMatchObject({ code: CloseCode.Shutdown, reason: 'maintenance' });
    expect(srv.state).toBe('stopped');
  });
});

describe('server over WebRTC (geckos.io datachannels)', () => {
  it('binds the datachannel to the session, moves unreliable traffic onto it, and moves the player', async () => {
    const srv = await server({ webrtc: true });
    const transports: string[] = [];
    const c = await connectClient(srv, { transport: 'auto', webrtcTimeoutMs: 8000 }, { onTransport: (t) => transports.push(t) });
    clients.push(c);
    expect(c.welcome!.webrtc).toBe(true);
    await waitFor(() => c.transport === 'webrtc', 10_000, 'webrtc transport');
    const session = srv.sessions.get(c.welcome!.sessionId)!;
    await waitFor(() => session.unreliableKind() === 'webrtc', 3000, 'server switched to webrtc');
    const room = srv.rooms.get(c.welcome!.room)!;
    const x0 = room.ctx.c.Position.x[c.eid];
    const rtcIn0 = srv.stats.bytesIn.webrtc;
    const rtcOut0 = srv.stats.bytesOut.webrtc;
    let tick = room.ctx.tick;
    const timer = setInterval(() => c.sendInput({ dir: 5 }, tick++), 1000 / 60); // west
    try {
      await waitFor(() => (session.inputs?.stats.applied ?? 0) >= 20, 5000, 'inputs over webrtc');
      await waitFor(() => srv.stats.bytesOut.webrtc - rtcOut0 > 0, 3000, 'snapshots over webrtc');
    } finally {
      clearInterval(timer);
    }
    expect(srv.stats.bytesIn.webrtc).toBeGreaterThan(rtcIn0);
    expect(room.ctx.c.Position.x[c.eid]).toBeLessThan(x0);
    expect(transports).toContain('webrtc');
    const metrics = await (await fetch(`${urlOf(srv)}/metrics`)).text();
    expect(metrics).toContain('tickwire_sessions{transport="webrtc"} 1');
  }, 30_000);

  it('refuses a WebRTC peer without a valid session token', async () => {
    const srv = await server({ webrtc: true });
    const { loadGeckosClient, connectGeckos } = await import('../tools/node-client/rtc.ts');
    const geckos = await loadGeckosClient();
    await expect(connectGeckos(geckos, { url: 'http://127.0.0.1', port: srv.rtc!.signalingPort, token: 'f'.repeat(32), timeoutMs: 3000 })).rejects.toBeDefined();
    expect(srv.rtc!.connectionCount()).toBe(0);
  }, 20_000);

  it('falls back to the WebSocket when WebRTC cannot connect, transparently', async () => {
    const srv = await server({ webrtc: true });
    // A client whose WebRTC always fails.
    const { Connection } = await import('../netcode/connection.ts');
    const { nodeClientIO } = await import('../tools/node-client/io.ts');
    const io = nodeClientIO({ webrtc: false });
    io.openDatagram = () => Promise.reject(new Error('blocked'));
    const c = new Connection(arena, io, { url: urlOf(srv), name: 'fallback', transport: 'auto' });
    c.connect();
    clients.push(c);
    await waitFor(() => c.state === 'active', 5000, 'welcome');
    let tick = c.welcome!.tick;
    const timer = setInterval(() => c.sendInput({ dir: 3 }, tick++), 1000 / 60);
    try {
      await waitFor(() => c.counters.snapshots >= 5 && c.receiver!.header.hasInputAck, 5000, 'snapshots with input acks over ws');
    } finally {
      clearInterval(timer);
    }
    expect(c.transport).toBe('ws');
    expect(srv.sessions.get(c.welcome!.sessionId)!.unreliableKind()).toBe('ws');
  }, 20_000);
});
