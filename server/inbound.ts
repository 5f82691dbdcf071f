// Everything a client sends (Quake III's sv_client.c): admission of new connections, the inbox that
// transport callbacks fill, and its dispatch at the start of every tick: rate limit, decode,
// handshake (hello, authenticate, join, resume), control messages, inputs and snapshot acks; plus
// the session life cycle (timeouts, resume windows, disconnects, an operator's kicks and room
// closes) that follows from them.
import type { Logger } from 'pino';
import { PROTOCOL_VERSION } from '../shared/config.ts';
import { decodeClientControl, MAX_ROSTER_PLAYERS, NO_ENTITY, type ClientControl, type RosterPlayer, type ServerControl, type SessionInfo } from '../shared/protocol/control.ts';
import { DecodeError } from '../shared/protocol/errors.ts';
import { CloseCode, MsgType, RejectCode, type CloseCodeId, type RejectCodeId } from '../shared/protocol/ids.ts';
import type { NetSchema } from '../shared/protocol/schema.ts';
import { readSnapshotAck, type SnapshotAck } from '../shared/protocol/snapshot.ts';
import { createViewClaims, readViewClaims } from '../shared/protocol/view-claim.ts';
import type { ServerConfig } from './config.ts';
import type { AuthResult, ServerApi, ServerHooks } from './hooks.ts';
import { InputReceiver, type InputStats } from './inputs.ts';
import { AddressBook, addressKey, TokenBucket, type AddressState } from './limits.ts';
import { cleanName, uniqueName } from './names.ts';
import type { Clock } from './loop.ts';
import type { ServerStats } from './metrics.ts';
import { Inbox, NetEvent, type NetEventKind } from './net/inbox.ts';
import type { ConnectRequest, Transport, TransportEvents } from './net/transport.ts';
import type { Outbound, OutboundHost } from './outbound.ts';
import { Player } from './player.ts';
import type { Room, RoomManager } from './rooms.ts';
import type { ClaimOutcome, ClaimResult } from './fleet/fleet.ts';
import type { Conn, ConnTable, Session, SessionTable } from './sessions.ts';
import { SnapshotAckReceiver } from './snapshots.ts';
import { SpectatorStream } from './spectator-stream.ts';
import { SpectatorCameras } from './spectator-camera.ts';

/** What inbound needs of the server around it. */
export interface InboundContext {
  readonly config: ServerConfig;
  readonly schema: NetSchema;
  /** The game's config hash a hello must match. */
  readonly hash: number;
  readonly gameName: string;
  readonly stats: ServerStats;
  readonly log: Logger;
  readonly clock: Clock;
  readonly sessions: SessionTable;
  readonly conns: ConnTable;
  readonly rooms: RoomManager;
  readonly out: Outbound;
  readonly hooks: ServerHooks | undefined;
  /** What the onEvent hook is handed. */
  readonly api: ServerApi;
  /** True while the server accepts clients. */
  running(): boolean;
  /** What welcome says of the datagram channel: the signaling port for this session, or 0 when there is none. */
  datagramPort(sessionId?: number): number;
  /** Seats: a hello with one is placed in the room the fleet granted it in. */
  readonly seats: SeatChecker;
  /** True while the process drains: it takes no new player without a seat. */
  draining(): boolean;
}

/** What the inbound side asks of the fleet (server/fleet/host.ts). */
export interface SeatChecker {
  /** True when a hello must carry a seat (a member of a fleet on Redis: rooms are placed by the fleet). */
  requiresSeat(): boolean;
  /** Takes a seat (a spectator's with `spectate`); `done` ends the time the seat counts toward its room's occupancy. */
  claim(seat: string, room: string | undefined, spectate?: boolean): Promise<{ room: string; result: ClaimResult; done: () => void }>;
}

/** What a refused seat claim tells the client. */
const SEAT_REFUSALS: Record<Exclude<ClaimOutcome, 'ok'>, [RejectCodeId, string]> = {
  unknown_seat: [RejectCode.SeatRefused, 'that seat is unknown, used or expired: ask POST /matchmake again'],
  wrong_room: [RejectCode.SeatRefused, 'that seat is for another room'],
  not_owner: [RejectCode.SeatRefused, 'this server does not own that room: ask POST /matchmake again'],
  fenced: [RejectCode.SeatRefused, 'this server lost its fleet lease and grants no seats until it holds one again: ask POST /matchmake again'],
  unavailable: [RejectCode.FleetUnavailable, 'the fleet registry cannot be reached to check the seat; try again shortly'],
};

/**
 * A session's WebRTC peer still connecting after this long is replaced by a new offer from the
 * same session (a client retrying after its attempt failed); younger, the new offer is refused.
 */
export const DATAGRAM_RETRY_MS = 1000;

/** The reason a reject carries, by code, where the code alone says it. */
const REJECT_REASONS: Partial<Record<number, string>> = {
  [RejectCode.RoomFull]: 'room is full',
  [RejectCode.ServerFull]: 'no room available',
  [RejectCode.RoomCreateLimit]: 'too many new rooms just now; try again shortly',
  [RejectCode.BadRoomParams]: 'the game does not let clients set those room parameters',
};

/** A handle the server fills in once a transport has started (admission needs the transport). */
export interface TransportRef {
  current: Transport | undefined;
}

/** A disconnect (or a room close) requested while rooms or players were being iterated, or from outside the frame; carried out after. */
interface Deferred {
  s: Session | undefined;
  /** A room to close: every session in it ends with `code`, then the room is disposed. */
  room?: Room;
  code: CloseCodeId;
  reason: string;
  /** Close the connection only, keeping the session for a resume. */
  resumable: boolean;
}

/** A room's changes not yet announced (Inbound.changes). */
interface RoomChanges {
  /** Players who entered, in order, not yet announced. */
  joined: Player[];
  /** Sessions that left, each with its place in the order of changes. */
  left: { id: number; at: number }[];
  /** The place in that order at which each player who entered since the last announcement did (it knew of the changes before). */
  enteredAt: Map<Player, number>;
  /** When the first of them was made (server clock, ms). */
  sinceMs: number;
}

/** The inbound side: admission, the inbox and its dispatch, and the session life cycle. */
export class Inbound implements OutboundHost {
  readonly inbox: Inbox;
  private readonly inputs: InputReceiver;
  private readonly acks = new SnapshotAckReceiver();
  private readonly ackScratch: SnapshotAck = { tick: 0, bits: 0 };
  private readonly claimScratch = createViewClaims();
  private readonly cameras: SpectatorCameras;
  private readonly deferred: Deferred[] = [];
  /**
   * Room changes not yet announced, gathered while batches run (a drain, a housekeeping pass, the
   * deferred disconnects: inRoomBatch) and announced at the end of the first batch at least a
   * snapshot interval after the room's first of them (announceRoomChanges): each player in the
   * room hears of all of them in one `roster` instead of one message per change and player. What
   * keeps a room of 1,000 filling at a join a tick from sending 60,000 messages a second, and its
   * players timing out together from sending a million.
   */
  private readonly changes = new Map<Room, RoomChanges>();
  private changeOrder = 0;
  /** Batches running (nested): changes are announced when the outermost ends (a change made outside one waits for the next). */
  private batchDepth = 0;
  /** Sequenced messages from the players of rooms frozen for a move, in arrival order (releaseHeld). */
  private readonly held = new Map<Room, { c: Conn; msg: ClientControl }[]>();
  /** What each address holds now (handshakes, sessions, pending datagram channels, room budget). */
  readonly addresses: AddressBook;
  /** Reliable connections in the handshake now, all addresses. */
  handshakes = 0;
  /** Rooms all clients may still create by naming them (roomCreatesPerSec). */
  private readonly roomCreates: TokenBucket;

  constructor(
    private readonly ctx: InboundContext,
    /** Input counters over every player (tickwire_inputs_total). */
    private readonly inputTotals: InputStats,
  ) {
    const c = ctx.config;
    this.inbox = new Inbox(c.inboxBytes);
    this.inputs = new InputReceiver(ctx.schema, Math.round((c.maxInputTickSkewMs / 1000) * c.net.tickRateHz));
    this.addresses = new AddressBook(c.roomCreatesPerAddressPerMin);
    this.roomCreates = new TokenBucket(c.roomCreatesPerSec, c.roomCreatesPerSec);
    this.cameras = new SpectatorCameras(c, ctx.stats.spectatorCameras);
    ctx.out.attach(this);
  }

  /**
   * The events a transport reports to: admission runs at once (it must answer the transport),
   * everything else only copies into the inbox.
   */
  eventsFor(ref: TransportRef): TransportEvents {
    return {
      admit: (req) => {
        const t = ref.current;
        return t ? this.admit(t, req) : 0;
      },
      onOpen: (connId) => this.push(NetEvent.Open, connId),
      onMessage: (connId, bytes) => this.push(NetEvent.Message, connId, bytes),
      onClose: (connId) => this.push(NetEvent.Close, connId),
    };
  }

  private push(kind: NetEventKind, connId: number, bytes?: Uint8Array): void {
    if (!this.inbox.push(kind, connId, bytes, this.ctx.clock.nowMs())) this.ctx.stats.queueDropped++;
  }

  // ---- admission (runs inside transport callbacks: checks only) ----

  /**
   * Admits a connection or refuses it (0), counting why. A reliable transport opens a new
   * connection that must complete the handshake, within the global and per-address handshake caps
   * (a session slot is taken at welcome, not here); a datagram transport binds to an active session
   * by its token, one pending connection per session and a bounded number per address.
   */
  admit(transport: Transport, req: ConnectRequest): number {
    const { conns, sessions, config, stats } = this.ctx;
    if (!this.ctx.running()) return this.refuse('shutting_down');
    const now = this.ctx.clock.nowMs();
    if (transport.reliable) {
      const key = addressKey(req.remoteAddress);
      const a = this.addresses.get(key);
      if (this.handshakes >= config.maxHandshakes) return this.refuse('handshakes');
      if (a.handshakes >= config.maxHandshakesPerAddress) return this.refuse('address_handshakes');
      if (a.sessions >= config.maxSessionsPerAddress) return this.refuse('address_sessions');
      const c = conns.admit(transport, req.remoteAddress, key, now);
      c.inHandshake = true;
      a.handshakes++;
      this.handshakes++;
      return c.id;
    }
    const token = req.token;
    if (typeof token !== 'string' || token.length !== 32) return this.refuse('token');
    const s = sessions.byTokenValue(token);
    if (!s || s.state !== 'active' || !s.reliable || !s.datagramsWanted || s.unreliable) return this.refuse('token');
    const stale = s.pendingDatagram;
    if (stale) {
      // One pending peer per session: a retry after a failed attempt replaces it, a flood does not.
      if (now - stale.admittedMs < DATAGRAM_RETRY_MS) return this.refuse('session_pending');
      this.leavePending(stale);
      stale.session = undefined;
      s.pendingDatagram = undefined;
      stale.transport.close(stale.id);
    }
    const a = this.addresses.get(s.addressKey);
    if (a.pendingDatagrams >= config.maxPendingPeersPerAddress) return this.refuse('address_pending');
    const c = conns.admit(transport, req.remoteAddress, s.addressKey, now);
    c.session = s;
    c.limits = s.limits;
    c.pendingCounted = true;
    a.pendingDatagrams++;
    s.pendingDatagram = c;
    stats.datagramsAdmitted++;
    return c.id;
  }

  private refuse(reason: keyof ServerStats['refused']): 0 {
    this.ctx.stats.refused[reason]++;
    return 0;
  }

  /** The connection no longer counts as a handshake (it got a session, or closed). */
  private leaveHandshake(c: Conn): void {
    if (!c.inHandshake) return;
    c.inHandshake = false;
    this.handshakes--;
    this.addresses.get(c.addressKey).handshakes--;
  }

  /** The datagram connection no longer counts as pending (it opened, or closed). */
  private leavePending(c: Conn): void {
    if (!c.pendingCounted) return;
    c.pendingCounted = false;
    this.addresses.get(c.addressKey).pendingDatagrams--;
  }

  /** Datagram connections admitted and not open yet, all sessions. */
  pendingDatagrams(): number {
    let n = 0;
    for (const s of this.ctx.sessions.values()) if (s.pendingDatagram) n++;
    return n;
  }

  // ---- the inbox, drained at the start of every tick ----

  /** Handles every queued event, then the disconnects requested meanwhile. */
  drain(): void {
    this.inRoomBatch(() => {
      this.inbox.drain(this.handleEvent);
      this.runDeferred();
    });
  }

  /** Runs `fn` as a batch: the room changes it makes are announced together when the outermost batch ends. */
  private inRoomBatch(fn: () => void): void {
    this.batchDepth++;
    try {
      fn();
    } finally {
      if (--this.batchDepth === 0) this.announceRoomChanges();
    }
  }

  private readonly handleEvent = (kind: NetEventKind, connId: number, buf: Uint8Array, start: number, end: number, atMs: number): void => {
    const c = this.ctx.conns.get(connId);
    if (!c) return;
    switch (kind) {
      case NetEvent.Open:
        if (c.state === 'admitted') c.state = 'open';
        if (!c.transport.reliable) this.datagramOpened(c);
        return;
      case NetEvent.Message: {
        const stats = this.ctx.stats;
        const kindName = c.transport.kind;
        stats.messagesIn[kindName]++;
        stats.bytesIn[kindName] += end - start;
        if (c.session) c.session.bytesIn += end - start;
        if (this.rateLimited(c)) return;
        this.handleMessage(c, buf, start, end, atMs);
        return;
      }
      case NetEvent.Close:
        this.connClosed(c);
        return;
    }
  };

  /**
   * Token bucket per client over every connection it has: maxMessagesPerSec refilled continuously,
   * burst of one second. Excess is dropped and counted; more than a second's worth dropped within
   * one second disconnects the client.
   */
  private rateLimited(c: Conn): boolean {
    const now = this.ctx.clock.nowMs();
    const rate = this.ctx.config.maxMessagesPerSec;
    const l = c.limits;
    if (l.rateRefillMs < 0) {
      l.rateRefillMs = now;
      l.rateTokens = rate;
      l.rateWindowMs = now;
    }
    l.rateTokens = Math.min(rate, l.rateTokens + ((now - l.rateRefillMs) * rate) / 1000);
    l.rateRefillMs = now;
    if (l.rateTokens >= 1) {
      l.rateTokens -= 1;
      return false;
    }
    this.ctx.stats.rateLimited++;
    if (now - l.rateWindowMs >= 1000) {
      l.rateWindowMs = now;
      l.rateDropped = 0;
    }
    if (++l.rateDropped > rate) this.drop(c, CloseCode.RateLimited, 'sending too fast');
    return true;
  }

  /** One message; `atMs` is when it arrived (a snapshot ack's round-trip sample ends there). */
  private handleMessage(c: Conn, buf: Uint8Array, start: number, end: number, atMs: number): void {
    const type = end > start ? buf[start] : 0;
    try {
      if (end <= start) throw new DecodeError('type', 0, 'empty or text frame');
      const s = c.session;
      if (type === MsgType.Control) {
        if (!c.transport.reliable) throw new DecodeError('type', 0, 'control messages travel on the reliable channel only');
        this.handleControl(c, decodeClientControl(buf.subarray(start, end)));
      } else if (type === MsgType.Input) {
        if (!s || s.state !== 'active' || !s.player || !s.room) return;
        if (s.spectator) return void this.ctx.stats.spectatorInputsIgnored++;
        const n = this.inputs.receive(s.player.inputs, buf, start, end, s.room.ctx.tick);
        if (n < 0) this.ctx.stats.inputsTickRejected++;
        // The snapshot ack riding in the packet counts whatever became of its inputs.
        const p = this.inputs.packet;
        if (p.hasAck) {
          this.ctx.stats.acksInInput++;
          this.acks.record(s.player, p.ackTick, p.ackBits, s.room.ctx.tick, atMs, s.room.sendTimes);
        }
      } else if (type === MsgType.SnapshotAck) {
        if (s && s.state === 'active' && s.player && s.room) this.acks.receive(s.player, buf, start, end, s.room.ctx.tick, atMs, s.room.sendTimes);
        else readSnapshotAck(buf, this.ackScratch, start, end);
        this.ctx.stats.acksStandalone++;
      } else if (type === MsgType.ViewClaim) {
        // Decoded whatever the session's state (a bad one counts); kept only while playing.
        readViewClaims(buf, this.claimScratch, start, end);
        if (s && s.state === 'active' && s.player && s.room) s.player.claims.offer(this.claimScratch, s.room.ctx.tick);
      } else if (type === MsgType.Camera) {
        // Decoded whatever the session's state (a bad one counts); applied only for a playing spectator.
        const watching = s !== undefined && s.state === 'active' && s.spectator;
        this.cameras.receive(watching ? s.player : undefined, watching ? s.room : undefined, buf, start, end, this.ctx.clock.nowMs());
      } else {
        throw new DecodeError('type', 0, `unknown message type ${type}`);
      }
    } catch (err) {
      this.badMessage(c, type, err);
    }
  }

  private badMessage(c: Conn, type: number, err: unknown): void {
    const { stats, log, config } = this.ctx;
    if (!(err instanceof DecodeError)) log.error({ err, conn: c.id, session: c.session?.id }, 'bug while handling a client message');
    if (type === MsgType.Control) stats.decodeErrors.control++;
    else if (type === MsgType.Input) stats.decodeErrors.input++;
    else if (type === MsgType.SnapshotAck) stats.decodeErrors.ack++;
    else if (type === MsgType.ViewClaim) stats.decodeErrors.view++;
    else if (type === MsgType.Camera) stats.decodeErrors.camera++;
    else stats.decodeErrors.unknown++;
    log.debug({ conn: c.id, session: c.session?.id, err: (err as Error).message }, 'dropped bad message');
    // A handshake that does not decode is refused with a reason instead of left hanging.
    if (!c.session && !c.helloSeen && type === MsgType.Control && c.transport.reliable) {
      const field = err instanceof DecodeError ? err.field : '';
      this.rejectConn(c, field === 'room' ? RejectCode.BadRoomName : RejectCode.BadMessage, `malformed handshake: ${(err as Error).message}`);
      return;
    }
    if (++c.limits.badMessages > config.maxBadMessages) {
      stats.disconnectsForBadMessages++;
      this.drop(c, CloseCode.TooManyBadMessages, 'too many malformed messages');
    }
  }

  // ---- control messages ----

  private handleControl(c: Conn, msg: ClientControl): void {
    if (msg.t === 'hello' || msg.t === 'resume') {
      if (c.session || c.helloSeen) throw new DecodeError('t', 8, `unexpected ${msg.t}`);
      c.helloSeen = true;
      if (msg.t === 'hello') this.handleHello(c, msg);
      else this.handleResume(c, msg);
      return;
    }
    const s = c.session;
    if (!s) {
      if (msg.t === 'ping') this.ctx.out.sendToConn(c, { t: 'pong', id: msg.id, ms: msg.ms, tick: 0 });
      return;
    }
    if (msg.a !== undefined) s.reliableOut.ack(msg.a);
    // a spectator on a shared stream sends no snapshot acks: its control messages say it is there
    if (s.player?.streamed === true) s.player.lastAckMs = this.ctx.clock.nowMs();
    // A room frozen for a move reads no sequenced message yet: held unacknowledged, it is read if the
    // room stays, and resent by the client to the new owner if it moves.
    if (msg.s !== undefined && s.room?.frozen) {
      const held = this.held.get(s.room) ?? [];
      if (held.length < this.ctx.config.maxUnackedMessages) held.push({ c, msg });
      this.held.set(s.room, held);
      return;
    }
    if (msg.s !== undefined) {
      const verdict = s.reliableIn.accept(msg.s);
      if (verdict === 'duplicate') return;
      if (verdict === 'gap') throw new DecodeError('s', 8, `sequence ${msg.s} skips past ${s.reliableIn.lastDelivered + 1}`);
    }
    const out = this.ctx.out;
    if (s.state !== 'active') {
      if (msg.t === 'ping') out.sendControl(s, { t: 'pong', id: msg.id, ms: msg.ms, tick: 0 });
      return;
    }
    switch (msg.t) {
      case 'ping':
        out.sendControl(s, { t: 'pong', id: msg.id, ms: msg.ms, tick: s.room?.ctx.tick ?? 0 });
        return;
      case 'ack':
        return;
      case 'chat':
        // The sender's excess is dropped here, so a flood never reaches the receivers.
        if (!s.chatBucket.take(this.ctx.clock.nowMs())) {
          this.ctx.stats.chatDropped.sender_rate++;
          return;
        }
        this.broadcast(s, { t: 'chat', from: s.id, name: s.name, text: msg.text });
        return;
      case 'event':
        if (!s.eventBucket.take(this.ctx.clock.nowMs())) {
          this.ctx.stats.eventsDropped++;
          return;
        }
        this.ctx.hooks?.onEvent?.(this.ctx.api, s, msg.name, msg.data);
        return;
      case 'transport':
        // A fallback, not a preference: the client may try the datagram channel again later
        // (hello.wsOnly is the preference).
        if (msg.use === 'ws') this.dropDatagram(s);
        return;
      case 'leave':
        this.disconnect(s, CloseCode.Kicked, 'left');
        return;
    }
  }

  /**
   * Sends chat to every session in the sender's room, the sender included. A receiver more than
   * maxReceiverBacklog messages behind (not acknowledging) is skipped and counted rather than
   * pushed towards its resend bound: chat is what it loses, never its session.
   */
  private broadcast(from: Session, msg: ServerControl): void {
    const room = from.room;
    if (!room) return;
    const { sessions, config, stats, out } = this.ctx;
    for (const p of room.players) {
      const to = sessions.get(p.id);
      if (!to) continue;
      if (to.reliableOut.pendingCount >= config.maxReceiverBacklog) {
        stats.chatDropped.receiver_behind++;
        continue;
      }
      out.sendControl(to, { ...msg });
    }
  }

  private handleHello(c: Conn, msg: Extract<ClientControl, { t: 'hello' }>): void {
    const { config, sessions, log, hooks } = this.ctx;
    if (!this.ctx.running()) return this.rejectConn(c, RejectCode.ShuttingDown, 'server is shutting down');
    if (msg.v !== PROTOCOL_VERSION) return this.rejectConn(c, RejectCode.ProtocolVersion, `protocol ${msg.v} unsupported; server speaks ${PROTOCOL_VERSION}`);
    if (msg.hash !== this.ctx.hash) return this.rejectConn(c, RejectCode.ConfigMismatch, `config hash ${msg.hash} does not match the server's ${this.ctx.hash} (game ${this.ctx.gameName})`);
    if (sessions.size >= config.maxSessions) return this.rejectConn(c, RejectCode.ServerFull, 'server is full');
    const a = this.addresses.get(c.addressKey);
    if (a.sessions >= config.maxSessionsPerAddress) return this.rejectConn(c, RejectCode.AddressLimit, 'too many sessions from this address');
    const s = sessions.create(c, config);
    a.sessions++;
    this.leaveHandshake(c);
    s.reliable = c;
    c.session = s;
    s.name = cleanName(msg.name) || `player-${s.id}`;
    s.datagramsWanted = msg.wsOnly !== true;
    s.rosterWanted = msg.roster === true;
    s.state = 'authenticating';
    const auth = hooks?.authenticate;
    const finish = (result: AuthResult): void => {
      if (s.state !== 'authenticating') return; // closed meanwhile
      if (result === false) return this.reject(s, RejectCode.AuthFailed, 'authentication failed');
      if (typeof result === 'object' && result.name) s.name = cleanName(result.name) || s.name;
      if (msg.spectate === true) return msg.seat !== undefined ? this.spectateSeated(s, msg.seat, msg.room) : this.spectate(s, msg.room);
      if (msg.seat !== undefined) return this.joinSeated(s, msg.seat, msg.room);
      if (this.ctx.seats.requiresSeat()) return this.reject(s, RejectCode.SeatRequired, 'this server is a fleet member: ask POST /matchmake for a seat and say hello with it');
      if (this.ctx.draining()) return this.reject(s, RejectCode.ShuttingDown, 'this server is draining: it takes no new players');
      this.join(s, msg.room, msg);
    };
    if (!auth) return finish(true);
    let out: AuthResult | Promise<AuthResult>;
    try {
      out = auth(msg.token, { name: s.name, remoteAddress: s.remoteAddress });
    } catch (err) {
      log.warn({ err, session: s.id }, 'authenticate hook threw');
      return this.reject(s, RejectCode.AuthFailed, 'authentication failed');
    }
    if (out instanceof Promise) {
      out.then(finish, (err: unknown) => {
        log.warn({ err, session: s.id }, 'authenticate hook rejected');
        if (s.state === 'authenticating') this.reject(s, RejectCode.AuthFailed, 'authentication failed');
      });
    } else {
      finish(out);
    }
  }

  private join(s: Session, roomName: string | undefined, hello: Extract<ClientControl, { t: 'hello' }>): void {
    const { rooms, clock } = this.ctx;
    const room = rooms.match(roomName, clock.nowMs(), {
      addressKey: s.addressKey,
      params: hello.params,
      unlisted: hello.private === true,
      mayCreate: () => this.mayCreateRoom(s.addressKey),
      creator: { sessionId: s.id, name: s.name },
    });
    if (typeof room === 'number') return this.reject(s, room, REJECT_REASONS[room] ?? 'no room available');
    this.enter(s, room);
  }

  /**
   * A hello with a seat: the fleet takes it (once, before it expires, for the room it was granted
   * in, and only while this process owns that room under its current lease), then the player
   * enters that room, opened here with the origin the fleet registered if it is not open yet.
   */
  private joinSeated(s: Session, seat: string, roomName: string | undefined): void {
    const { rooms, clock, log } = this.ctx;
    this.ctx.seats.claim(seat, roomName).then(
      ({ room: name, result, done }) => {
        try {
          if (s.state !== 'authenticating') return; // closed meanwhile: the seat is spent, the next heartbeat corrects the count
          if (result.outcome !== 'ok') {
            const [code, reason] = SEAT_REFUSALS[result.outcome];
            return this.reject(s, code, reason);
          }
          const matchmade = result.matchmade !== false;
          const room = rooms.seated(name, clock.nowMs(), {
            clientNamed: !matchmade, matchmade, listed: result.listed !== false, ownerKey: result.ownerKey ?? '',
            ...(matchmade ? {} : { creator: { sessionId: s.id, name: s.name } }),
          });
          if (typeof room === 'number') return this.reject(s, room, REJECT_REASONS[room] ?? 'no room available');
          this.enter(s, room);
        } finally {
          done();
        }
      },
      (err: unknown) => {
        log.warn({ err, session: s.id }, 'seat claim failed');
        if (s.state === 'authenticating') this.reject(s, RejectCode.FleetUnavailable, SEAT_REFUSALS.unavailable[1]);
      },
    );
  }

  /** A spectating hello with a seat from the matchmaker: the fleet takes it, then the spectator watches the room it was granted for. */
  private spectateSeated(s: Session, seat: string, roomName: string | undefined): void {
    this.ctx.seats.claim(seat, roomName, true).then(
      ({ room, result, done }) => {
        done();
        if (s.state !== 'authenticating') return;
        if (result.outcome !== 'ok') {
          const [code, reason] = SEAT_REFUSALS[result.outcome];
          return this.reject(s, code, reason);
        }
        this.spectate(s, room);
      },
      (err: unknown) => {
        this.ctx.log.warn({ err, session: s.id }, 'spectator seat claim failed');
        if (s.state === 'authenticating') this.reject(s, RejectCode.FleetUnavailable, SEAT_REFUSALS.unavailable[1]);
      },
    );
  }

  /**
   * A spectator watches an open room (it never creates one): no entity, no inputs, every snapshot;
   * at most maxSpectatorsPerRoom per room. In a room with views its view is centred on the camera it
   * reports (server/spectator-camera.ts).
   */
  private spectate(s: Session, roomName: string | undefined): void {
    const { rooms, config, schema, out, log } = this.ctx;
    const room = roomName !== undefined ? rooms.get(roomName) : undefined;
    if (!room) return this.reject(s, RejectCode.BadRoomName, 'spectating needs the name of an open room');
    if (room.spectators.length >= config.maxSpectatorsPerRoom) return this.reject(s, RejectCode.RoomFull, 'no spectator place left in that room');
    const player = new Player(s.id, s.name, schema.inputFields.length, config.net.inputBufferMax, this.inputTotals);
    room.addSpectator(player, room.interest ? this.cameras.defaultRadius(room.interest) : 0);
    s.player = player;
    s.room = room;
    s.spectator = true;
    s.state = 'active';
    out.bindPlayer(s);
    if (this.streams(s)) this.streamOf(room).add(player, out.streamLink(s));
    out.sendControl(s, { t: 'welcome', ...this.sessionInfo(s) });
    this.sendRoster(s, room, undefined);
    log.info({ session: s.id, name: s.name, room: room.name, remote: s.remoteAddress }, 'spectator joined');
  }

  /**
   * True when a spectator's snapshots go on its room's shared stream: the stream is on, the room
   * has no views, and the snapshots ride the WebSocket (no datagram channel offered).
   */
  private streams(s: Session): boolean {
    return this.ctx.config.spectatorStream && s.spectator && s.room !== undefined && s.room.interest === undefined && !(this.ctx.datagramPort(s.id) !== 0 && s.datagramsWanted);
  }

  /** The room's shared spectator stream, made when its first spectator joins it. */
  private streamOf(room: Room): SpectatorStream {
    if (room.stream instanceof SpectatorStream) return room.stream;
    const { config, clock, stats, out } = this.ctx;
    const stream = new SpectatorStream({ maxBehindBytes: config.spectatorStreamMaxBehindBytes, stalledMs: config.clientTimeoutMs, nowMs: () => clock.nowMs() }, stats.spectatorStream, out.streams);
    room.stream = stream;
    return stream;
  }

  /** Puts an authenticated session's player into `room` and tells everyone. */
  private enter(s: Session, room: Room): void {
    const { config, schema, out, log } = this.ctx;
    s.name = uniqueName(s.name, room.takenNames);
    const player = new Player(s.id, s.name, schema.inputFields.length, config.net.inputBufferMax, this.inputTotals);
    const eid = room.addPlayer(player);
    s.player = player;
    s.room = room;
    s.state = 'active';
    out.bindPlayer(s);
    out.sendControl(s, { t: 'welcome', ...this.sessionInfo(s) });
    // the others hear of it with the rest of the room's changes (announceRoomChanges)
    const ch = this.changesOf(room);
    ch.joined.push(player);
    ch.enteredAt.set(player, ++this.changeOrder);
    this.sendRoster(s, room, player);
    log.info({ session: s.id, name: s.name, room: room.name, eid, remote: s.remoteAddress }, 'player joined');
  }

  /** The changes of `room` not yet announced (made when it has none). */
  private changesOf(room: Room): RoomChanges {
    let ch = this.changes.get(room);
    if (!ch) {
      ch = { joined: [], left: [], enteredAt: new Map(), sinceMs: this.ctx.clock.nowMs() };
      this.changes.set(room, ch);
    }
    return ch;
  }

  /**
   * Announces the changes of every room whose first unannounced one is a snapshot interval old or
   * more, and forgets them; a room with nobody left to tell forgets them at once. Runs when the
   * outermost batch ends.
   */
  private announceRoomChanges(): void {
    if (this.changes.size === 0) return;
    const now = this.ctx.clock.nowMs();
    const interval = 1000 / this.ctx.config.net.snapshotRateHz;
    for (const [room, ch] of this.changes) {
      if (room.players.length > 0 && now - ch.sinceMs < interval) continue;
      this.flushChanges(room, ch);
    }
  }

  /** Announces the changes of `room` not yet announced, now (before it freezes for a move: they would not reach its players otherwise). */
  flushRoomChanges(room: Room): void {
    const ch = this.changes.get(room);
    if (ch) this.flushChanges(room, ch);
  }

  private flushChanges(room: Room, ch: RoomChanges): void {
    // forgotten even if a send throws: they are never announced twice
    this.changes.delete(room);
    this.announce(room, ch.joined, ch.left, ch.enteredAt);
  }

  /**
   * Tells every player of `room` who entered it (`joiners`, in order) and who left (`leavers`):
   * a player there before the batch hears of all of them; one who entered during it only of those
   * who entered after it and of those who left after it (its own roster held the rest). One
   * `roster` with up to MAX_ROSTER_PLAYERS of each for a client that takes rosters, a `joined` and
   * a `left` each for one that does not.
   */
  private announce(room: Room, joiners: readonly Player[], leavers: readonly { id: number; at: number }[], enteredAt: ReadonlyMap<Player, number>): void {
    const sessions = this.ctx.sessions;
    // what a player there before all of them hears, built once (a joiner gone before the
    // announcement, its entity removed, is not announced), and where in it each joiner's tail starts
    const entries: RosterPlayer[] = [];
    const tailOf = new Map<Player, number>();
    for (const j of joiners) {
      if (j.eid >= 0) entries.push(j.rosterEntry());
      tailOf.set(j, entries.length);
    }
    const ids = leavers.map((l) => l.id);
    for (const p of room.players) {
      const other = sessions.get(p.id);
      if (!other) continue;
      const since = enteredAt.get(p);
      if (since === undefined) {
        this.tell(other, entries, ids);
        continue;
      }
      // a player announced already (before a departure of its batch) hears of every joiner
      const from = tailOf.get(p) ?? 0;
      this.tell(other, from === 0 ? entries : entries.slice(from), leavers.filter((l) => l.at > since).map((l) => l.id));
    }
  }

  /**
   * Sends `to` the arrivals `players` and the departures `left`: `roster` messages of up to
   * MAX_ROSTER_PLAYERS of each when its hello asked for them, else a `joined` and a `left` each
   * (what a client of an earlier release takes).
   */
  private tell(to: Session, players: readonly RosterPlayer[], left: readonly number[]): void {
    const out = this.ctx.out;
    if (!to.rosterWanted) {
      for (const p of players) out.sendControl(to, { t: 'joined', ...p });
      for (const id of left) out.sendControl(to, { t: 'left', sessionId: id });
      return;
    }
    const chunk = <T>(a: readonly T[], at: number): T[] => (at === 0 && a.length <= MAX_ROSTER_PLAYERS ? (a as T[]) : a.slice(at, at + MAX_ROSTER_PLAYERS));
    for (let at = 0; at < players.length || at < left.length; at += MAX_ROSTER_PLAYERS) {
      const gone = chunk(left, at);
      out.sendControl(to, gone.length > 0 ? { t: 'roster', players: chunk(players, at), left: gone } : { t: 'roster', players: chunk(players, at) });
    }
  }

  /**
   * Tells `s`, entering `room`, who is in it (but `self`): in a room of 1,000, 4 `roster` messages
   * instead of 999 `joined` when its hello asked for rosters.
   */
  private sendRoster(s: Session, room: Room, self: Player | undefined): void {
    const entries: RosterPlayer[] = [];
    for (const p of room.players) if (p !== self) entries.push(p.rosterEntry());
    this.tell(s, entries, []);
  }

  /**
   * Takes one room creation from the address's budget and the server's (a client naming a room
   * that does not exist yet); false, counted, when either is spent.
   */
  private mayCreateRoom(key: string): boolean {
    const now = this.ctx.clock.nowMs();
    const a: AddressState = this.addresses.get(key);
    if (!a.roomCreates.take(now)) {
      this.ctx.stats.roomCreatesRefused.address++;
      return false;
    }
    if (!this.roomCreates.take(now)) {
      this.ctx.stats.roomCreatesRefused.server++;
      return false;
    }
    return true;
  }

  /** What welcome and resumed carry. */
  sessionInfo(s: Session): SessionInfo {
    const { config } = this.ctx;
    const n = config.net;
    const port = this.ctx.datagramPort(s.id);
    return {
      sessionId: s.id, token: s.token, room: s.room?.name ?? '', eid: s.spectator ? NO_ENTITY : s.eid, tick: s.room?.ctx.tick ?? 0,
      tickRateHz: n.tickRateHz, snapshotRateHz: n.snapshotRateHz, inputRedundancy: n.inputRedundancy, maxPacketBytes: n.maxPacketBytes,
      signalingPort: port, webrtc: port !== 0 && s.datagramsWanted, resumeGraceMs: config.resumeGraceMs,
      ...(s.spectator ? { spectator: true } : {}),
      ...(s.player?.streamed === true ? { stream: true } : {}),
    };
  }

  /**
   * A new connection resumes a dropped (or half-open) session: same session, entity and room. The
   * token is single-use: it rotates, the new one goes back in `resumed`, and every reliable
   * message the client has not acknowledged is resent in order.
   */
  private handleResume(c: Conn, msg: Extract<ClientControl, { t: 'resume' }>): void {
    const { sessions, stats, out, log } = this.ctx;
    if (!this.ctx.running()) return this.rejectConn(c, RejectCode.ShuttingDown, 'server is shutting down');
    if (msg.v !== PROTOCOL_VERSION || msg.hash !== this.ctx.hash) return this.rejectConn(c, RejectCode.ConfigMismatch, 'protocol or config changed');
    const old = sessions.byTokenValue(msg.token);
    if (!old || (old.state !== 'resuming' && old.state !== 'active') || !old.room || !old.player) {
      stats.resumesFailed++;
      return this.rejectConn(c, RejectCode.ResumeFailed, 'unknown or expired session');
    }
    const stale = old.reliable;
    if (stale) {
      // Half-open: the old connection never closed. Replace it without ending the session.
      stale.session = undefined;
      stale.transport.close(stale.id, 4100 + CloseCode.Replaced, 'session resumed elsewhere');
    }
    this.dropDatagram(old);
    this.leaveHandshake(c);
    old.reliable = c;
    c.session = old;
    c.limits = old.limits;
    sessions.rotateToken(old);
    old.state = 'active';
    old.player.resetAcks(old.room.ctx.tick);
    if (old.player.streamed && old.room.stream instanceof SpectatorStream) old.room.stream.restart(old.player);
    // a spectator that moved here with its room (server/fleet/handoff.ts) joins the room's stream as it resumes
    else if (this.streams(old)) this.streamOf(old.room).add(old.player, out.streamLink(old));
    if (msg.a !== undefined) old.reliableOut.ack(msg.a);
    stats.resumes++;
    out.sendControl(old, { t: 'resumed', ...this.sessionInfo(old) });
    for (const m of old.reliableOut.unacked()) out.transmit(old, m.msg);
    log.info({ session: old.id, room: old.room.name, eid: old.eid, resent: old.reliableOut.pendingCount }, 'session resumed');
  }

  // ---- the datagram channel ----

  private datagramOpened(c: Conn): void {
    this.leavePending(c);
    const s = c.session;
    if (!s) return void c.transport.close(c.id);
    if (s.pendingDatagram === c) s.pendingDatagram = undefined;
    if (s.state !== 'active' || !s.datagramsWanted || s.unreliable) {
      c.session = undefined;
      c.transport.close(c.id);
      return;
    }
    s.unreliable = c;
    this.ctx.out.sendControl(s, { t: 'transport', use: 'webrtc' });
    this.ctx.log.debug({ session: s.id, conn: c.id }, 'datagram channel open');
  }

  /** Closes the session's datagram connections (open and pending); unreliable traffic falls back. */
  private dropDatagram(s: Session): void {
    for (const c of [s.unreliable, s.pendingDatagram]) {
      if (!c) continue;
      c.session = undefined;
      c.transport.close(c.id);
    }
    s.unreliable = undefined;
    s.pendingDatagram = undefined;
  }

  private connClosed(c: Conn): void {
    this.ctx.conns.delete(c);
    this.leaveHandshake(c);
    this.leavePending(c);
    const s = c.session;
    if (!s) return;
    c.session = undefined;
    if (s.pendingDatagram === c) s.pendingDatagram = undefined;
    if (s.unreliable === c) {
      s.unreliable = undefined;
      if (s.state === 'active') this.ctx.out.sendControl(s, { t: 'transport', use: 'ws' });
    }
    if (s.reliable === c) this.reliableClosed(s);
  }

  /** The session's reliable connection closed: keep the session for a resume if it was playing, else end it. */
  private reliableClosed(s: Session): void {
    const { config, clock, log } = this.ctx;
    s.reliable = undefined;
    if (s.state !== 'active' || config.resumeGraceMs === 0 || !this.ctx.running()) {
      this.endSession(s, 'socket closed');
      return;
    }
    s.state = 'resuming';
    s.resumeDeadlineMs = clock.nowMs() + config.resumeGraceMs;
    s.player?.inputs.reset();
    this.dropDatagram(s);
    log.info({ session: s.id, graceMs: config.resumeGraceMs }, 'connection lost; session kept for resume');
  }

  /** Closes the session's reliable connection and keeps the session for a resume. */
  private closeResumable(s: Session, code: CloseCodeId, reason: string): void {
    const c = s.reliable;
    if (!c) return;
    c.session = undefined;
    this.reliableClosed(s);
    c.transport.close(c.id, 4100 + code, reason);
  }

  // ---- housekeeping (once a second) ----

  /** Ends expired resumes, closes silent clients and handshakes past their deadline. */
  housekeeping(now: number): void {
    this.inRoomBatch(() => this.expire(now));
  }

  private expire(now: number): void {
    const { sessions, conns, config, stats, log } = this.ctx;
    this.addresses.prune(now);
    for (const s of sessions.values()) {
      s.sampleRates(now);
      if (s.state === 'resuming' && now >= s.resumeDeadlineMs) this.endSession(s, 'resume window expired');
    }
    // A playing client that acknowledged no snapshot for clientTimeoutMs has stopped reading (or its
    // link is half-open): its connection is closed, which keeps the session resumable and stops the
    // server buffering bytes for it.
    for (const s of sessions.values()) {
      const p = s.player;
      if (s.state !== 'active' || !s.reliable || !p) continue;
      if (p.lastAckMs === 0) p.lastAckMs = now;
      else if (now - p.lastAckMs > config.clientTimeoutMs) {
        stats.timeouts++;
        log.info({ session: s.id, silentMs: Math.round(now - p.lastAckMs) }, 'client stopped acknowledging snapshots; closing its connection');
        this.closeResumable(s, CloseCode.Timeout, 'no snapshot acknowledgements');
      }
    }
    for (const c of conns.values()) {
      if (c.session || !c.transport.reliable || c.helloSeen) continue;
      if (now - c.admittedMs > config.handshakeTimeoutMs) {
        stats.handshakeTimeouts++;
        c.transport.close(c.id, 4000 + RejectCode.BadMessage, 'no hello in time');
      }
    }
    this.runDeferred();
  }

  // ---- ending sessions ----

  private reject(s: Session, code: RejectCodeId, reason: string): void {
    const { stats, out, log } = this.ctx;
    stats.rejects++;
    out.sendControl(s, { t: 'reject', code, reason });
    log.info({ session: s.id, code, reason }, 'hello rejected');
    const c = s.reliable;
    if (c) c.transport.close(c.id, 4000 + code, reason);
    this.endSession(s, 'rejected');
  }

  /** Refuses a handshake that has no session yet: reject with a reason, then close. */
  private rejectConn(c: Conn, code: RejectCodeId, reason: string): void {
    const { stats, out, log } = this.ctx;
    stats.rejects++;
    out.sendToConn(c, { t: 'reject', code, reason });
    log.info({ conn: c.id, remote: c.remoteAddress, code, reason }, 'hello rejected');
    c.transport.close(c.id, 4000 + code, reason);
  }

  /** Ends the client behind `c`: its session if it has one, else just the connection. */
  private drop(c: Conn, code: CloseCodeId, reason: string): void {
    if (c.session) return this.disconnect(c.session, code, reason);
    this.ctx.out.sendToConn(c, { t: 'bye', code, reason });
    c.transport.close(c.id, 4100 + code, reason);
  }

  /** Tells the client why, then closes its connections and removes its session. */
  disconnect(s: Session, code: CloseCodeId, reason: string): void {
    if (s.state === 'gone') return;
    this.ctx.out.sendControl(s, { t: 'bye', code, reason });
    const c = s.reliable;
    if (c) c.transport.close(c.id, 4100 + code, reason);
    this.endSession(s, reason);
  }

  onResendOverflow(s: Session): void {
    this.deferred.push({ s, code: CloseCode.ResendOverflow, reason: 'too many unacknowledged messages', resumable: false });
  }

  onBackpressure(s: Session): void {
    this.deferred.push({ s, code: CloseCode.Backpressure, reason: 'client is not reading', resumable: true });
  }

  /**
   * Ends a session for an operator (bye `Kicked` with `reason`) at the next safe point: the end
   * of this frame, or the next drain. False when there is no such session.
   */
  kick(sessionId: number, reason: string): boolean {
    const s = this.ctx.sessions.get(sessionId);
    if (!s || s.state === 'gone') return false;
    this.deferred.push({ s, code: CloseCode.Kicked, reason, resumable: false });
    return true;
  }

  /**
   * Closes a room for an operator at the next safe point: every session in it gets bye
   * `RoomClosed` with `reason` and ends, then the room is disposed. Returns the players it held
   * now, or -1 when there is no such room.
   */
  closeRoom(name: string, reason: string): number {
    const room = this.ctx.rooms.get(name);
    if (!room) return -1;
    this.deferred.push({ s: undefined, room, code: CloseCode.RoomClosed, reason, resumable: false });
    return room.players.length;
  }

  /** Ends every session in `room` (never while its players are iterated: each end removes one), then disposes it. */
  private endRoom(room: Room, code: CloseCodeId, reason: string): void {
    const { rooms, sessions, clock, log } = this.ctx;
    if (rooms.get(room.name) !== room) return;
    const players = room.players;
    const held = players.length;
    while (players.length > 0) {
      const p = players[players.length - 1];
      const s = sessions.get(p.id);
      if (s && s.player === p) this.disconnect(s, code, reason);
      if (players.length > 0 && players[players.length - 1] === p) room.removePlayer(p, clock.nowMs());
    }
    rooms.dispose(room);
    log.info({ room: room.name, players: held, reason }, 'room closed');
  }

  /**
   * Carries out the disconnects requested while players were being iterated (fan-outs, snapshot
   * sends), where removing a player at once would skip another, and those requested from outside
   * the frame (an operator's kicks and room closes). Runs after every drain, every housekeeping
   * pass and every frame.
   */
  runDeferred(): void {
    if (this.deferred.length > 0) this.inRoomBatch(() => this.runDeferredNow());
  }

  private runDeferredNow(): void {
    while (this.deferred.length > 0) {
      const d = this.deferred.shift() as Deferred;
      if (d.room) {
        this.endRoom(d.room, d.code, d.reason);
        continue;
      }
      if (!d.s || d.s.state === 'gone') continue;
      if (d.resumable) {
        if (d.s.state === 'active') this.closeResumable(d.s, d.code, d.reason);
      } else {
        this.disconnect(d.s, d.code, d.reason);
      }
    }
  }

  private endSession(s: Session, why: string): void {
    if (s.state === 'gone') return;
    const { clock, log } = this.ctx;
    const room = s.room;
    const player = s.player;
    s.state = 'gone';
    if (room && player && s.spectator) {
      if (player.streamed && room.stream instanceof SpectatorStream) room.stream.remove(player);
      room.removeSpectator(player, clock.nowMs());
      log.info({ session: s.id, room: room.name, why }, 'spectator left');
    } else if (room && player) {
      // a player whose arrival is not announced yet is announced (with those before it) before its departure is
      const ch = this.changes.get(room);
      if (ch && ch.joined.includes(player)) {
        this.announce(room, ch.joined, [], ch.enteredAt);
        ch.joined = [];
      }
      room.removePlayer(player, clock.nowMs());
      // Frozen for a move: announced if the room stays here (server/fleet/handoff.ts), by the new owner's resume window if it moves.
      if (room.frozen) room.frozen.left.push(s.id);
      else this.changesOf(room).left.push({ id: s.id, at: ++this.changeOrder });
      log.info({ session: s.id, room: room.name, why }, 'player left');
    }
    this.forget(s);
  }

  /** Lets go of a session that left its room: its address's count, datagram channel, connection and table entry. */
  private forget(s: Session): void {
    s.room = undefined;
    s.player = undefined;
    this.addresses.get(s.addressKey).sessions--;
    this.dropDatagram(s);
    if (s.reliable) s.reliable.session = undefined;
    s.reliable = undefined;
    this.ctx.sessions.delete(s);
  }

  /**
   * Ends a session without a word to anyone: its room moved to another member, whose `moved` its
   * client was sent (or its adoption from another member is undone). Its connection stays open,
   * carrying nothing, until the client closes it, so nothing cuts `moved` off.
   */
  retireMoved(s: Session): void {
    if (s.state === 'gone') return;
    this.forget(s);
  }

  /**
   * The room frozen for a move thawed here (`deliver`: its players' held sequenced messages are read
   * now, in order) or moved away (they are dropped: the clients resend them to the new owner).
   */
  releaseHeld(room: Room, deliver: boolean): void {
    const held = this.held.get(room);
    this.held.delete(room);
    if (!held || !deliver) return;
    this.inRoomBatch(() => {
      for (const { c, msg } of held) {
        if (!c.session || c.session.room !== room) continue; // gone meanwhile: unacknowledged, resent after a resume
        try {
          this.handleControl(c, msg);
        } catch (err) {
          this.badMessage(c, MsgType.Control, err);
        }
      }
      this.runDeferred();
    });
  }

  /** Ends every session (shutdown), telling each client why. */
  disconnectAll(code: CloseCodeId, reason: string): void {
    // in one batch: the rooms are empty by its end, so nobody is sent the others' departures
    this.inRoomBatch(() => {
      for (const s of [...this.ctx.sessions.values()]) this.disconnect(s, code, reason);
    });
    for (const c of [...this.ctx.conns.values()]) if (!c.session && c.transport.reliable) this.drop(c, code, reason);
  }
}
