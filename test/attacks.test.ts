// Lock-outs, amplification and griefing, each reproduced against the real server from one attacking
// address on loopback (127.0.0.1) with honest clients elsewhere (127.0.0.2): idle sockets, the
// WebRTC pending pool, room amplification, chat spam, guessable geckos connection ids, and the
// smaller findings (names, malformed hellos, signaling timeouts, private rooms, bots and Origin).
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { arena } from '../games/arena.ts';
import { Connection, type ConnectionOptions } from '../netcode/connection.ts';
import { configHash, PROTOCOL_VERSION } from '../shared/config.ts';
import { decodeServerControl, encodeControl, type ClientControl, type ServerControl } from '../shared/protocol/control.ts';
import { RejectCode } from '../shared/protocol/ids.ts';
import { DATAGRAM_RETRY_MS } from '../server/inbound.ts';
import { startGeckosTransport } from '../server/net/geckos.ts';
import type { TickwireServer } from '../server/server.ts';
import { parseBotsArgs, runBots } from '../tools/bots/cli.ts';
import { nodeClientIO } from '../tools/node-client/io.ts';
import { promValue, parsePromText } from '../tools/measure/prom.ts';
import { startTestServer, urlOf, waitFor } from './helpers/server.ts';

const ATTACKER = '127.0.0.1';
const HONEST = '127.0.0.2';

let servers: TickwireServer[] = [];
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0)) f();
  for (const s of servers) await s.stop();
  servers = [];
});

async function server(...args: Parameters<typeof startTestServer>): Promise<TickwireServer> {
  const s = await startTestServer(...args);
  servers.push(s);
  return s;
}

/** A client of the netcode from `localAddress`, waited on until active (or closed). */
async function player(srv: TickwireServer, o: Partial<ConnectionOptions> & { from?: string; webrtc?: boolean } = {}): Promise<Connection> {
  const controls: ServerControl[] = [];
  const c = new Connection(arena, nodeClientIO({ webrtc: o.webrtc === true, localAddress: o.from ?? HONEST }), { url: urlOf(srv), name: 'honest', transport: o.webrtc ? 'auto' : 'ws', ...o }, {
    onControl: (m) => controls.push(m),
  });
  (c as Connection & { controls?: ServerControl[] }).controls = controls;
  cleanups.push(() => c.close());
  c.connect();
  await waitFor(() => c.state === 'active' || c.state === 'closed', 8000, 'welcome');
  return c;
}

/** A raw WebSocket client that records every control message and the close code. */
interface Raw {
  ws: WebSocket;
  controls: ServerControl[];
  closeCode: number | undefined;
  status: number | undefined;
  opened: boolean;
  send(msg: ClientControl): void;
}

function raw(srv: TickwireServer, from = ATTACKER): Raw {
  const ws = new WebSocket(`ws://127.0.0.1:${srv.http!.port}/ws`, { localAddress: from });
  const r: Raw = { ws, controls: [], closeCode: undefined, status: undefined, opened: false, send: (m) => ws.send(encodeControl(m)) };
  ws.binaryType = 'nodebuffer';
  ws.on('open', () => (r.opened = true));
  ws.on('message', (data: Buffer) => {
    if (data[0] === 1) r.controls.push(decodeServerControl(new Uint8Array(data)));
  });
  ws.on('close', (code) => (r.closeCode = code));
  ws.on('unexpected-response', (_req, res) => {
    r.status = res.statusCode;
    r.closeCode = -1;
  });
  ws.on('error', () => undefined);
  cleanups.push(() => ws.terminate());
  return r;
}

const hello = (o: Partial<Extract<ClientControl, { t: 'hello' }>> = {}): ClientControl => ({ t: 'hello', v: PROTOCOL_VERSION, hash: configHash(arena), name: 'raw', ...o });

async function metrics(srv: TickwireServer): Promise<ReturnType<typeof parsePromText>> {
  return parsePromText(await srv.metricsText());
}

describe('attacks: lock-outs', { timeout: 60_000 }, () => {
  it('2,000 idle sockets from one address: only a few are taken, they are closed at the handshake deadline, and honest clients from another address play', async () => {
    const srv = await server({ handshakeTimeoutMs: 2000 });
    const idle: Raw[] = [];
    // the server's own count of handshakes in progress, sampled while the attack runs: never above
    // the address's cap (on a loaded machine the first sockets may reach their deadline before the
    // last are opened, and their slots go to later ones)
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, srv.inbound.handshakes)), 1);
    for (let i = 0; i < 2000; i += 250) {
      for (let k = 0; k < 250; k++) idle.push(raw(srv));
      await waitFor(() => idle.every((r) => r.opened || r.closeCode !== undefined), 10_000, 'attack sockets answered');
    }
    clearInterval(sampler);
    const opened = idle.filter((r) => r.opened).length;
    expect(peak).toBe(srv.config.maxHandshakesPerAddress);
    expect(opened).toBeGreaterThanOrEqual(srv.config.maxHandshakesPerAddress);
    expect(idle.filter((r) => r.status === 503)).toHaveLength(2000 - opened);

    const honest = await Promise.all([player(srv), player(srv)]);
    expect(honest.map((c) => c.state)).toEqual(['active', 'active']);
    await waitFor(() => honest.every((c) => c.counters.snapshots >= 10), 5000, 'honest snapshots');

    // the attacker's admitted sockets go at the handshake deadline (plus one housekeeping pass)
    await waitFor(() => idle.filter((r) => r.opened).every((r) => r.closeCode !== undefined), 2000 + 2500, 'idle sockets closed');
    const m = await metrics(srv);
    expect(promValue(m, 'tickwire_connections_refused_total', { reason: 'address_handshakes' })).toBe(2000 - opened);
    expect(promValue(m, 'tickwire_handshake_timeouts_total')).toBe(opened);
    // the closes reach the server's count at its next inbox drain (a tick), not when the client sees them
    await waitFor(() => srv.inbound.handshakes === 0, 1000, 'handshakes counted out');
    expect(srv.inbound.handshakes).toBe(0);
    expect(honest.every((c) => c.state === 'active')).toBe(true);
  });

  it('sessions from one address are capped at welcome, not at the upgrade; other addresses still join', async () => {
    const srv = await server({ maxSessionsPerAddress: 3 });
    const mine = await Promise.all([0, 1, 2].map(() => player(srv, { from: ATTACKER })));
    expect(mine.every((c) => c.state === 'active')).toBe(true);
    const fourth = raw(srv);
    await waitFor(() => fourth.opened || fourth.closeCode !== undefined, 3000, 'fourth socket');
    // refused at the upgrade: the address holds its three sessions
    expect(fourth.status).toBe(503);
    const other = await player(srv, { from: HONEST });
    expect(other.state).toBe('active');
    mine[0].close();
    await waitFor(() => srv.sessions.size === 3, 3000, 'a session to end');
    const again = await player(srv, { from: ATTACKER });
    expect(again.state).toBe('active');
  });

  it('a WebRTC offer flood: one pending peer per session, the pending count never above its cap, honest clients still open WebRTC', async () => {
    const srv = await server({ webrtc: true, maxPendingPeers: 12, maxPendingPeersPerAddress: 1000 });
    const port = srv.rtc!.signalingPort;
    const offer = (token: string): Promise<number> =>
      fetch(`http://127.0.0.1:${port}/.wrtc/v2/connections`, { method: 'POST', headers: { authorization: token } }).then((r) => r.status, () => 0);
    // Sessions that want WebRTC but never complete it: the attacker's.
    const attackers = Array.from({ length: 30 }, () => raw(srv));
    for (const a of attackers) {
      await waitFor(() => a.opened, 3000, 'attacker socket');
      a.send(hello({ name: 'evil' }));
    }
    await waitFor(() => attackers.every((a) => a.controls.some((m) => m.t === 'welcome')), 5000, 'attacker welcomes');
    const tokens = attackers.map((a) => (a.controls.find((m) => m.t === 'welcome') as Extract<ServerControl, { t: 'welcome' }>).token);

    // one session, 40 concurrent offers: one is admitted
    const one = await Promise.all(Array.from({ length: 40 }, () => offer(tokens[0])));
    expect(one.filter((s) => s === 200)).toHaveLength(1);
    // the rest: refused for the session's pending peer (401), or for the global cap while they were admitted (503)
    expect(one.filter((s) => s === 401 || s === 503)).toHaveLength(39);
    expect(one.filter((s) => s === 401).length).toBeGreaterThan(0);
    // a retry once the attempt is a second old replaces it (a client whose first try failed); still one pending
    await new Promise((r) => setTimeout(r, DATAGRAM_RETRY_MS + 100));
    expect(await offer(tokens[0])).toBe(200);
    await waitFor(() => srv.inbound.pendingDatagrams() === 1, 2000, 'the stale attempt closed');

    // every session at once, twice over: never more pending than the cap
    let maxPending = 0;
    let polling = true;
    const poll = (async () => {
      while (polling) {
        maxPending = Math.max(maxPending, promValue(await metrics(srv), 'tickwire_webrtc_pending_peers') ?? 0);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const all = await Promise.all([...tokens.slice(1), ...tokens.slice(1)].map(offer));
    polling = false;
    await poll;
    expect(all.filter((s) => s === 200).length).toBeLessThanOrEqual(12 - 1);
    expect(all.filter((s) => s === 503).length).toBeGreaterThan(0);
    expect(maxPending).toBeLessThanOrEqual(12);
    expect(srv.inbound.pendingDatagrams()).toBeLessThanOrEqual(12);
    cleanups.push(() => undefined);
  });

  it('with the per-address pending cap, an attacker holding its share leaves WebRTC to honest clients at another address', async () => {
    const srv = await server({ webrtc: true, maxPendingPeersPerAddress: 4, maxPendingPeers: 128 });
    const port = srv.rtc!.signalingPort;
    const attackers = Array.from({ length: 10 }, () => raw(srv));
    for (const a of attackers) {
      await waitFor(() => a.opened, 3000, 'attacker socket');
      a.send(hello({ name: 'evil' }));
    }
    await waitFor(() => attackers.every((a) => a.controls.some((m) => m.t === 'welcome')), 5000, 'attacker welcomes');
    const statuses = await Promise.all(
      attackers.map((a) => {
        const w = a.controls.find((m) => m.t === 'welcome') as Extract<ServerControl, { t: 'welcome' }>;
        return fetch(`http://127.0.0.1:${port}/.wrtc/v2/connections`, { method: 'POST', headers: { authorization: w.token } }).then((r) => r.status);
      }),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(4);
    const m = await metrics(srv);
    expect(promValue(m, 'tickwire_connections_refused_total', { reason: 'address_pending' })).toBe(6);
    const honest = await Promise.all([player(srv, { webrtc: true }), player(srv, { webrtc: true })]);
    await waitFor(() => honest.every((c) => c.transport === 'webrtc'), 10_000, 'honest clients on WebRTC');
  });
});

describe('attacks: amplification and griefing', { timeout: 60_000 }, () => {
  it('room amplification: a burst of hello-and-leave naming new rooms creates a few cheap rooms, disposed soon; matchmaking never puts an honest player in them', async () => {
    const srv = await server({ gameParams: { npcs: 500 }, roomCreatesPerAddressPerMin: 10, roomUnusedGraceMs: 1000 });
    // the trap: a room the attacker made and stays in, with space
    const trap = await player(srv, { from: ATTACKER, room: 'trap', name: 'jailer' });
    expect(trap.state).toBe('active');
    const outcomes: (number | 'welcome')[] = [];
    const burst: Raw[] = [];
    for (let i = 0; i < 63; i++) {
      const r = raw(srv);
      burst.push(r);
      await waitFor(() => r.opened || r.closeCode !== undefined, 3000, 'burst socket');
      r.send(hello({ name: `b${i}`, room: `evil-${i}` }));
    }
    await waitFor(() => burst.every((r) => r.controls.some((m) => m.t === 'welcome' || m.t === 'reject')), 5000, 'burst answers');
    for (const r of burst) {
      const m = r.controls.find((x) => x.t === 'welcome' || x.t === 'reject')!;
      outcomes.push(m.t === 'welcome' ? 'welcome' : (m as Extract<ServerControl, { t: 'reject' }>).code);
      r.send({ t: 'leave' });
    }
    // the trap took one of the ten, so nine more were created; the rest were refused with a reason
    expect(outcomes.filter((o) => o === 'welcome')).toHaveLength(9);
    expect(outcomes.filter((o) => o === RejectCode.RoomCreateLimit)).toHaveLength(54);
    const evil = srv.rooms.list.filter((r) => r.name.startsWith('evil-'));
    expect(evil).toHaveLength(9);
    // client-named rooms start with the game's client-room parameters, not the server's 500 NPCs
    expect(evil.every((r) => r.ctx.params.npcs === 50 && r.info().entities <= 51)).toBe(true); // 50 NPCs and the creator
    const m = await metrics(srv);
    expect(promValue(m, 'tickwire_room_creates_refused_total', { budget: 'address' })).toBe(54);

    // an honest player matchmade from another address is not put in the attacker's rooms
    const honest = await player(srv, { from: HONEST });
    expect(honest.welcome!.room).toMatch(/^arena-v1-/);
    // rooms nobody played in are gone within their short grace
    await waitFor(() => srv.rooms.list.every((r) => !r.name.startsWith('evil-')), 4000, 'unused rooms disposed');
    expect(srv.rooms.get('trap')).toBeDefined();
  });

  it('chat spam from 8 sessions ends no honest session: the senders are held to their rate', async () => {
    const srv = await server({ roomCapacity: 16 });
    const honest = await player(srv, { from: HONEST, room: 'lobby', name: 'victim' });
    const spammers = await Promise.all(Array.from({ length: 8 }, (_, i) => player(srv, { from: ATTACKER, room: 'lobby', name: `spam${i}` })));
    const t0 = Date.now();
    let sent = 0;
    while (Date.now() - t0 < 5000) {
      for (const s of spammers) for (let k = 0; k < 7; k++, sent++) s.sendControl({ t: 'chat', text: `spam ${sent}` });
      await new Promise((r) => setTimeout(r, 200)); // 8 x 35 = 280 chat messages a second
    }
    await new Promise((r) => setTimeout(r, 1500));
    expect(honest.state).toBe('active');
    expect(srv.sessions.size).toBe(9);
    const controls = (honest as Connection & { controls: ServerControl[] }).controls;
    expect(controls.some((m) => m.t === 'bye')).toBe(false);
    const chats = controls.filter((m) => m.t === 'chat').length;
    const m = await metrics(srv);
    const dropped = promValue(m, 'tickwire_chat_dropped_total', { reason: 'sender_rate' }) ?? 0;
    expect(sent).toBeGreaterThan(1200);
    // each sender: a burst of 20, then 5 a second
    expect(chats).toBeLessThanOrEqual(8 * (20 + 5 * 7));
    expect(dropped).toBeGreaterThan(sent - 8 * (20 + 5 * 7));
  });

  it('a receiver that never acknowledges gets no more chat past its backlog, and keeps its session', async () => {
    const srv = await server({ maxReceiverBacklog: 20, chatPerSec: 100 });
    const deaf = raw(srv, HONEST);
    await waitFor(() => deaf.opened, 3000, 'deaf socket');
    deaf.send(hello({ name: 'deaf', room: 'hall' }));
    await waitFor(() => deaf.controls.some((m) => m.t === 'welcome'), 3000, 'deaf welcome');
    const talker = await player(srv, { from: ATTACKER, room: 'hall', name: 'talker' });
    for (let i = 0; i < 60; i++) talker.sendControl({ t: 'chat', text: `hi ${i}` });
    await waitFor(() => talker.counters.snapshots > 10, 3000, 'time passes');
    const m = await metrics(srv);
    expect(promValue(m, 'tickwire_chat_dropped_total', { reason: 'receiver_behind' })).toBeGreaterThan(0);
    expect(deaf.controls.filter((c) => c.t === 'chat').length).toBeLessThanOrEqual(21);
    expect(deaf.closeCode).toBeUndefined();
  });

  it('geckos connection ids do not come from Math.random', async () => {
    const events = { admit: () => 7, onOpen: () => undefined, onMessage: () => undefined, onClose: () => undefined };
    const t = await startGeckosTransport({ host: '127.0.0.1', signalingPort: 0, udpPortMin: 0, udpPortMax: 0, iceServers: [], maxPendingPeers: 8, maxMessageBytes: 4096 }, events, { info: () => undefined, warn: () => undefined, error: () => undefined });
    const random = Math.random;
    try {
      Math.random = () => 0; // an attacker who knows the generator's state knows every id it makes
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`http://127.0.0.1:${t.signalingPort}/.wrtc/v2/connections`, { method: 'POST', headers: { authorization: 'x' } });
        ids.push(((await res.json()) as { id: string }).id);
      }
      expect(ids.every((id) => /^[0-9A-Za-z]{24}$/.test(id))).toBe(true);
      expect(new Set(ids).size).toBe(3);
    } finally {
      Math.random = random;
      await t.stop();
    }
  });
});

describe('attacks: smaller findings', { timeout: 30_000 }, () => {
  it('names: control, bidi-override and zero-width characters are stripped, length is bounded, a copy gets a number', async () => {
    const srv = await server();
    const a = await player(srv, { room: 'names', name: 'Bob' });
    const b = await player(srv, { room: 'names', name: '\u202Ebob\u200B\u0007' });
    const c = await player(srv, { room: 'names', name: ` ${'W'.repeat(30)} ` });
    const room = srv.rooms.get('names')!;
    const names = room.players.map((p) => p.name);
    expect(names).toEqual(['Bob', 'bob 2', 'W'.repeat(24)]);
    // the others hear of each newcomer by its room name (a client of this release: in roster messages, within a snapshot interval or two)
    const joined = (): string[] => (a as Connection & { controls: ServerControl[] }).controls.flatMap((m) => (m.t === 'roster' ? m.players.map((p) => p.name) : m.t === 'joined' ? [m.name] : []));
    await waitFor(() => joined().length >= 2, 2000, 'newcomers announced');
    expect(joined()).toEqual(['bob 2', 'W'.repeat(24)]);
    expect([b.state, c.state]).toEqual(['active', 'active']);
  });

  it('every refused hello gets a reject with a reason code (malformed ones too)', async () => {
    const srv = await server();
    const cases: [Record<string, unknown>, number][] = [
      [{ t: 'hello', v: PROTOCOL_VERSION, hash: configHash(arena), name: 'x'.repeat(3000) }, RejectCode.BadMessage],
      [{ t: 'hello', v: 1.5, hash: configHash(arena), name: 'f' }, RejectCode.BadMessage],
      [{ t: 'hello', v: PROTOCOL_VERSION, hash: configHash(arena), name: 'r', room: '../etc' }, RejectCode.BadRoomName],
      [{ t: 'hello', v: PROTOCOL_VERSION, hash: configHash(arena), name: 'p', room: 'p1', params: { npcs: 5000 } }, RejectCode.BadRoomParams],
      [{ t: 'hello', v: PROTOCOL_VERSION, hash: 12345, name: 'h' }, RejectCode.ConfigMismatch],
    ];
    for (const [msg, code] of cases) {
      const r = raw(srv, HONEST);
      await waitFor(() => r.opened, 3000, 'socket');
      r.ws.send(encodeControl(msg as unknown as ClientControl));
      await waitFor(() => r.closeCode !== undefined, 3000, `close after ${JSON.stringify(msg).slice(0, 60)}`);
      const reject = r.controls.find((m) => m.t === 'reject') as Extract<ServerControl, { t: 'reject' }> | undefined;
      expect(reject?.code).toBe(code);
      expect(r.closeCode).toBe(4000 + code);
    }
  });

  it('a signaling request that never completes is closed at its timeout', async () => {
    const events = { admit: () => 0, onOpen: () => undefined, onMessage: () => undefined, onClose: () => undefined };
    const t = await startGeckosTransport({ host: '127.0.0.1', signalingPort: 0, udpPortMin: 0, udpPortMax: 0, iceServers: [], maxPendingPeers: 8, maxMessageBytes: 4096, signalingRequestTimeoutMs: 1500 }, events, { info: () => undefined, warn: () => undefined, error: () => undefined });
    const closesAfterMs = async (bytes: string): Promise<number> => {
      const sock = connect(t.signalingPort, '127.0.0.1');
      sock.on('error', () => undefined);
      sock.resume(); // read (and drop) the answer, or the close is never seen
      await new Promise((r) => sock.once('connect', r));
      const t0 = Date.now();
      sock.write(bytes);
      const closed = await Promise.race([new Promise<boolean>((r) => sock.once('close', () => r(true))), new Promise<boolean>((r) => setTimeout(() => r(false), 8000))]);
      sock.destroy();
      return closed ? Date.now() - t0 : -1;
    };
    try {
      // headers that never end (a slow client): closed at the header timeout, half the request timeout
      const slow = await closesAfterMs('POST /.wrtc/v2/connections HTTP/1.1\r\nHost: x\r\n');
      expect(slow).toBeGreaterThan(500);
      expect(slow).toBeLessThan(2500);
      // a body that never comes on a route geckos answers without reading it: closed once answered
      const answered = await closesAfterMs('POST /.wrtc/v2/connections HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{');
      expect(answered).toBeGreaterThanOrEqual(0);
      expect(answered).toBeLessThan(1000);
      // and where the body is read: closed at the request timeout (Node checks once a second here, not every 30 s)
      const read = await closesAfterMs('POST /.wrtc/v2/connections/abcdefghijklmnopqrstuvwx/remote-description HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{');
      expect(read).toBeGreaterThan(1000);
      expect(read).toBeLessThan(3000);
    } finally {
      await t.stop();
    }
  });

  it('a room created private is not listed; others can still join it by name', async () => {
    const srv = await server();
    const host = await player(srv, { room: 'secret', privateRoom: true, name: 'host' });
    await player(srv, { room: 'open', name: 'other' });
    const listed = ((await (await fetch(`${urlOf(srv)}/rooms`)).json()) as { rooms: { name: string }[] }).rooms.map((r) => r.name);
    expect(listed).toContain('open');
    expect(listed).not.toContain('secret');
    const guest = await player(srv, { room: 'secret', name: 'guest' });
    expect(guest.welcome!.room).toBe('secret');
    expect(host.state).toBe('active');
  });

  it('bots can connect to a server that checks Origin (--origin)', async () => {
    const srv = await server({ allowedOrigins: ['http://game.example'] });
    const withOrigin = await runBots({ ...parseBotsArgs(['--url', urlOf(srv), '--count', '2', '--seconds', '1', '--origin', 'http://game.example']), inProcess: true });
    expect(withOrigin.summary.connected).toBe(2);
    const without = await runBots({ ...parseBotsArgs(['--url', urlOf(srv), '--count', '1', '--seconds', '1']), inProcess: true });
    expect(without.summary.connected).toBe(0);
  });
});
