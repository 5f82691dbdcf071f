// Counters the hot path bumps as plain numbers, exposed to Prometheus at scrape time (prom-client
// collect callbacks), so recording a metric never allocates during a tick.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { newInputStats } from './inputs.ts';
import { newEncoderStats } from './snapshots.ts';
import { newLagCompStats } from './lagcomp.ts';
import { newInterestStats } from './interest.ts';
import { CHANNEL_KINDS, type ChannelKind, type ProcessMemory } from './net/transport.ts';
import { FLEET_STATES, type FleetState, type FleetStats } from './fleet/fleet.ts';
import { AGONES_STATES, type AgonesStats } from './agones.ts';
import { newReplayStats } from './replay-recorder.ts';
import { newStreamStats } from './spectator-stream.ts';
import { newCameraStats } from './spectator-camera.ts';

/** Histogram with fixed bucket bounds over a Float64Array; observe() never allocates. */
export class FixedHistogram {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  max = 0;
  /** Largest value since the last takeRecentMax() (the max gauge resets it at each scrape). */
  recentMax = 0;
  /** The value observed last (a benchmark reads each tick's own duration from it). */
  last = 0;
  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }
  /** Records one value. */
  observe(v: number): void {
    let i = 0;
    while (i < this.bounds.length && v > this.bounds[i]) i++;
    this.counts[i]++;
    this.sum += v;
    this.count++;
    this.last = v;
    if (v > this.max) this.max = v;
    if (v > this.recentMax) this.recentMax = v;
  }
  /** Returns the largest value since the previous call and starts a new window. */
  takeRecentMax(): number {
    const m = this.recentMax;
    this.recentMax = 0;
    return m;
  }
  /** Approximate quantile (upper bound of the bucket holding it), q in [0, 1]. */
  quantile(q: number): number {
    if (this.count === 0) return 0;
    const target = q * this.count;
    let acc = 0;
    for (let i = 0; i < this.counts.length; i++) {
      acc += this.counts[i];
      if (acc >= target) return i < this.bounds.length ? this.bounds[i] : this.max;
    }
    return this.max;
  }
  /** Clears all observations. */
  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
    this.max = 0;
    this.recentMax = 0;
  }
}

/** Tick duration buckets in seconds (fine-grained below the 16.7 ms budget of 60 Hz). */
export const TICK_BUCKETS_SEC = [0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.03, 0.05, 0.1];

/** Matchmaking latency buckets in seconds (a Redis round trip is about a millisecond here). */
export const MATCHMAKE_BUCKETS_SEC = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/** A counter per channel kind. */
export type PerChannel = Record<ChannelKind, number>;

function perChannel(): PerChannel {
  return { ws: 0, webrtc: 0, loopback: 0 };
}

/** Every server-side counter, as plain numbers. */
export class ServerStats {
  ticks = 0;
  skippedTicks = 0;
  readonly tickSeconds = new FixedHistogram(TICK_BUCKETS_SEC);
  /** The part of each tick that is not snapshot encoding: inbox drain, inputs, systems, events, grid snap. */
  readonly tickSimulateSeconds = new FixedHistogram(TICK_BUCKETS_SEC);
  /** Snapshot capture and encoding (and the copy into the send queue, or the sends without it), per tick that sent snapshots. */
  readonly tickEncodeSeconds = new FixedHistogram(TICK_BUCKETS_SEC);
  /** Handing the queued snapshot packets to the transports after the timed tick, per tick that had any. */
  readonly tickSendSeconds = new FixedHistogram(TICK_BUCKETS_SEC);
  /** From a tick's start to its last snapshot packet handed to a transport, per tick that sent snapshots. */
  readonly tickHandoffSeconds = new FixedHistogram(TICK_BUCKETS_SEC);
  readonly bytesIn = perChannel();
  readonly bytesOut = perChannel();
  readonly messagesIn = perChannel();
  readonly messagesOut = perChannel();
  readonly decodeErrors = { control: 0, input: 0, ack: 0, view: 0, camera: 0, unknown: 0 };
  readonly sendFailures = perChannel();
  queueDropped = 0;
  rejects = 0;
  disconnectsForBadMessages = 0;
  rateLimited = 0;
  timeouts = 0;
  /** Connections closed because no hello or resume arrived within handshakeTimeoutMs. */
  handshakeTimeouts = 0;
  /** Connections refused at admission, by reason. */
  readonly refused = { shutting_down: 0, handshakes: 0, address_handshakes: 0, address_sessions: 0, token: 0, session_pending: 0, address_pending: 0 };
  /** Datagram (WebRTC) connections admitted. */
  datagramsAdmitted = 0;
  /** Chat messages dropped: the sender over chatPerSec, or a receiver too far behind (maxReceiverBacklog). */
  readonly chatDropped = { sender_rate: 0, receiver_behind: 0 };
  /** Game events dropped because the sender was over eventsPerSec. */
  eventsDropped = 0;
  /** Rooms clients named that were not created: the address's budget or the server's was spent. */
  readonly roomCreatesRefused = { address: 0, server: 0 };
  resumes = 0;
  resumesFailed = 0;
  /** Input counters over every player's input buffer. */
  readonly inputs = newInputStats();
  /** Input packets dropped because the tick they claim is too far from the room's (maxInputTickSkewMs). */
  inputsTickRejected = 0;
  /** Snapshot acks received inside input packets (PROTOCOL.md, Input). */
  acksInInput = 0;
  /** Snapshot acks received as their own datagram (SnapshotAck, type 4). */
  acksStandalone = 0;
  /** Shared by every room's snapshot encoder. */
  readonly encoder = newEncoderStats();
  /** Lag compensation: the view claims hit tests used, by outcome, and the hit tests answered. */
  readonly lagComp = newLagCompStats();
  /** Shared by every room's interest management (games with interest rules). */
  readonly interest = newInterestStats();
  /** Admin requests refused for a missing or wrong bearer token (401). */
  adminUnauthorized = 0;
  /** Input packets from spectators, dropped unread. */
  spectatorInputsIgnored = 0;
  /** Every room's shared spectator stream: packets sent, keyframes by reason (server/spectator-stream.ts). */
  readonly spectatorStream = newStreamStats();
  /** Spectator camera messages by outcome (server/spectator-camera.ts). */
  readonly spectatorCameras = newCameraStats();
  /** Room recordings: bytes written to replay files, recordings started and finished. */
  readonly replay = newReplayStats();
  /** Read-only feed readers connected now (server/feed.ts). */
  feedConnections = 0;
  /** Feed events written to readers (summaries and room events; heartbeats not counted). */
  feedEventsSent = 0;
  /** Feed events not delivered because their reader had left more than feedMaxBufferedBytes unread (the reader is dropped). */
  feedEventsDropped = 0;
  /** Feed requests refused: the room's or the address's reader limit, or no such room here. */
  readonly feedRefused = { room_limit: 0, address_limit: 0, no_room: 0 };
  /** Time POST /matchmake took, seconds. */
  readonly matchmakeSeconds = new FixedHistogram(MATCHMAKE_BUCKETS_SEC);

  /** Inputs received, every redundant copy included. */
  get inputsReceived(): number {
    return this.inputs.received;
  }
}

/** Creates the Prometheus registry reading from `stats` and the live gauges given. */
export function createRegistry(
  stats: ServerStats,
  live: {
    rooms(): number; sessions(transport: ChannelKind): number; rtcPeers(): number; pendingPeers(): number; handshakes(): number; queueBytes(): number;
    rtcProcessMemory?(): ProcessMemory | undefined; fleet?(): { state: FleetState; stats: FleetStats };
    agones?(): { state: string | undefined; stats: AgonesStats } | undefined;
  },
): Registry {
  const registry = new Registry();
  // prom-client's default names already start with process_ or nodejs_: prefix only the project.
  collectDefaultMetrics({ register: registry, prefix: 'tickwire_' });
  const counter = (name: string, help: string, labelNames: string[], read: (set: (labels: Record<string, string>, v: number) => void) => void): void => {
    new Counter({
      name, help, labelNames, registers: [registry],
      collect() {
        this.reset();
        read((labels, v) => this.inc(labels, v));
      },
    });
  };
  const gauge = (name: string, help: string, labelNames: string[], read: (set: (labels: Record<string, string>, v: number) => void) => void): void => {
    new Gauge({
      name, help, labelNames, registers: [registry],
      collect() {
        read((labels, v) => this.set(labels, v));
      },
    });
  };
  counter('tickwire_ticks_total', 'Simulation ticks run (all rooms share one loop).', [], (s) => s({}, stats.ticks));
  counter('tickwire_ticks_skipped_total', 'Ticks dropped after a stall beyond the catch-up bound.', [], (s) => s({}, stats.skippedTicks));
  const byChannel = (inbound: PerChannel, outbound: PerChannel) => (s: (labels: Record<string, string>, v: number) => void): void => {
    for (const channel of CHANNEL_KINDS) {
      s({ direction: 'in', channel }, inbound[channel]);
      s({ direction: 'out', channel }, outbound[channel]);
    }
  };
  counter('tickwire_bytes_total', 'Payload bytes by direction and channel.', ['direction', 'channel'], byChannel(stats.bytesIn, stats.bytesOut));
  counter('tickwire_messages_total', 'Messages by direction and channel.', ['direction', 'channel'], byChannel(stats.messagesIn, stats.messagesOut));
  counter('tickwire_decode_errors_total', 'Messages dropped because they did not decode.', ['message'], (s) => {
    for (const [k, v] of Object.entries(stats.decodeErrors)) s({ message: k }, v);
  });
  counter('tickwire_send_failures_total', 'Sends refused by the transport (backpressure or closed).', ['channel'], (s) => {
    for (const channel of CHANNEL_KINDS) s({ channel }, stats.sendFailures[channel]);
  });
  counter('tickwire_inbox_dropped_total', 'Inbound messages dropped because the inbox was full.', [], (s) => s({}, stats.queueDropped));
  counter('tickwire_handshake_rejects_total', 'Hellos refused.', [], (s) => s({}, stats.rejects));
  counter('tickwire_client_timeouts_total', 'Connections closed because the client stopped acknowledging snapshots.', [], (s) => s({}, stats.timeouts));
  counter('tickwire_handshake_timeouts_total', 'Connections closed because no hello or resume arrived in time.', [], (s) => s({}, stats.handshakeTimeouts));
  counter('tickwire_connections_refused_total', 'Connections refused at admission by reason: shutting_down, handshakes (global cap), address_handshakes, address_sessions, token (WebRTC: unknown or unusable session token), session_pending (WebRTC: the session already has a peer connecting), address_pending.', ['reason'], (s) => {
    for (const [reason, v] of Object.entries(stats.refused)) s({ reason }, v);
  });
  counter('tickwire_webrtc_admitted_total', 'WebRTC peers admitted (bound to a session by its token).', [], (s) => s({}, stats.datagramsAdmitted));
  counter('tickwire_chat_dropped_total', 'Chat messages dropped: sender_rate (the sender was over chatPerSec), receiver_behind (a receiver was more than maxReceiverBacklog messages behind).', ['reason'], (s) => {
    s({ reason: 'sender_rate' }, stats.chatDropped.sender_rate);
    s({ reason: 'receiver_behind' }, stats.chatDropped.receiver_behind);
  });
  counter('tickwire_events_dropped_total', 'Game events dropped because the sender was over eventsPerSec.', [], (s) => s({}, stats.eventsDropped));
  counter('tickwire_room_creates_refused_total', 'Rooms clients named that were not created, by whose budget was spent: address or server.', ['budget'], (s) => {
    s({ budget: 'address' }, stats.roomCreatesRefused.address);
    s({ budget: 'server' }, stats.roomCreatesRefused.server);
  });
  counter('tickwire_replay_bytes_total', 'Bytes written to replay files (rooms recorded with recordRooms).', [], (s) => s({}, stats.replay.bytesWritten));
  counter('tickwire_replays_total', 'Room recordings, by event: started, finished (room disposed, server stopped or replayMaxBytes reached).', ['event'], (s) => {
    s({ event: 'started' }, stats.replay.started);
    s({ event: 'finished' }, stats.replay.finished);
  });
  gauge('tickwire_feed_connections', 'Read-only feed readers connected now (GET /rooms/:name/feed).', [], (s) => s({}, stats.feedConnections));
  counter('tickwire_feed_events_sent_total', 'Feed events written to readers (summaries and room events).', [], (s) => s({}, stats.feedEventsSent));
  counter('tickwire_feed_events_dropped_total', 'Feed events not delivered because the reader was too slow (it is dropped).', [], (s) => s({}, stats.feedEventsDropped));
  counter('tickwire_feed_refused_total', 'Feed requests refused, by reason: room_limit, address_limit, no_room.', ['reason'], (s) => {
    for (const [reason, v] of Object.entries(stats.feedRefused)) s({ reason }, v);
  });
  counter('tickwire_spectator_inputs_ignored_total', 'Input packets from spectators, dropped unread (a spectator has no entity).', [], (s) => s({}, stats.spectatorInputsIgnored));
  counter('tickwire_spectator_stream_packets_total', 'Snapshot packets sent to spectators on shared streams (each packet once per spectator), by kind: delta (the chain), keyframe.', ['kind'], (s) => {
    s({ kind: 'delta' }, stats.spectatorStream.packets.delta);
    s({ kind: 'keyframe' }, stats.spectatorStream.packets.keyframe);
  });
  counter('tickwire_spectator_stream_keyframes_total', 'Keyframes sent to spectators on shared streams, by reason: join (joined or resumed), behind (its connection backed up).', ['reason'], (s) => {
    s({ reason: 'join' }, stats.spectatorStream.keyframes.join);
    s({ reason: 'behind' }, stats.spectatorStream.keyframes.behind);
  });
  counter('tickwire_spectator_cameras_total', 'Spectator camera messages by outcome: applied, rate_limited (over cameraPerSec), ignored (not from a spectator of a room with views).', ['outcome'], (s) => {
    for (const [outcome, v] of Object.entries(stats.spectatorCameras)) s({ outcome }, v);
  });
  counter('tickwire_rate_limited_messages_total', 'Messages dropped by the per-client rate limit.', [], (s) => s({}, stats.rateLimited));
  counter('tickwire_resumes_total', 'Sessions resumed after a dropped connection, by outcome.', ['outcome'], (s) => {
    s({ outcome: 'ok' }, stats.resumes);
    s({ outcome: 'failed' }, stats.resumesFailed);
  });
  counter('tickwire_admin_unauthorized_total', 'Admin API requests refused (401) for a missing or wrong bearer token.', [], (s) => s({}, stats.adminUnauthorized));
  counter('tickwire_bad_message_disconnects_total', 'Clients disconnected for too many bad messages.', [], (s) => s({}, stats.disconnectsForBadMessages));
  counter(
    'tickwire_inputs_total',
    'Inputs by outcome: received (every redundant copy), applied, duplicate (copy of one waiting), late (copy of one whose tick passed), lost (never applied: skipped or evicted), repeated (ticks that repeated the previous input because the next had not arrived: inputs that missed their tick).',
    ['outcome'],
    (s) => {
      const i = stats.inputs;
      s({ outcome: 'received' }, i.received);
      s({ outcome: 'applied' }, i.applied);
      s({ outcome: 'duplicate' }, i.duplicates);
      s({ outcome: 'late' }, i.late);
      s({ outcome: 'lost' }, i.dropped);
      s({ outcome: 'repeated' }, i.repeated);
    },
  );
  counter('tickwire_lagcomp_claims_total', 'View claims (what a client drew when it made an input) used by lag-compensated hit tests, by outcome: accepted, clamped_cap (beyond lagCompMaxRewindMs), clamped_inconsistent (older than the client\'s round trip and interpolation delay allow), clamped_future (newer than the client could have drawn), estimated (no claim arrived in time).', ['outcome'], (s) => {
    for (const [k, v] of Object.entries(stats.lagComp.claims)) s({ outcome: k }, v);
  });
  counter('tickwire_lagcomp_hit_tests_total', 'Lag-compensated hit tests (raycasts and position look-ups) the games asked for.', [], (s) => s({}, stats.lagComp.hitTests));
  counter('tickwire_input_packets_rejected_total', 'Input packets dropped for claiming a tick too far from the room tick (maxInputTickSkewMs either way).', [], (s) => s({}, stats.inputsTickRejected));
  counter('tickwire_snapshot_acks_total', 'Snapshot acks received, by carrier: input (inside an input packet) or standalone (a SnapshotAck datagram of its own).', ['carrier'], (s) => {
    s({ carrier: 'input' }, stats.acksInInput);
    s({ carrier: 'standalone' }, stats.acksStandalone);
  });
  counter('tickwire_snapshots_total', 'Snapshots sent by kind.', ['kind'], (s) => {
    s({ kind: 'full' }, stats.encoder.fullSnapshots);
    s({ kind: 'delta' }, stats.encoder.deltaSnapshots);
  });
  counter('tickwire_snapshot_full_fallbacks_total', 'Full snapshots by reason: no ack yet, baseline evicted from history, forced by config.', ['reason'], (s) => {
    s({ reason: 'no_ack' }, stats.encoder.fullNoAck);
    s({ reason: 'baseline_gone' }, stats.encoder.fullBaselineGone);
    s({ reason: 'forced' }, stats.encoder.fullForced);
  });
  counter('tickwire_snapshot_packets_total', 'Snapshot datagrams sent (a snapshot above maxPacketBytes is split into parts).', [], (s) => s({}, stats.encoder.packetsOut));
  counter('tickwire_snapshot_split_total', 'Snapshots split into more than one packet.', [], (s) => s({}, stats.encoder.splitSnapshots));
  counter('tickwire_snapshot_sections_shared_total', 'Client snapshots that reused an entity section already encoded for another client.', [], (s) => s({}, stats.encoder.sectionsShared));
  counter('tickwire_snapshot_bodies_encoded_total', 'Snapshot entity sections encoded (shared by clients with the same baseline).', [], (s) => s({}, stats.encoder.bodiesEncoded));
  gauge('tickwire_tick_duration_max_seconds', 'Longest frame tick since the previous scrape of /metrics (reset by each scrape).', [], (s) => s({}, stats.tickSeconds.takeRecentMax()));
  gauge('tickwire_rooms', 'Rooms open.', [], (s) => s({}, live.rooms()));
  gauge('tickwire_sessions', 'Sessions by the transport carrying their unreliable traffic.', ['transport'], (s) => {
    for (const transport of CHANNEL_KINDS) s({ transport }, live.sessions(transport));
  });
  gauge('tickwire_webrtc_peers', 'Open WebRTC peers.', [], (s) => s({}, live.rtcPeers()));
  gauge('tickwire_webrtc_pending_peers', 'WebRTC peers admitted and still connecting (at most one per session, maxPendingPeersPerAddress per address).', [], (s) => s({}, live.pendingPeers()));
  gauge('tickwire_handshakes', 'Connections in the handshake now (no hello or resume yet).', [], (s) => s({}, live.handshakes()));
  gauge('tickwire_webrtc_process_memory_bytes', 'Memory of the WebRTC process (reported every 2 s; absent while it is down or when WebRTC runs in the server process).', ['kind'], (s) => {
    const m = live.rtcProcessMemory?.();
    if (!m) return;
    s({ kind: 'rss' }, m.rss);
    s({ kind: 'heap_used' }, m.heapUsed);
    s({ kind: 'heap_total' }, m.heapTotal);
    s({ kind: 'external' }, m.external);
  });
  gauge('tickwire_active_resources', 'Live event-loop resources (timers, sockets, handles) by type.', ['type'], (s) => {
    const counts = new Map<string, number>();
    for (const r of process.getActiveResourcesInfo()) counts.set(r, (counts.get(r) ?? 0) + 1);
    for (const [type, n] of counts) s({ type }, n);
  });
  gauge('tickwire_inbox_bytes', 'Bytes waiting in the inbox.', [], (s) => s({}, live.queueBytes()));
  const fleet = (read: (f: FleetStats) => number) => (s: (labels: Record<string, string>, v: number) => void): void => {
    const f = live.fleet?.();
    if (f) s({}, read(f.stats));
  };
  gauge('tickwire_fleet_state', 'This member\'s fleet state: 1 for the current one of serving, draining, lost (its lease lapsed), unavailable (Redis unreachable), stopped.', ['state'], (s) => {
    const f = live.fleet?.();
    if (f) for (const state of FLEET_STATES) s({ state }, f.state === state ? 1 : 0);
  });
  counter('tickwire_fleet_lease_renewals_total', 'Fleet lease renewals (heartbeats) that succeeded.', [], fleet((f) => f.leaseRenewals));
  counter('tickwire_fleet_lease_failures_total', 'Fleet heartbeats that failed (Redis unreachable or slow).', [], fleet((f) => f.leaseFailures));
  counter('tickwire_fleet_leases_lost_total', 'Fleet leases found lapsed at renewal (a new one is taken and the rooms registered again).', [], fleet((f) => f.leasesLost));
  counter('tickwire_fleet_seats_granted_total', 'Seats POST /matchmake granted on this member (for rooms anywhere in the fleet).', [], fleet((f) => f.seatsGranted));
  counter('tickwire_fleet_seats_refused_total', 'Matchmaking requests on this member that got no seat (fleet full, room full, draining, registry unreachable).', [], fleet((f) => f.seatsRefused));
  counter('tickwire_fleet_seats_claimed_total', 'Seats presented in a hello and taken.', [], fleet((f) => f.seatsClaimed));
  counter('tickwire_fleet_seats_claim_refused_total', 'Seats presented in a hello and refused (unknown, used, expired, another room, fenced, registry unreachable).', [], fleet((f) => f.seatsClaimRefused));
  counter('tickwire_fleet_seats_expired_total', 'Seats that expired unused (seen by this member\'s matchmaking and heartbeats).', [], fleet((f) => f.seatsExpired));
  counter('tickwire_fleet_room_conflicts_total', 'Rooms this member ended because the fleet gave their name to another member while it was cut off.', [], fleet((f) => f.roomConflicts));
  counter('tickwire_fleet_rooms_handed_off_total', 'Rooms this member moved to another member (a drain with handoff).', [], fleet((f) => f.roomsHandedOff));
  counter('tickwire_fleet_rooms_received_total', 'Rooms another member moved to this one.', [], fleet((f) => f.roomsReceived));
  counter('tickwire_fleet_handoffs_refused_total', 'Room offers that moved no room: refused or unanswered offers this member sent, and offers it refused.', [], fleet((f) => f.handoffsRefused));
  counter('tickwire_fleet_handoff_bytes_total', 'Bytes of the rooms moved to this member (saved room and sessions).', [], fleet((f) => f.handoffBytes));
  gauge('tickwire_agones_state', 'The Agones GameServer state as the SDK watch last told it: 1 for the current one of ' + AGONES_STATES.join(', ') + ' (absent without TICKWIRE_AGONES or before the first update).', ['state'], (s) => {
    const a = live.agones?.();
    if (a?.state) for (const state of AGONES_STATES) s({ state }, a.state === state ? 1 : 0);
  });
  const agones = (read: (a: AgonesStats, s: (labels: Record<string, string>, v: number) => void) => void) => (s: (labels: Record<string, string>, v: number) => void): void => {
    const a = live.agones?.();
    if (a) read(a.stats, s);
  };
  counter('tickwire_agones_health_pings_total', 'Agones health pings written to the SDK health stream.', [], agones((a, s) => s({}, a.healthPings)));
  counter('tickwire_agones_stream_failures_total', 'Agones SDK streams found broken and opened again: health (the health stream), watch (the GameServer watch).', ['stream'], agones((a, s) => {
    s({ stream: 'health' }, a.streamFailures.health);
    s({ stream: 'watch' }, a.streamFailures.watch);
  }));
  counter('tickwire_agones_label_updates_total', 'GameServer labels set through the Agones SDK (rooms and players, when they change, at most once a second).', [], agones((a, s) => s({}, a.labelUpdates)));
  return registry;
}

/** Prometheus text for the tick-duration histogram (appended to the registry's output). */
export function renderHistogram(name: string, help: string, h: FixedHistogram): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} histogram`];
  let acc = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    acc += h.counts[i];
    lines.push(`${name}_bucket{le="${h.bounds[i]}"} ${acc}`);
  }
  lines.push(`${name}_bucket{le="+Inf"} ${h.count}`, `${name}_sum ${h.sum}`, `${name}_count ${h.count}`);
  return lines.join('\n') + '\n';
}

/** Full /metrics body: the registry plus the tick histogram. */
export async function renderMetrics(registry: Registry, stats: ServerStats): Promise<string> {
  return (
    (await registry.metrics()) +
    renderHistogram('tickwire_tick_duration_seconds', 'Duration of one tick over all rooms: simulation and snapshot encoding (sends follow the tick unless sendsAfterTick is off).', stats.tickSeconds) +
    renderHistogram('tickwire_tick_simulate_seconds', 'The simulation part of each tick: inbox drain, inputs, systems, events, grid snap.', stats.tickSimulateSeconds) +
    renderHistogram('tickwire_tick_encode_seconds', 'Snapshot capture and encoding of a tick that sent snapshots (with the copy into the send queue).', stats.tickEncodeSeconds) +
    renderHistogram('tickwire_tick_send_seconds', 'Handing a tick\'s queued snapshot packets to the transports, after the timed tick.', stats.tickSendSeconds) +
    renderHistogram('tickwire_tick_handoff_seconds', 'From the start of a tick that sent snapshots to its last packet handed to a transport.', stats.tickHandoffSeconds) +
    renderHistogram('tickwire_matchmake_duration_seconds', 'Duration of POST /matchmake on this member (the fleet\'s atomic step included).', stats.matchmakeSeconds)
  );
}
