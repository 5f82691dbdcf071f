// No dead metrics: a short soak against a real server drives every path a counter counts (bots
// over the WebSocket and WebRTC, a lossy link, chat, a resume, hostile and broken clients, a stall,
// an inbox flood), then every counter family on /metrics must have moved.
import WebSocket from 'ws';
import { afterAll, describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { conditionClientIO } from '../netcode/conditioned-io.ts';
import { Connection } from '../netcode/connection.ts';
import type { TickwireServer } from '../server/server.ts';
import { configHash, PROTOCOL_VERSION } from '../shared/config.ts';
import { defaultLinkSettings } from '../shared/net/link-conditioner.ts';
import { BitWriter } from '../shared/protocol/bits.ts';
import { decodeServerControl, encodeControl, type ClientControl, type ServerControl } from '../shared/protocol/control.ts';
import { CloseCode, MsgType, RejectCode } from '../shared/protocol/ids.ts';
import { writeInputPacket } from '../shared/protocol/input.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { SNAPSHOT_ACK_BYTES, SNAPSHOT_ACK_NONE, writeSnapshotAck } from '../shared/protocol/snapshot.ts';
import { nodeClientIO } from '../tools/node-client/io.ts';
import { promValue } from '../tools/measure/prom.ts';
import { connectClient, cuttableIO, scrapeMetrics, startTestServer, urlOf, waitFor } from './helpers/server.ts';
import { LoopbackWorld } from './helpers/client-loopback.ts';
import { createGallery } from '../games/gallery.ts';
import { parsePromText } from '../tools/measure/prom.ts';
import type { ServerConfig } from '../server/config.ts';

/**
 * Counter families this soak cannot move, each with the reason. Every other counter family must
 * have a non-zero sample after the soak.
 */
const ALLOWLIST: ReadonlyMap<string, string> = new Map<string, string>([
  // A fleet of one has no lease: these move on a fleet member on Redis, and test/fleet-server.test.ts
  // (real server processes and redis-server) checks each of them moves.
  ['tickwire_spectator_inputs_ignored_total', 'a spectator sending inputs (test/spectators.test.ts)'],
  ['tickwire_spectator_stream_packets_total', 'the soak has no spectators: spectators on a shared stream (test/spectator-stream.test.ts)'],
  ['tickwire_spectator_stream_keyframes_total', 'spectators joining a shared stream and one backing up (test/spectator-stream.test.ts)'],
  ['tickwire_spectator_cameras_total', 'arena-v1 has no views to aim; spectator cameras of arena-v2, each outcome (test/spectator-camera.test.ts)'],
  // Rooms are recorded only with recordRooms (off by default): test/replay.test.ts records a tag match and checks both move.
  ['tickwire_replay_bytes_total', 'recordRooms is off by default (test/replay.test.ts)'],
  ['tickwire_replays_total', 'recordRooms is off by default (test/replay.test.ts)'],
  // The soak reads no feed: test/feed.test.ts (a real server, readers over HTTP) checks each moves.
  ['tickwire_feed_events_sent_total', 'feed readers (test/feed.test.ts)'],
  ['tickwire_feed_events_dropped_total', 'a feed reader that stops reading (test/feed.test.ts)'],
  ['tickwire_feed_refused_total', 'feed readers over the limits (test/feed.test.ts)'],
  ['tickwire_fleet_lease_renewals_total', 'leases exist only on Redis (test/fleet-server.test.ts)'],
  ['tickwire_fleet_lease_failures_total', 'Redis outage (test/fleet-server.test.ts)'],
  ['tickwire_fleet_leases_lost_total', 'Redis outage (test/fleet-server.test.ts)'],
  ['tickwire_fleet_room_conflicts_total', 'a member frozen past its lease (test/fleet-server.test.ts)'],
  ['tickwire_fleet_rooms_handed_off_total', 'rooms move between members on Redis only (test/handoff.test.ts)'],
  ['tickwire_fleet_rooms_received_total', 'rooms move between members on Redis only (test/handoff.test.ts)'],
  ['tickwire_fleet_handoffs_refused_total', 'a member of another game version refusing a room (test/handoff.test.ts)'],
  ['tickwire_fleet_handoff_bytes_total', 'rooms move between members on Redis only (test/handoff.test.ts)'],
  // arena-v1 declares no lag compensation: these move in the lag-compensation test below.
  ['tickwire_lagcomp_claims_total', 'arena-v1 has no hitboxes; moved by "moves the lag-compensation counters" below'],
  ['tickwire_lagcomp_hit_tests_total', 'arena-v1 has no hitboxes; moved by "moves the lag-compensation counters" below'],
  // The Agones lifecycle runs only with TICKWIRE_AGONES and an SDK sidecar: test/agones.test.ts (the
  // real SDK client against an in-process gRPC sidecar) checks each of them moves.
  ['tickwire_agones_health_pings_total', 'Agones health pings need the SDK sidecar (test/agones.test.ts)'],
  ['tickwire_agones_stream_failures_total', 'a broken Agones health or watch stream (test/agones.test.ts)'],
  ['tickwire_agones_label_updates_total', 'Agones labels need the SDK sidecar (test/agones.test.ts)'],
]);

/**
 * Samples the soak moves on purpose; each must be non-zero. Samples not listed here may stay at 0:
 * the `loopback` channel (no loopback transport in a uWS server; the in-process test world uses
 * it) and `tickwire_snapshot_full_fallbacks_total{reason="forced"}` (only an encoder that sends
 * nothing but full snapshots counts it: FullSnapshotEncoder, as the loopback test world runs).
 */
const TARGETS: [string, Record<string, string>][] = [
  ...(['in', 'out'] as const).flatMap((direction) =>
    (['ws', 'webrtc'] as const).flatMap((channel): [string, Record<string, string>][] => [
      ['tickwire_bytes_total', { direction, channel }],
      ['tickwire_messages_total', { direction, channel }],
    ])),
  ...['control', 'input', 'ack', 'view', 'unknown'].map((message): [string, Record<string, string>] => ['tickwire_decode_errors_total', { message }]),
  ['tickwire_send_failures_total', { channel: 'ws' }],
  ['tickwire_resumes_total', { outcome: 'ok' }],
  ['tickwire_resumes_total', { outcome: 'failed' }],
  ...['received', 'applied', 'duplicate', 'late', 'lost', 'repeated'].map((outcome): [string, Record<string, string>] => ['tickwire_inputs_total', { outcome }]),
  // the bots' acks ride in their input packets; the raw clients' acks travel alone
  ['tickwire_snapshot_acks_total', { carrier: 'input' }],
  ['tickwire_snapshot_acks_total', { carrier: 'standalone' }],
  ['tickwire_snapshots_total', { kind: 'full' }],
  ['tickwire_snapshots_total', { kind: 'delta' }],
  ['tickwire_snapshot_full_fallbacks_total', { reason: 'no_ack' }],
  ['tickwire_snapshot_full_fallbacks_total', { reason: 'baseline_gone' }],
  ['tickwire_chat_dropped_total', { reason: 'sender_rate' }],
  ['tickwire_chat_dropped_total', { reason: 'receiver_behind' }],
  ['tickwire_room_creates_refused_total', { budget: 'address' }],
  ['tickwire_room_creates_refused_total', { budget: 'server' }],
  ['tickwire_connections_refused_total', { reason: 'token' }],
  ['tickwire_admin_unauthorized_total', {}],
  ['tickwire_fleet_seats_granted_total', {}],
  ['tickwire_fleet_seats_refused_total', {}],
  ['tickwire_fleet_seats_claimed_total', {}],
  ['tickwire_fleet_seats_claim_refused_total', {}],
  ['tickwire_fleet_seats_expired_total', {}],
];

const schema = compileSchema(arena);
const ROOM = 'soak';

/** A hand-driven WebSocket client: sends what the test says, records control messages, snapshot ticks and the close code. */
interface RawClient {
  ws: WebSocket;
  msgs: ServerControl[];
  /** Tick of the newest snapshot packet received, -1 before any. */
  snapshotTick: number;
  /** WebSocket close code, 0 while open. */
  closeCode: number;
  send(bytes: Uint8Array): void;
  control(msg: ClientControl): void;
}

const raws: RawClient[] = [];
const bots: Connection[] = [];
let srv: TickwireServer | undefined;

afterAll(async () => {
  for (const c of bots) c.close();
  for (const r of raws) r.ws.terminate();
  await srv?.stop();
});

async function rawOpen(server: TickwireServer, localAddress = '127.0.0.1'): Promise<RawClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${server.http!.port}/ws`, { perMessageDeflate: false, localAddress });
  const r: RawClient = {
    ws, msgs: [], snapshotTick: -1, closeCode: 0,
    send: (bytes) => {
      if (ws.readyState === WebSocket.OPEN) ws.send(bytes);
    },
    control: (msg) => r.send(encodeControl(msg)),
  };
  ws.on('message', (d: Buffer) => {
    if (d[0] === MsgType.Control) r.msgs.push(decodeServerControl(new Uint8Array(d)));
    else if (d[0] === MsgType.Snapshot) r.snapshotTick = d.readUInt32LE(2);
  });
  ws.on('close', (code) => {
    r.closeCode = code;
  });
  ws.on('error', () => undefined);
  raws.push(r);
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return r;
}

async function rawJoin(server: TickwireServer, name: string): Promise<RawClient & { eid: number }> {
  const r = await rawOpen(server);
  r.control({ t: 'hello', v: PROTOCOL_VERSION, hash: configHash(arena), name, room: ROOM, wsOnly: true });
  await waitFor(() => r.msgs.some((m) => m.t === 'welcome'), 3000, `${name} welcome`);
  const w = r.msgs.find((m) => m.t === 'welcome') as Extract<ServerControl, { t: 'welcome' }>;
  return Object.assign(r, { eid: w.eid });
}


function ack(tick: number): Uint8Array {
  return writeSnapshotAck(new Uint8Array(SNAPSHOT_ACK_BYTES), tick, 0);
}

describe('no dead metrics', () => {
  it('moves every counter family in a short soak', async () => {
    const t0 = Date.now();
    srv = await startTestServer({
      webrtc: true, clientTimeoutMs: 1000, handshakeTimeoutMs: 500, inboxBytes: 64 * 1024, resumeGraceMs: 10_000, gameParams: { npcs: 200 },
      roomCreatesPerAddressPerMin: 1, roomCreatesPerSec: 1, maxReceiverBacklog: 16, clientRoomParams: { npcs: 200 }, adminToken: 'soak-admin-token-0123456789',
      seatTtlMs: 1000, matchmakePerSec: 100,
    });
    const server = srv;
    const stats = server.stats;

    // ---- players: two over the WebSocket, one over WebRTC, one on a lossy link, one that will resume
    const chats: string[] = [];
    const a = await connectClient(server, { name: 'ws-a', room: ROOM, transport: 'ws' }, { onControl: (m) => m.t === 'chat' && chats.push(m.text) });
    const b = await connectClient(server, { name: 'ws-b', room: ROOM, transport: 'ws' });
    const rtc = await connectClient(server, { name: 'rtc', room: ROOM, transport: 'auto', webrtcTimeoutMs: 8000 });
    const lossyLink = conditionClientIO(nodeClientIO({ webrtc: false }), {
      settings: { ...defaultLinkSettings(), enabled: true, lossPct: 50 }, seed: 3,
      timers: { nowMs: () => performance.now(), setTimer: (fn, ms) => setTimeout(fn, ms) }, lossyWebSocket: true,
    });
    const lossy = new Connection(arena, lossyLink.io, { url: urlOf(server), name: 'lossy', room: ROOM, transport: 'ws' });
    lossy.connect();
    const link = cuttableIO();
    const resumer = new Connection(arena, link.io, { url: urlOf(server), name: 'resumer', room: ROOM, transport: 'ws' });
    resumer.connect();
    bots.push(a, b, rtc, lossy, resumer);
    await waitFor(() => bots.every((c) => c.state === 'active'), 5000, 'every bot welcomed');
    const room = server.rooms.get(ROOM)!;

    // Every bot sends one input per room tick (inputRedundancy 4: each packet repeats the last 4).
    let lastTick = room.ctx.tick;
    const driver = setInterval(() => {
      while (lastTick < room.ctx.tick) {
        lastTick++;
        for (const c of bots) if (c.state === 'active') c.sendInput({ dir: 1 + (lastTick % 8) }, lastTick + 2);
      }
    }, 4);
    try {
      await waitFor(() => rtc.transport === 'webrtc', 10_000, 'WebRTC channel');
      a.sendControl({ t: 'chat', text: 'hello soak' });
      a.ping();

      // ---- broken and hostile clients, each on its own connection
      // A refused hello (wrong protocol version).
      const refused = await rawOpen(server);
      refused.control({ t: 'hello', v: PROTOCOL_VERSION + 100, hash: configHash(arena), name: 'old' });
      // A connection that never says hello.
      const silent = await rawOpen(server);
      // A resume with a token nobody holds.
      const stranger = await rawOpen(server);
      stranger.control({ t: 'resume', v: PROTOCOL_VERSION, hash: configHash(arena), token: 'a'.repeat(32) });
      // A player that stops acknowledging snapshots (it reads them, and never acks).
      const mute = await rawJoin(server, 'mute');
      // A player that acknowledges a snapshot far older than the history (every baseline gone), and keeps restating it.
      const stale = await rawJoin(server, 'stale');
      await waitFor(() => stale.snapshotTick > 0, 3000, 'stale: first snapshot');
      const staleTick = Math.max(0, room.ctx.tick - 4 * server.config.net.snapshotHistoryTicks);
      const staleAcks = setInterval(() => stale.send(ack(staleTick)), 50);
      // A player whose inputs are duplicated, replayed late, and far from the room's tick; then malformed messages until it is dropped.
      const mal = await rawJoin(server, 'mal');
      const w = new BitWriter(64);
      // Four inputs in one packet wait three ticks or more; the same packet again finds copies waiting.
      const inputs = writeInputPacket(w, schema, 3, room.ctx.tick + 1, 4, [1, 1, 1, 1]).slice();
      mal.send(inputs);
      mal.send(inputs);
      await waitFor(() => stats.inputs.duplicates > 0, 2000, 'duplicate inputs');
      await new Promise((r) => setTimeout(r, 150));
      mal.send(inputs); // again once applied: late copies
      mal.send(writeInputPacket(w, schema, 10, room.ctx.tick + 100_000, 1, [1]).slice()); // a far tick
      mal.send(new Uint8Array([MsgType.Control, 0xc1])); // not msgpack
      mal.send(new Uint8Array([MsgType.Input, 0, 0])); // short input packet
      mal.send(new Uint8Array([MsgType.SnapshotAck, 0, 0])); // short ack
      mal.send(new Uint8Array([MsgType.ViewClaim, 0])); // view claims with no claim
      for (let i = 0; i < server.config.maxBadMessages; i++) mal.send(new Uint8Array([9, i])); // unknown type
      // A burst far above the rate limit.
      const burst = await rawJoin(server, 'burst');
      const none = ack(SNAPSHOT_ACK_NONE);
      for (let i = 0; i < server.config.maxMessagesPerSec * 3; i++) burst.send(none);

      // A message answered after its connection closed: the send fails. The close often lands in the
      // same inbox drain as the ping; a few attempts make sure one does.
      for (let i = 0; i < 20 && stats.sendFailures.ws === 0; i++) {
        const gone = await rawOpen(server);
        gone.control({ t: 'ping', id: i, ms: 0 });
        gone.ws.terminate();
        await new Promise((r) => setTimeout(r, 40));
      }

      // A dropped connection, resumed.
      link.cut();
      await waitFor(() => resumer.state === 'resuming', 3000, 'resumer noticed the drop');
      await new Promise((r) => setTimeout(r, 200));
      link.heal();
      await waitFor(() => resumer.state === 'active' && resumer.counters.resumes === 1, 5000, 'resumed');

      await waitFor(() => refused.msgs.some((m) => m.t === 'reject' && m.code === RejectCode.ProtocolVersion), 3000, 'refused hello');
      await waitFor(() => stranger.msgs.some((m) => m.t === 'reject' && m.code === RejectCode.ResumeFailed), 3000, 'failed resume');
      await waitFor(() => silent.closeCode === 4000 + RejectCode.BadMessage, 3000, 'handshake timeout');
      await waitFor(() => mal.closeCode === 4100 + CloseCode.TooManyBadMessages, 3000, 'bad messages disconnect');
      await waitFor(() => burst.closeCode === 4100 + CloseCode.RateLimited, 3000, 'rate limit disconnect');
      await waitFor(() => mute.closeCode === 4100 + CloseCode.Timeout, 4000, 'client timeout');
      await waitFor(() => stats.encoder.fullBaselineGone > 0, 3000, 'full snapshot: baseline gone');
      clearInterval(staleAcks);
      await waitFor(() => chats.includes('hello soak'), 3000, 'chat relayed');

      // Griefing, held to its rates: chat and events beyond a sender's budget, a receiver that never
      // acknowledges, rooms named faster than the address and the server may create them, and
      // WebRTC offers with a token nobody holds.
      const deaf = await rawOpen(server);
      deaf.control({ t: 'hello', v: PROTOCOL_VERSION, hash: configHash(arena), name: 'deaf', room: ROOM });
      await waitFor(() => deaf.msgs.some((m) => m.t === 'welcome'), 3000, 'deaf welcome');
      for (let i = 0; i < 5 * server.config.chatPerSec; i++) a.sendControl({ t: 'chat', text: `spam ${i}` });
      for (let i = 0; i < 5 * server.config.eventsPerSec; i++) a.sendControl({ t: 'event', name: 'spam' });
      await waitFor(() => stats.chatDropped.sender_rate > 0 && stats.chatDropped.receiver_behind > 0 && stats.eventsDropped > 0, 3000, 'chat and events held');
      // 127.0.0.1 spent its one room on ROOM; 127.0.0.2 takes the server's one room this second, 127.0.0.3 finds none left
      const namers = await Promise.all([rawOpen(server), rawOpen(server, '127.0.0.2'), rawOpen(server, '127.0.0.3')]);
      for (const [i, n] of namers.entries()) n.control({ t: 'hello', v: PROTOCOL_VERSION, hash: configHash(arena), name: `namer${i}`, room: `named-${i}` });
      await waitFor(() => namers.every((n) => n.msgs.some((m) => m.t === 'welcome' || m.t === 'reject')), 3000, 'room namers answered');
      expect(stats.roomCreatesRefused.address).toBeGreaterThan(0);
      expect(stats.roomCreatesRefused.server).toBeGreaterThan(0);
      const bad = await fetch(`http://127.0.0.1:${server.rtc!.signalingPort}/.wrtc/v2/connections`, { method: 'POST', headers: { authorization: 'f'.repeat(32) } });
      expect(bad.status).toBe(401);
      expect(stats.refused.token).toBeGreaterThan(0);
      // An admin request with a wrong token.
      const guess = await fetch(`${urlOf(server)}/admin/rooms`, { headers: { authorization: 'Bearer not-the-admin-token' } });
      expect(guess.status).toBe(401);
      // Matchmaking in a fleet of one: a seat taken, the same seat again, another game, a seat left to expire.
      const mm = (body: object): Promise<Response> => fetch(`${urlOf(server)}/matchmake`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const granted = (await (await mm({ name: 'seated' })).json()) as { seat: string; room: string };
      for (let i = 0; i < 2; i++) {
        const seated = await rawOpen(server);
        seated.control({ t: 'hello', v: PROTOCOL_VERSION, hash: configHash(arena), name: 'seated', seat: granted.seat, room: granted.room, wsOnly: true });
        await waitFor(() => seated.msgs.some((m) => m.t === 'welcome' || m.t === 'reject'), 3000, 'seat answered');
        expect(seated.msgs[0].t).toBe(i === 0 ? 'welcome' : 'reject');
      }
      expect((await mm({ name: 'x', game: 'orbit' })).status).toBe(409);
      await mm({ name: 'unused' });
      await new Promise((r) => setTimeout(r, server.config.seatTtlMs + 50));
      await mm({ name: 'later' });
      expect(server.fleet.fleet.stats.seatsExpired).toBeGreaterThan(0);
      await waitFor(() => stats.inputs.dropped > 0 && stats.inputs.repeated > 0, 5000, 'lost and repeated inputs');
      expect(stats.sendFailures.ws, 'a send to a closed connection').toBeGreaterThan(0);

      // An inbox flood: more than inboxBytes between two ticks from one connection.
      const flood = await rawOpen(server);
      const big = new Uint8Array(server.config.wsMaxPayloadBytes - 16).fill(9);
      for (let i = 0; i < Math.ceil((2 * server.config.inboxBytes) / big.length); i++) flood.send(big);
      await waitFor(() => stats.queueDropped > 0, 3000, 'inbox overflow');

      // A stall: this process (and the server loop in it) blocks for longer than maxCatchUpTicks.
      const stallMs = (3 * server.config.maxCatchUpTicks * 1000) / server.config.net.tickRateHz;
      const until = performance.now() + stallMs;
      while (performance.now() < until) {
        // busy: nothing else runs
      }
      await waitFor(() => stats.skippedTicks > 0, 2000, 'skipped ticks');
    } finally {
      clearInterval(driver);
    }

    // ---- every counter family moved
    const { samples, families } = await scrapeMetrics(server);
    const counters = [...families].filter(([, type]) => type === 'counter').map(([name]) => name);
    expect(counters.length).toBeGreaterThan(20);
    for (const name of ALLOWLIST.keys()) expect(counters, `allowlisted ${name} is exported`).toContain(name);
    const dead = counters.filter((name) => !ALLOWLIST.has(name) && !samples.some((s) => s.name === name && s.value > 0));
    expect(dead, 'counter families still at 0').toEqual([]);
    const flat = TARGETS.filter(([name, labels]) => promValue(samples, name, labels) === 0).map(([name, labels]) => `${name}${JSON.stringify(labels)}`);
    expect(flat, 'targeted samples still at 0').toEqual([]);
    // the tick's phases: every tick simulates; snapshot ticks encode and hand their queued packets off after the timed part
    const count = (name: string): number => promValue(samples, `${name}_count`);
    for (const name of ['tickwire_tick_simulate_seconds', 'tickwire_tick_encode_seconds', 'tickwire_tick_send_seconds', 'tickwire_tick_handoff_seconds']) {
      expect(count(name), name).toBeGreaterThan(0);
    }
    expect(count('tickwire_tick_simulate_seconds')).toBe(count('tickwire_tick_duration_seconds'));
    expect(count('tickwire_tick_handoff_seconds')).toBe(count('tickwire_tick_send_seconds'));
    expect(count('tickwire_tick_encode_seconds')).toBeGreaterThanOrEqual(count('tickwire_tick_send_seconds'));
    // the whole (tick start to the last packet handed off) is never shorter than the timed tick
    expect(promValue(samples, 'tickwire_tick_handoff_seconds_sum')).toBeGreaterThan(promValue(samples, 'tickwire_tick_encode_seconds_sum'));
    expect(Date.now() - t0, 'soak wall time').toBeLessThan(40_000);
  }, 60_000);
});

describe('no dead lag-compensation metrics', () => {
  /**
   * A gallery room on the loopback world (fake clock) with a shooter behind 150 ms RTT whose view
   * claims are sent as made, or forged (too old, in the future), or dropped; returns the metrics.
   */
  async function shoot(config: Partial<ServerConfig>, forge: (tick: number, shot: number) => number | undefined): Promise<string> {
    const w = new LoopbackWorld({ game: createGallery(), config });
    const c = w.addClient({ seed: 5, link: { enabled: true, delayMs: 75 } });
    const claims = c.netcode.claims!;
    const message = claims.message.bind(claims);
    let shot = 0;
    claims.message = (seq, count) => {
      const m = message(seq, count);
      if (!m) return m;
      // the claim's tick (bytes 4..7 of the first claim), rewritten or the message dropped
      const tick = m[4] | (m[5] << 8) | (m[6] << 16) | (m[7] << 24);
      const forged = forge(tick >>> 0, shot);
      if (forged === undefined) return undefined;
      m[4] = forged & 0xff;
      m[5] = (forged >>> 8) & 0xff;
      m[6] = (forged >>> 16) & 0xff;
      m[7] = forged >>> 24;
      m[8] = 0; // span 0: the forged tick is taken as a plain render tick
      return m;
    };
    c.input = { fire: 0, ax: 500, ay: 100 };
    let frame = 0;
    w.run(8000, (cl, now) => {
      frame++;
      const fire = now > 2000 && frame % 15 === 0;
      if (fire) shot++;
      cl.input = { fire: fire ? 1 : 0, ax: 500, ay: 100 };
    });
    return w.server.metricsText();
  }

  it('moves the lag-compensation counters: every claim outcome and the hit tests', async () => {
    // shots cycle: honest, far too old, in the future, claim dropped
    const text = await shoot({}, (tick, n) => [tick, Math.max(0, tick - 50), tick + 60, undefined][n % 4]);
    const capped = await shoot({ lagCompMaxRewindMs: 100 }, (tick) => tick);
    const samples = [...parsePromText(text), ...parsePromText(capped)];
    const sum = (name: string, labels: Record<string, string> = {}): number => samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((a, s) => a + s.value, 0);
    for (const outcome of ['accepted', 'clamped_cap', 'clamped_inconsistent', 'clamped_future', 'estimated']) {
      expect(sum('tickwire_lagcomp_claims_total', { outcome }), outcome).toBeGreaterThan(0);
    }
    expect(sum('tickwire_lagcomp_hit_tests_total')).toBeGreaterThan(0);
  }, 60_000);
});
