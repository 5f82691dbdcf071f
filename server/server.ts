// The server process core: wires config, rooms, sessions, both transports and the fixed-step loop,
// and dispatches every inbound message from the inbox (hello, inputs, acks, chat, ping).
import pino, { type Logger } from 'pino';
import { configHash, PROTOCOL_VERSION } from '../shared/config.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import { BitReader } from '../shared/protocol/bits.ts';
import { decodeClientControl, encodeControl, SEQUENCED_TYPES, type ClientControl, type ServerControl, type SessionInfo } from '../shared/protocol/control.ts';
import { DecodeError } from '../shared/protocol/errors.ts';
import { CloseCode, MsgType, RejectCode, type CloseCodeId, type RejectCodeId } from '../shared/protocol/ids.ts';
import { createInputPacket, readInputPacket, type InputPacket } from '../shared/protocol/input.ts';
import { compileSchema, type NetSchema } from '../shared/protocol/schema.ts';
import { readSnapshotAck, type SnapshotAck } from '../shared/protocol/snapshot.ts';
import { seqAdd } from '../shared/sequence.ts';
import type { LinkSettings } from '../shared/net/link-conditioner.ts';
import type { ServerConfig } from './config.ts';
import { FixedStepLoop, startScheduler, systemClock, type Clock, type LoopStep, type Scheduler } from './loop.ts';
import { createRegistry, renderMetrics, ServerStats } from './metrics.ts';
import { InputBuffer } from './inputs.ts';
import { ConditionedLinks } from './net/conditioned-links.ts';
import { NetEvent, NetQueue, type NetEventKind } from './net/queue.ts';
import { startHttpServer, type HttpServer } from './net/uws.ts';
import type { DatagramTransport } from './net/transport.ts';
import { RoomManager, type EncoderFactory } from './rooms.ts';
import { SessionTable, type Session } from './sessions.ts';
import { DeltaSnapshotEncoder } from './snapshots.ts';
import { runTick } from './tick.ts';
import type { Registry } from 'prom-client';

/** What an authenticate hook may answer: refuse, accept, or accept with a name to use. */
export type AuthResult = boolean | { name?: string };

/** Hooks a game server can plug in. */
export interface ServerHooks {
  /** Checks a hello's auth token (undefined when none was sent). Default: accept everyone. */
  authenticate?(token: string | undefined, info: { name: string; remoteAddress: string }): AuthResult | Promise<AuthResult>;
  /** A client sent a game event (reliable); runs at the start of a tick, before inputs. */
  onEvent?(server: TickwireServer, session: Session, name: string, data: unknown): void;
}

/** Options besides the config. */
export interface ServerOptions {
  game: AnyGame;
  hooks?: ServerHooks;
  clock?: Clock;
  logger?: Logger;
  /** Snapshot encoder per room; default full snapshots. */
  encoderFactory?: EncoderFactory;
  /** Starts the WebRTC side; default loads server/net/geckos.ts. Tests may inject or disable it. */
  startDatagram?: (server: TickwireServer) => Promise<DatagramTransport | undefined>;
  /** When false the loop is not scheduled (tests call `frame()` by hand). Default true. */
  autoTick?: boolean;
  /**
   * Seeded link conditioner on the server's end of every session (soak tests): inputs and snapshot
   * acks in, and unreliable packets out, on either channel (see ConditionedLinks). `settings` is
   * read live, so a run may change or heal the link. Default: none (no conditioning).
   */
  conditioner?: { settings: LinkSettings; seed: number };
}

/**
 * Input packets claiming a tick more than this many seconds from the room's are dropped (counted in
 * tickwire_input_packets_rejected_total): far beyond any real round trip, so only forged or
 * hopelessly desynchronized clients hit it.
 */
export const MAX_INPUT_TICK_SKEW_SEC = 2;

/** Server life cycle. */
export type ServerState = 'starting' | 'running' | 'stopping' | 'stopped';

/** One Tickwire server process. */
export class TickwireServer {
  readonly game: AnyGame;
  readonly schema: NetSchema;
  readonly hash: number;
  readonly stats = new ServerStats();
  readonly sessions = new SessionTable();
  readonly rooms: RoomManager;
  readonly queue = new NetQueue();
  readonly log: Logger;
  readonly clock: Clock;
  readonly loop: FixedStepLoop;
  readonly registry: Registry;
  state: ServerState = 'starting';
  http: HttpServer | undefined;
  rtc: DatagramTransport | undefined;
  private scheduler: Scheduler | undefined;
  private readonly reader = new BitReader();
  private readonly inputPacket: InputPacket;
  private readonly ack: SnapshotAck = { tick: 0, bits: 0 };
  private readonly startedMs: number;
  /** Largest distance, in ticks, between an input packet's claimed tick and the room tick (MAX_INPUT_TICK_SKEW_SEC). */
  private readonly maxTickSkew: number;
  private lastDisposeCheckMs = 0;
  private readonly tickHost: { drainNetEvents: () => void; rooms: TickwireServer['rooms']['list'] };
  /** Server-end conditioned links; undefined without ServerOptions.conditioner. */
  private readonly links: ConditionedLinks<Session> | undefined;
  /** Where inbound messages go: the inbox, or through the conditioned links first. */
  private readonly receive: (kind: NetEventKind, id: number, bytes: Uint8Array) => void;

  constructor(
    readonly config: ServerConfig,
    private readonly opts: ServerOptions,
  ) {
    this.game = opts.game;
    this.schema = compileSchema(this.game);
    this.hash = configHash(this.game);
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger ?? pino({ level: config.logLevel, base: { service: 'tickwire' } });
    this.loop = new FixedStepLoop(config.net.tickRateHz, config.maxCatchUpTicks);
    this.rooms = new RoomManager({
      game: this.game, schema: this.schema, net: config.net, capacity: config.roomCapacity, maxRooms: config.maxRooms,
      emptyGraceMs: config.roomEmptyGraceMs, seed: config.seed, params: config.gameParams,
      encoderFactory: opts.encoderFactory ?? ((schema, net, stats) => new DeltaSnapshotEncoder(schema, net, stats)),
      encoderStats: this.stats.encoder,
    });
    this.inputPacket = createInputPacket(this.schema);
    this.startedMs = this.clock.nowMs();
    this.maxTickSkew = Math.round(MAX_INPUT_TICK_SKEW_SEC * config.net.tickRateHz);
    this.registry = createRegistry(this.stats, {
      rooms: () => this.rooms.size,
      sessions: (t) => this.sessions.countOn(t),
      rtcPeers: () => this.rtc?.peerCount() ?? 0,
      rtcProcessMemory: () => this.rtc?.processMemory?.(),
      queueBytes: () => this.queue.usedBytes(),
    });
    this.tickHost = { drainNetEvents: () => this.drainNetEvents(), rooms: this.rooms.list };
    const c = opts.conditioner;
    this.links = c
      ? new ConditionedLinks<Session>(c.settings, c.seed, {
          nowMs: () => this.clock.nowMs(),
          inbox: (kind, id, bytes) => this.inbox(kind, id, bytes),
          sendNow: (s, bytes) => this.sendUnreliableNow(s, bytes),
          session: (id) => this.sessions.get(id),
          sessionBySocket: (id) => this.sessions.bySocketId(id),
          onDeliveryError: (err, session) => this.log.error({ err, session }, 'bug in a conditioned delivery'),
        })
      : undefined;
    this.receive = this.links ? this.links.receive.bind(this.links) : (kind, id, bytes) => this.inbox(kind, id, bytes);
  }

  /** Binds the sockets and starts the loop. */
  async start(): Promise<void> {
    const c = this.config;
    this.http = await startHttpServer(
      { host: c.host, port: c.port, maxPayloadBytes: c.wsMaxPayloadBytes, maxBackpressureBytes: c.wsMaxBackpressureBytes, idleTimeoutSec: c.wsIdleTimeoutSec, allowedOrigins: c.allowedOrigins, clientDir: c.clientDir },
      {
        acceptSocket: (addr) => this.acceptSocket(addr),
        onSocketOpen: (sid) => this.inbox(NetEvent.WsOpen, sid),
        onSocketMessage: (sid, bytes) => this.receive(NetEvent.WsMessage, sid, bytes),
        onSocketClose: (sid) => this.inbox(NetEvent.WsClose, sid),
        onBadFrame: (sid) => this.inbox(NetEvent.WsMessage, sid, EMPTY),
        health: () => ({ status: this.state === 'running' ? 'ok' : this.state, uptimeSec: Math.round((this.clock.nowMs() - this.startedMs) / 1000), rooms: this.rooms.size, sessions: this.sessions.size, webrtc: this.rtc !== undefined }),
        rooms: () => ({ rooms: this.rooms.infos() }),
        config: () => this.publicConfig(),
        metrics: () => renderMetrics(this.registry, this.stats),
      },
    );
    if (c.webrtc) {
      try {
        this.rtc = await (this.opts.startDatagram ?? defaultStartDatagram)(this);
      } catch (err) {
        this.log.error({ err }, 'WebRTC transport failed to start; clients will use the WebSocket');
      }
    }
    this.state = 'running';
    this.log.info({ http: `http://${c.host}:${this.http.port}/`, ws: `ws://${c.host}:${this.http.port}/ws`, signalingPort: this.rtc?.signalingPort ?? null, udpPorts: this.rtc ? `${c.udpPortMin}-${c.udpPortMax}` : null, game: this.game.name, tickRateHz: c.net.tickRateHz, snapshotRateHz: c.net.snapshotRateHz }, 'tickwire listening');
    if (this.opts.autoTick !== false) {
      this.scheduler = startScheduler(this.loop, this.clock, (step) => this.frame(step), (err) => this.log.error({ err }, 'tick failed'));
    }
  }

  /** Public settings a client or bot may read before connecting (GET /config). */
  publicConfig(): object {
    const c = this.config;
    return { game: this.game.name, protocolVersion: PROTOCOL_VERSION, configHash: this.hash, tickRateHz: c.net.tickRateHz, snapshotRateHz: c.net.snapshotRateHz, signalingPort: this.rtc?.signalingPort ?? 0, webrtc: this.rtc !== undefined };
  }

  /** Runs the ticks the loop says are due, timing each. */
  frame(step: LoopStep): void {
    if (step.skipped > 0) {
      this.stats.skippedTicks += step.skipped;
      this.log.warn({ skipped: step.skipped, skippedTotal: this.loop.skippedTotal }, 'loop stalled: ticks skipped');
    }
    for (let i = 0; i < step.run; i++) this.tickOnce();
    const now = this.clock.nowMs();
    if (now - this.lastDisposeCheckMs >= 1000) {
      this.lastDisposeCheckMs = now;
      this.expireResumes(now);
      this.dropSilentClients(now);
      for (const name of this.rooms.disposeIdle(now)) this.log.info({ room: name }, 'room disposed');
      this.links?.prune();
    }
  }

  /** One timed tick of every room. */
  tickOnce(): void {
    const t0 = performance.now();
    runTick(this.tickHost);
    this.stats.tickSeconds.observe((performance.now() - t0) / 1000);
    this.stats.ticks++;
  }

  // ---- inbox: transport callbacks only copy bytes here ----

  private inbox(kind: NetEventKind, sessionId: number, bytes?: Uint8Array): void {
    if (!this.queue.push(kind, sessionId, bytes)) this.stats.queueDropped++;
  }

  private acceptSocket(remoteAddress: string): number {
    if (this.state !== 'running' || this.sessions.size >= this.config.maxSessions) return 0;
    return this.sessions.create(remoteAddress).id;
  }

  /** Handles every queued event; runs at the start of each tick. */
  drainNetEvents(): void {
    this.queue.drain(this.handleEvent);
  }

  /** WebSocket events carry the socket id, WebRTC events the session id. */
  private readonly handleEvent = (kind: NetEventKind, id: number, buf: Uint8Array, start: number, end: number): void => {
    const ws = kind === NetEvent.WsOpen || kind === NetEvent.WsMessage || kind === NetEvent.WsClose;
    const s = ws ? this.sessions.bySocketId(id) : this.sessions.get(id);
    if (!s) return;
    switch (kind) {
      case NetEvent.WsOpen:
        return;
      case NetEvent.WsMessage:
        this.stats.messagesIn.ws++;
        this.stats.bytesIn.ws += end - start;
        s.bytesIn += end - start;
        if (this.rateLimited(s)) return;
        this.handleMessage(s, buf, start, end, 'ws');
        return;
      case NetEvent.WsClose:
        this.socketClosed(s);
        return;
      case NetEvent.RtcOpen:
        s.rtcOpen = true;
        if (!s.wsOnly && s.state === 'active') {
          s.unreliable = 'webrtc';
          this.sendControl(s, { t: 'transport', use: 'webrtc' });
        }
        this.log.debug({ session: s.id }, 'webrtc open');
        return;
      case NetEvent.RtcMessage:
        this.stats.messagesIn.webrtc++;
        this.stats.bytesIn.webrtc += end - start;
        s.bytesIn += end - start;
        if (this.rateLimited(s)) return;
        this.handleMessage(s, buf, start, end, 'webrtc');
        return;
      case NetEvent.RtcClose:
        s.rtcOpen = false;
        if (s.unreliable === 'webrtc') {
          s.unreliable = 'ws';
          if (s.state === 'active') this.sendControl(s, { t: 'transport', use: 'ws' });
        }
        return;
    }
  };

  /**
   * Token bucket per session over both channels: maxMessagesPerSec refilled continuously, burst of
   * one second. Excess is dropped and counted; more than a second's worth dropped within one
   * second disconnects the client.
   */
  private rateLimited(s: Session): boolean {
    const now = this.clock.nowMs();
    const rate = this.config.maxMessagesPerSec;
    if (s.rateRefillMs < 0) {
      s.rateRefillMs = now;
      s.rateTokens = rate;
      s.rateWindowMs = now;
    }
    s.rateTokens = Math.min(rate, s.rateTokens + ((now - s.rateRefillMs) * rate) / 1000);
    s.rateRefillMs = now;
    if (s.rateTokens >= 1) {
      s.rateTokens -= 1;
      return false;
    }
    this.stats.rateLimited++;
    if (now - s.rateWindowMs >= 1000) {
      s.rateWindowMs = now;
      s.rateDropped = 0;
    }
    if (++s.rateDropped > rate) this.disconnect(s, CloseCode.RateLimited, 'sending too fast');
    return true;
  }

  private handleMessage(s: Session, buf: Uint8Array, start: number, end: number, via: 'ws' | 'webrtc'): void {
    try {
      if (end <= start) throw new DecodeError('type', 0, 'empty or text frame');
      const type = buf[start];
      if (type === MsgType.Control) {
        if (via !== 'ws') throw new DecodeError('type', 0, 'control messages travel on the WebSocket only');
        this.handleControl(s, decodeClientControl(buf.subarray(start, end)));
      } else if (type === MsgType.Input) {
        if (s.state !== 'active' || !s.inputs) return;
        const p = readInputPacket(this.reader, buf, this.schema, this.inputPacket, start, end);
        // A client targets a tick a little ahead of the server's; one claiming a tick seconds away
        // is forged or hopelessly out of sync, and its inputs are not applied.
        const skew = p.newestTick - (s.room?.ctx.tick ?? 0);
        if (skew > this.maxTickSkew || skew < -this.maxTickSkew) {
          this.stats.inputsTickRejected++;
          return;
        }
        const nf = this.schema.inputFields.length;
        // Oldest first, so the buffer sees sequences in order.
        for (let i = p.count - 1; i >= 0; i--) s.inputs.offer(seqAdd(p.newestSeq, -i), p.values, i * nf);
        s.inputs.newestTargetTick = p.newestTick;
        this.stats.inputsReceived += p.count;
      } else if (type === MsgType.SnapshotAck) {
        const a = readSnapshotAck(buf, this.ack, start, end);
        s.lastAckMs = this.clock.nowMs();
        if (s.state === 'active' && (s.ackedTick < 0 || a.tick > s.ackedTick) && s.room && a.tick <= s.room.ctx.tick) {
          s.ackedTick = a.tick;
          s.ackedBits = a.bits;
        }
      } else {
        throw new DecodeError('type', 0, `unknown message type ${type}`);
      }
    } catch (err) {
      if (!(err instanceof DecodeError)) {
        this.log.error({ err, session: s.id }, 'bug while handling a client message');
      }
      const type = end > start ? buf[start] : 0;
      if (type === MsgType.Control) this.stats.decodeErrors.control++;
      else if (type === MsgType.Input) this.stats.decodeErrors.input++;
      else if (type === MsgType.SnapshotAck) this.stats.decodeErrors.ack++;
      else this.stats.decodeErrors.unknown++;
      s.badMessages++;
      this.log.debug({ session: s.id, err: (err as Error).message }, 'dropped bad message');
      if (s.badMessages > this.config.maxBadMessages) {
        this.stats.disconnectsForBadMessages++;
        this.disconnect(s, CloseCode.TooManyBadMessages, 'too many malformed messages');
      }
    }
  }

  private handleControl(s: Session, msg: ClientControl): void {
    if (msg.t === 'hello' || msg.t === 'resume') {
      if (s.state !== 'handshake') throw new DecodeError('t', 8, `unexpected ${msg.t}`);
      if (msg.t === 'hello') this.handleHello(s, msg);
      else this.handleResume(s, msg);
      return;
    }
    if (msg.a !== undefined) s.reliableOut.ack(msg.a);
    if (msg.s !== undefined) {
      const verdict = s.reliableIn.accept(msg.s);
      if (verdict === 'duplicate') return;
      if (verdict === 'gap') throw new DecodeError('s', 8, `sequence ${msg.s} skips past ${s.reliableIn.lastDelivered + 1}`);
    }
    if (s.state !== 'active') {
      if (msg.t === 'ping') this.sendControl(s, { t: 'pong', id: msg.id, ms: msg.ms, tick: 0 });
      return;
    }
    switch (msg.t) {
      case 'ping':
        this.sendControl(s, { t: 'pong', id: msg.id, ms: msg.ms, tick: s.room?.ctx.tick ?? 0 });
        return;
      case 'ack':
        return;
      case 'chat':
        if (s.room) for (const p of s.room.players) this.sendControl(p, { t: 'chat', from: s.id, name: s.name, text: msg.text });
        return;
      case 'event':
        this.opts.hooks?.onEvent?.(this, s, msg.name, msg.data);
        return;
      case 'transport':
        // A fallback, not a preference: the client may try WebRTC again later (hello.wsOnly is the preference).
        if (msg.use === 'ws') {
          s.unreliable = 'ws';
          this.rtc?.close(s.id);
        } else if (s.rtcOpen && !s.wsOnly) {
          s.unreliable = 'webrtc';
        }
        return;
      case 'leave':
        this.disconnect(s, CloseCode.Kicked, 'left');
        return;
    }
  }

  private handleHello(s: Session, msg: Extract<ClientControl, { t: 'hello' }>): void {
    if (this.state !== 'running') return this.reject(s, RejectCode.ShuttingDown, 'server is shutting down');
    if (msg.v !== PROTOCOL_VERSION) return this.reject(s, RejectCode.ProtocolVersion, `protocol ${msg.v} unsupported; server speaks ${PROTOCOL_VERSION}`);
    if (msg.hash !== this.hash) return this.reject(s, RejectCode.ConfigMismatch, `config hash ${msg.hash} does not match the server's ${this.hash} (game ${this.game.name})`);
    s.name = msg.name.trim().slice(0, 32) || `player-${s.id}`;
    s.wsOnly = msg.wsOnly === true;
    s.state = 'authenticating';
    const auth = this.opts.hooks?.authenticate;
    const finish = (result: AuthResult): void => {
      if (s.state !== 'authenticating') return; // closed meanwhile
      if (result === false) return this.reject(s, RejectCode.AuthFailed, 'authentication failed');
      if (typeof result === 'object' && result.name) s.name = result.name.slice(0, 32);
      this.join(s, msg.room);
    };
    if (!auth) return finish(true);
    let out: AuthResult | Promise<AuthResult>;
    try {
      out = auth(msg.token, { name: s.name, remoteAddress: s.remoteAddress });
    } catch (err) {
      this.log.warn({ err, session: s.id }, 'authenticate hook threw');
      return this.reject(s, RejectCode.AuthFailed, 'authentication failed');
    }
    if (out instanceof Promise) {
      out.then(finish, (err: unknown) => {
        this.log.warn({ err, session: s.id }, 'authenticate hook rejected');
        if (s.state === 'authenticating') this.reject(s, RejectCode.AuthFailed, 'authentication failed');
      });
    } else {
      finish(out);
    }
  }

  private join(s: Session, roomName: string | undefined): void {
    const room = this.rooms.match(roomName, this.clock.nowMs());
    if (typeof room === 'number') return this.reject(s, room, room === RejectCode.RoomFull ? 'room is full' : 'no room available');
    s.inputs = new InputBuffer(this.schema.inputFields.length, this.config.net.inputBufferMax);
    const eid = room.addPlayer(s);
    s.state = 'active';
    s.sendUnreliable = (bytes) => this.sendUnreliable(s, bytes);
    this.sendControl(s, { t: 'welcome', ...this.sessionInfo(s) });
    for (const p of room.players) if (p !== s) {
      this.sendControl(p, { t: 'joined', sessionId: s.id, name: s.name, eid });
      this.sendControl(s, { t: 'joined', sessionId: p.id, name: p.name, eid: p.eid });
    }
    this.log.info({ session: s.id, name: s.name, room: room.name, eid, remote: s.remoteAddress }, 'player joined');
  }

  private sessionInfo(s: Session): SessionInfo {
    const n = this.config.net;
    return {
      sessionId: s.id, token: s.token, room: s.room?.name ?? '', eid: s.eid, tick: s.room?.ctx.tick ?? 0,
      tickRateHz: n.tickRateHz, snapshotRateHz: n.snapshotRateHz, inputRedundancy: n.inputRedundancy, maxPacketBytes: n.maxPacketBytes,
      signalingPort: this.rtc?.signalingPort ?? 0, webrtc: this.rtc !== undefined && !s.wsOnly, resumeGraceMs: this.config.resumeGraceMs,
    };
  }

  /**
   * A new connection resumes a dropped (or half-open) session: same session, entity and room. The
   * token is single-use: it rotates, the new one goes back in `resumed`, and every reliable
   * message the client has not acknowledged is resent in order.
   */
  private handleResume(fresh: Session, msg: Extract<ClientControl, { t: 'resume' }>): void {
    if (this.state !== 'running') return this.reject(fresh, RejectCode.ShuttingDown, 'server is shutting down');
    if (msg.v !== PROTOCOL_VERSION || msg.hash !== this.hash) return this.reject(fresh, RejectCode.ConfigMismatch, 'protocol or config changed');
    const old = this.sessions.byTokenValue(msg.token);
    if (!old || old === fresh || (old.state !== 'resuming' && old.state !== 'active') || !old.room) {
      this.stats.resumesFailed++;
      return this.reject(fresh, RejectCode.ResumeFailed, 'unknown or expired session');
    }
    const socketId = fresh.socketId;
    this.sessions.unbindSocket(fresh);
    this.sessions.delete(fresh);
    if (old.socketId) {
      // Half-open: the old connection never closed. Replace it without ending the session.
      const stale = old.socketId;
      this.sessions.unbindSocket(old);
      this.http?.close(stale, 4100 + CloseCode.Replaced, 'session resumed elsewhere');
    }
    this.rtc?.close(old.id);
    old.rtcOpen = false;
    old.unreliable = 'ws';
    this.sessions.bindSocket(old, socketId);
    this.sessions.rotateToken(old);
    old.state = 'active';
    old.ackedTick = -1;
    old.lastAckMs = 0;
    if (msg.a !== undefined) old.reliableOut.ack(msg.a);
    this.stats.resumes++;
    this.sendControl(old, { t: 'resumed', ...this.sessionInfo(old) });
    for (const m of old.reliableOut.unacked()) this.transmit(old, m.msg);
    this.log.info({ session: old.id, room: old.room.name, eid: old.eid, resent: old.reliableOut.pendingCount }, 'session resumed');
  }

  /** The session's WebSocket closed: keep it for a resume if it was playing, else end it. */
  private socketClosed(s: Session): void {
    this.sessions.unbindSocket(s);
    if (s.state !== 'active' || this.config.resumeGraceMs === 0 || this.state !== 'running') {
      this.endSession(s, 'socket closed');
      return;
    }
    s.state = 'resuming';
    s.resumeDeadlineMs = this.clock.nowMs() + this.config.resumeGraceMs;
    s.inputs?.reset();
    if (s.rtcOpen) this.rtc?.close(s.id);
    this.log.info({ session: s.id, graceMs: this.config.resumeGraceMs }, 'connection lost; session kept for resume');
  }

  /**
   * A playing client that acknowledged no snapshot for clientTimeoutMs has stopped reading (or its
   * link is half-open): its connection is closed, which keeps the session resumable and stops the
   * server buffering bytes for it.
   */
  private dropSilentClients(now: number): void {
    const limit = this.config.clientTimeoutMs;
    for (const s of this.sessions.values()) {
      if (s.state !== 'active' || !s.socketId) continue;
      if (s.lastAckMs === 0) s.lastAckMs = now;
      else if (now - s.lastAckMs > limit) {
        this.stats.timeouts++;
        this.log.info({ session: s.id, silentMs: Math.round(now - s.lastAckMs) }, 'client stopped acknowledging snapshots; closing its connection');
        const socketId = s.socketId;
        this.socketClosed(s);
        this.http?.close(socketId, 4100 + CloseCode.Timeout, 'no snapshot acknowledgements');
      }
    }
  }

  /** Ends sessions whose resume window ran out. */
  private expireResumes(now: number): void {
    for (const s of this.sessions.values()) if (s.state === 'resuming' && now >= s.resumeDeadlineMs) this.endSession(s, 'resume window expired');
  }

  private reject(s: Session, code: RejectCodeId, reason: string): void {
    this.stats.rejects++;
    this.sendControl(s, { t: 'reject', code, reason });
    this.log.info({ session: s.id, code, reason }, 'hello rejected');
    if (s.socketId) this.http?.close(s.socketId, 4000 + code, reason);
    this.endSession(s, 'rejected');
  }

  /** Tells the client why, then closes its connections and removes its session. */
  disconnect(s: Session, code: CloseCodeId, reason: string): void {
    if (s.state === 'gone') return;
    this.sendControl(s, { t: 'bye', code, reason });
    if (s.socketId) this.http?.close(s.socketId, 4100 + code, reason);
    this.endSession(s, reason);
  }

  private endSession(s: Session, why: string): void {
    if (s.state === 'gone') return;
    const room = s.room;
    if (room) {
      room.removePlayer(s, this.clock.nowMs());
      for (const p of room.players) this.sendControl(p, { t: 'left', sessionId: s.id });
      this.log.info({ session: s.id, room: room.name, why }, 'player left');
    }
    this.rtc?.close(s.id);
    this.sessions.delete(s);
  }

  /**
   * Sends a control message on the WebSocket. Sequenced types (chat, event, joined, left, error)
   * are numbered and kept until acknowledged, so they survive a reconnect; while a session is
   * resuming they are only kept.
   */
  sendControl(s: Session, msg: ServerControl): void {
    if (SEQUENCED_TYPES.has(msg.t)) {
      const seq = s.reliableOut.push(msg, 64);
      if (seq === 0) {
        if (s.state !== 'gone') this.disconnect(s, CloseCode.ResendOverflow, 'too many unacknowledged messages');
        return;
      }
      msg.s = seq;
    }
    if (s.socketId) this.transmit(s, msg);
  }

  private transmit(s: Session, msg: ServerControl): void {
    msg.a = s.reliableIn.lastDelivered;
    this.sendWs(s, encodeControl(msg));
  }

  private sendWs(s: Session, bytes: Uint8Array): boolean {
    if (!s.socketId) return false;
    if (!this.http || !this.http.send(s.socketId, bytes)) {
      this.stats.sendFailures.ws++;
      return false;
    }
    this.stats.messagesOut.ws++;
    this.stats.bytesOut.ws += bytes.length;
    s.bytesOut += bytes.length;
    return true;
  }

  /** Sends an unreliable packet on the session's current channel, falling back to the WebSocket. */
  sendUnreliable(s: Session, bytes: Uint8Array): void {
    if (this.links) this.links.send(s, bytes);
    else this.sendUnreliableNow(s, bytes);
  }

  /** Datagrams the server-end conditioners dropped, duplicated and reordered (zeros without ServerOptions.conditioner). */
  conditionerTotals(): { dropped: number; duplicated: number; reordered: number } {
    return this.links?.totals() ?? { dropped: 0, duplicated: 0, reordered: 0 };
  }

  private sendUnreliableNow(s: Session, bytes: Uint8Array): void {
    if (s.unreliable === 'webrtc' && this.rtc) {
      if (this.rtc.send(s.id, bytes)) {
        this.stats.messagesOut.webrtc++;
        this.stats.bytesOut.webrtc += bytes.length;
        s.bytesOut += bytes.length;
        return;
      }
      this.stats.sendFailures.webrtc++;
    }
    this.sendWs(s, bytes);
  }

  /** Maps a WebRTC peer's token to its session (0 = refuse): only active sessions without a peer. */
  authorizeDatagramPeer(token: string): number {
    if (typeof token !== 'string' || token.length !== 32) return 0;
    const s = this.sessions.byTokenValue(token);
    if (!s || s.state !== 'active' || s.rtcOpen || s.wsOnly || !s.socketId) return 0;
    return s.id;
  }

  /** Inbox entry points for the datagram transport. */
  readonly datagramEvents = {
    authorize: (token: string): number => this.authorizeDatagramPeer(token),
    onOpen: (sid: number): void => this.inbox(NetEvent.RtcOpen, sid),
    onMessage: (sid: number, bytes: Uint8Array): void => this.receive(NetEvent.RtcMessage, sid, bytes),
    onClose: (sid: number): void => this.inbox(NetEvent.RtcClose, sid),
  };

  /**
   * Graceful stop: refuse new clients, tell connected ones, finish the current tick, close the
   * sockets, and resolve within shutdownMs.
   */
  async stop(reason = 'server shutting down'): Promise<void> {
    if (this.state === 'stopping' || this.state === 'stopped') return;
    this.state = 'stopping';
    this.http?.stopListening();
    this.scheduler?.stop();
    const deadline = Date.now() + this.config.shutdownMs;
    for (const s of [...this.sessions.values()]) this.disconnect(s, CloseCode.Shutdown, reason);
    // Let the close frames flush.
    while (this.http && this.http.openSockets() > 0 && Date.now() < deadline - 500) await new Promise((r) => setTimeout(r, 20));
    try {
      await Promise.race([this.rtc?.stop(), new Promise((r) => setTimeout(r, Math.max(0, deadline - Date.now() - 200)))]);
    } catch (err) {
      this.log.warn({ err }, 'webrtc stop failed');
    }
    this.state = 'stopped';
    this.log.info({ reason }, 'tickwire stopped');
  }
}

const EMPTY = new Uint8Array(0);

async function defaultStartDatagram(server: TickwireServer): Promise<DatagramTransport | undefined> {
  const c = server.config;
  const geckos = { host: c.host, signalingPort: c.signalingPort, udpPortMin: c.udpPortMin, udpPortMax: c.udpPortMax, iceServers: [], maxPendingPeers: c.maxPendingPeers, maxMessageBytes: c.wsMaxPayloadBytes };
  if (c.webrtcProcess) {
    const { startRtcProcess } = await import('./net/rtc-process.ts');
    return startRtcProcess({ geckos }, server.datagramEvents, server.log);
  }
  const { startGeckosTransport } = await import('./net/geckos.ts');
  return startGeckosTransport(geckos, server.datagramEvents, server.log);
}
