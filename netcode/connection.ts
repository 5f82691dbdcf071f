// The client's connection: handshake over the WebSocket, WebRTC datachannel with WebSocket
// fallback, redundant input packets, snapshot decode + ack, ping/pong. Pure logic: sockets, clock
// and the WebRTC client are injected, so the browser client and the bots run the same code.
import { configHash, PROTOCOL_VERSION } from '../shared/config.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import { BitWriter } from '../shared/protocol/bits.ts';
import { decodeServerControl, encodeControl, SEQUENCED_TYPES, type ClientControl, type ServerControl } from '../shared/protocol/control.ts';
import { ReliableReceiver, ReliableSender } from '../shared/reliable.ts';
import { DecodeError } from '../shared/protocol/errors.ts';
import { MsgType } from '../shared/protocol/ids.ts';
import { CAMERA_BYTES, CAMERA_NO_FOLLOW, MAX_CAMERA_COORD, writeCamera } from '../shared/protocol/camera.ts';
import { MAX_INPUTS_PER_PACKET, writeInputPacket } from '../shared/protocol/input.ts';
import { compileSchema, type NetSchema } from '../shared/protocol/schema.ts';
import { SNAPSHOT_ACK_BYTES, writeSnapshotAck, type SnapshotFrame, type SnapshotHeader } from '../shared/protocol/snapshot.ts';
import { seqAdd, seqDiff, seqGreaterThan } from '../shared/sequence.ts';
import type { ClientIO, DatagramLike, WebSocketLike } from './io.ts';
import { SnapshotReceiver } from './receiver.ts';

export type { ClientIO, DatagramLike, DatagramOpenOptions, WebSocketLike } from './io.ts';

/** How long a client waits for its WebRTC channel before it falls back to the WebSocket, ms (ConnectionOptions.webrtcTimeoutMs). */
export const DEFAULT_WEBRTC_TIMEOUT_MS = 3000;

/**
 * Input packets a client sends per second (ConnectionOptions.inputPacketRateHz). Each carries the
 * inputs of the ticks since the previous one plus inputRedundancy - 1 older ones. Chosen from the
 * measurements in the README (Input packet rate): at 60 Hz ticks, 30 packets a second add half a
 * tick of input delay on average and save a third of the upstream datagrams.
 */
export const DEFAULT_INPUT_PACKET_RATE_HZ = 30;

/**
 * Longest a snapshot ack waits for an input packet to carry it by default, as a share of the
 * snapshot interval (ConnectionOptions.ackHoldMs): one input packet interval, but at most this
 * share, so the ack still reaches the server before the next snapshot is encoded (a later ack
 * would make that snapshot a delta against an older baseline). An ack only waits when an input
 * packet is expected within the hold, so a client that sends no inputs (idle, spectating) acks
 * every snapshot at once.
 */
export const ACK_HOLD_MAX_SNAPSHOT_SHARE = 0.75;

/** Shortest interval between two camera messages of a spectator, ms (a moving camera sends at most 10 a second). */
export const CAMERA_MIN_INTERVAL_MS = 100;
/** A spectator repeats its last camera this often, ms, so a lost message costs nothing once the next arrives. */
export const CAMERA_REPEAT_MS = 1000;

/** Input packets after the resend of a move that carry its packets again (three copies in all). */
const RESEND_ECHOES = 2;

/** Connection settings. */
export interface ConnectionOptions {
  /** Server base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  /** Player name (1..32 chars). */
  name: string;
  /** Room to join; omitted = matchmaking. */
  room?: string;
  /** If this client creates `room`, leave it out of the public room list (GET /rooms). */
  privateRoom?: boolean;
  /** If this client creates `room`, the game parameters it asks for (only those the game lets clients set). */
  roomParams?: Readonly<Record<string, number>>;
  /** Auth token handed to the server's authenticate hook. */
  authToken?: string;
  /** 'auto' tries WebRTC and falls back to the WebSocket; 'ws' never uses WebRTC; 'webrtc' fails without it. Default 'auto'. */
  transport?: 'auto' | 'ws' | 'webrtc';
  /** How long to wait for WebRTC before falling back, ms. Default DEFAULT_WEBRTC_TIMEOUT_MS (3000). */
  webrtcTimeoutMs?: number;
  /** Resume the session after a dropped connection (within the server's grace window). Default true. */
  resume?: boolean;
  /** With no message from the server for this long, the link is taken as dead and resumed, ms. Default 5000. */
  silenceTimeoutMs?: number;
  /** Watch `room` as a spectator: no entity, no inputs, every snapshot. */
  spectate?: boolean;
  /** A seat from the matchmaker (netcode/matchmake.ts) for `room`: the hello carries it. */
  seat?: string;
  /** Resume attempts whose connection never opened (the server is gone) before giving up: the client then goes back to the matchmaker. Default: keep trying for the whole resume window. */
  resumeAttempts?: number;
  /**
   * Input packets per second, at most the tick rate (each carries the inputs of the ticks since the
   * previous packet plus the redundancy). Default DEFAULT_INPUT_PACKET_RATE_HZ (30).
   */
  inputPacketRateHz?: number;
  /**
   * Longest a snapshot ack waits to ride in an input packet, ms; 0 = every ack is its own datagram.
   * Default one input packet interval (+1 ms), at most ACK_HOLD_MAX_SNAPSHOT_SHARE (3/4) of the
   * snapshot interval: 17.7 ms at 60 packets a second, 34.3 at 30, 37.5 at 20 (60 Hz ticks, 20 Hz snapshots).
   */
  ackHoldMs?: number;
}

/**
 * Connection life cycle. `resuming`: the link dropped; the client reconnects and resumes the same
 * session, entity and room, with every reliable message delivered exactly once.
 */
export type ConnectionState = 'connecting' | 'handshake' | 'active' | 'resuming' | 'closed';

/** Callbacks the game side installs. */
export interface ConnectionEvents {
  onWelcome?(w: Extract<ServerControl, { t: 'welcome' }>): void;
  /** A new snapshot was decoded; `frame` stays valid until ~32 snapshots later. */
  onSnapshot?(frame: SnapshotFrame, header: Readonly<SnapshotHeader>): void;
  onControl?(msg: ServerControl): void;
  onTransport?(kind: 'ws' | 'webrtc'): void;
  onPong?(rttMs: number, serverTick: number): void;
  onClose?(reason: string, code: number): void;
  onError?(err: Error): void;
  /** The link dropped; the client is reconnecting to resume the session. */
  onResuming?(): void;
  /** The session was resumed on a new connection. */
  onResumed?(): void;
  /** The room moved to another server of the fleet: the client resumes the session there (then onResumed). */
  onMoved?(msg: Extract<ServerControl, { t: 'moved' }>): void;
}

/** Byte and message counters of one connection (both channels, payload bytes). */
export interface ConnectionCounters {
  bytesDown: number;
  bytesUp: number;
  snapshots: number;
  inputsSent: number;
  inputPackets: number;
  /** Snapshot acks sent inside input packets. */
  acksInInput: number;
  /** Snapshot acks sent as datagrams of their own. */
  acksStandalone: number;
  decodeErrors: number;
  pings: number;
  resumes: number;
  /** Moves to another server of the fleet (`moved`). */
  moves: number;
  /** Inputs resent to the new owner after a move (the ones it had not acknowledged). */
  inputsResent: number;
  /** Camera messages sent (a spectator's, Connection.setCamera). */
  camerasSent: number;
}

/** One client's connection to a Tickwire server. */
export class Connection {
  state: ConnectionState = 'connecting';
  readonly schema: NetSchema;
  receiver: SnapshotReceiver | undefined;
  welcome: Extract<ServerControl, { t: 'welcome' }> | undefined;
  /** Channel carrying unreliable traffic now. */
  transport: 'ws' | 'webrtc' = 'ws';
  readonly counters: ConnectionCounters = { bytesDown: 0, bytesUp: 0, snapshots: 0, inputsSent: 0, inputPackets: 0, acksInInput: 0, acksStandalone: 0, decodeErrors: 0, pings: 0, resumes: 0, moves: 0, inputsResent: 0, camerasSent: 0 };
  /** Latest round-trip time in ms (-1 before the first pong). */
  rttMs = -1;
  private ws: WebSocketLike | undefined;
  private dg: DatagramLike | undefined;
  private readonly writer = new BitWriter(512);
  /** Recent inputs, quantized, newest at (nextSeq - 1). */
  private readonly history: Uint32Array;
  private readonly historyTicks: Uint32Array;
  /** When each recent input was recorded (sampled), client clock ms, by seq & 63. */
  private readonly sampledMs = new Float64Array(64);
  private nextSeq = 0;
  private sentCount = 0;
  /** Inputs recorded since the last input packet. */
  private unsent = 0;
  /** Ticks of input per input packet (tickRateHz / inputPacketRateHz, from the welcome). */
  private ticksPerPacket = 1;
  private packetIntervalMs = 1000 / 60;
  private lastInputPacketMs = -Infinity;
  private ackHoldMs = 0;
  /** A snapshot ack waiting for the next input packet (since ackPendingSinceMs). */
  private ackPending = false;
  private ackPendingSinceMs = 0;
  private ackTick = 0;
  private ackBits = 0;
  private readonly ackBytes = new Uint8Array(SNAPSHOT_ACK_BYTES);
  private pingId = 0;
  private readonly pingSentMs = new Map<number, number>();
  private redundancy = 4;
  /** Newest input the server acknowledged applied (snapshot headers), when hasInputAck. */
  private inputAck = 0;
  /** Tick of the snapshot that carried inputAck. */
  private inputAckTick = -1;
  private hasInputAck = false;
  /** The room moved: once resumed on the new owner, resend the inputs it has not acknowledged. */
  private resendInputs = false;
  /** The resend's packets, sent again with the next RESEND_ECHOES input packets (resendUnackedInputs). */
  private readonly resendEcho: Uint8Array[] = [];
  private resendEchoesLeft = 0;
  /** Sequenced control messages from the server: delivered once, in order, across reconnects. */
  readonly reliableIn = new ReliableReceiver();
  /** Sequenced control messages to the server, kept until acknowledged and resent after a resume. */
  readonly reliableOut = new ReliableSender<ClientControl>();
  private lastAckSent = 0;
  /** When the last control message went out. */
  private lastControlMs = 0;
  private lastRxMs = 0;
  private resumeDeadlineMs = 0;
  private resumeAttempt = 0;
  private rtcRetryMs = 0;
  private heartbeat: unknown;
  private userClosed = false;
  /** A spectator's camera (setCamera): the point and radius to send, whether they changed since the last message, and when it went out. */
  private camX = 0;
  private camY = 0;
  private camRadius = 0;
  private camFollow = -1;
  private camSet = false;
  private camDirty = false;
  private camSentMs = -Infinity;
  private readonly cameraBytes = new Uint8Array(CAMERA_BYTES);

  constructor(
    readonly game: AnyGame,
    private readonly io: ClientIO,
    readonly opts: ConnectionOptions,
    readonly events: ConnectionEvents = {},
  ) {
    this.schema = compileSchema(game);
    this.history = new Uint32Array(64 * this.schema.inputFields.length);
    this.historyTicks = new Uint32Array(64);
  }

  /** Opens the WebSocket and sends hello. */
  connect(): void {
    this.openSocket(() => {
      this.state = 'handshake';
      // roster: the players already in the room come as a few `roster` messages, not a `joined` each
      const hello: ClientControl = { t: 'hello', v: PROTOCOL_VERSION, hash: configHash(this.game), name: this.opts.name, roster: true };
      if (this.opts.authToken !== undefined) hello.token = this.opts.authToken;
      if (this.opts.room !== undefined) hello.room = this.opts.room;
      if (this.opts.privateRoom) hello.private = true;
      if (this.opts.roomParams) hello.params = { ...this.opts.roomParams };
      if (this.opts.transport === 'ws') hello.wsOnly = true;
      if (this.opts.seat !== undefined) hello.seat = this.opts.seat;
      if (this.opts.spectate) hello.spectate = true;
      this.sendControl(hello);
    });
  }

  private openSocket(onOpen: () => void): void {
    const wsUrl = this.opts.url.replace(/^http/, 'ws').replace(/\/$/, '') + '/ws';
    const ws = this.io.openWebSocket(wsUrl);
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      if (this.ws === ws) onOpen();
    };
    ws.onmessage = (ev) => {
      if (this.ws === ws) this.onBytes(toBytes(ev.data));
    };
    ws.onclose = (ev) => {
      if (this.ws === ws) this.socketClosed(ev.reason || 'connection closed', ev.code);
    };
    ws.onerror = () => this.events.onError?.(new Error('websocket error'));
  }

  private timer(fn: () => void, ms: number): unknown {
    return this.io.setTimeout ? this.io.setTimeout(fn, ms) : globalThis.setTimeout(fn, ms);
  }

  private clearTimer(handle: unknown): void {
    if (handle === undefined) return;
    if (this.io.clearTimeout) this.io.clearTimeout(handle);
    else globalThis.clearTimeout(handle as ReturnType<typeof setTimeout>);
  }

  /** The WebSocket closed: resume if the session was playing and resuming is allowed, else end. */
  private socketClosed(reason: string, code: number): void {
    this.ws = undefined;
    const canResume = this.opts.resume !== false && !this.userClosed && this.welcome !== undefined && this.welcome.resumeGraceMs > 0;
    if (this.state === 'active' && canResume) {
      this.state = 'resuming';
      this.resumeDeadlineMs = this.io.nowMs() + this.welcome!.resumeGraceMs - 500;
      this.resumeAttempt = 0;
      this.dropDatagram();
      this.events.onResuming?.();
      this.tryResume();
    } else if (this.state === 'resuming') {
      this.scheduleResume();
    } else {
      this.closed(reason, code);
    }
  }

  private tryResume(): void {
    if (this.state !== 'resuming' || !this.welcome) return;
    const token = this.welcome.token;
    this.openSocket(() => {
      this.sendControl({ t: 'resume', v: PROTOCOL_VERSION, hash: configHash(this.game), token });
    });
  }

  private scheduleResume(): void {
    const now = this.io.nowMs();
    const limit = this.opts.resumeAttempts;
    if (now >= this.resumeDeadlineMs || (limit !== undefined && this.resumeAttempt >= limit)) {
      this.closed('could not resume the session', 4000);
      return;
    }
    const delay = Math.min(2000, 100 * 2 ** this.resumeAttempt++, Math.max(0, this.resumeDeadlineMs - now));
    this.timer(() => this.tryResume(), delay);
  }

  /** Watches for a silent server (half-open link) and keeps acks flowing. */
  private startHeartbeat(): void {
    const every = 1000;
    const run = (): void => {
      if (this.state === 'closed') return;
      const silence = this.opts.silenceTimeoutMs ?? 5000;
      if (this.state === 'active' && this.io.nowMs() - this.lastRxMs > silence) {
        // Half-open: drop this connection and resume on a new one.
        const ws = this.ws;
        this.socketClosed('server silent', 4004);
        try {
          ws?.close(4004, 'server silent');
        } catch {
          // already closed
        }
      } else if (this.state === 'active' && (this.reliableIn.lastDelivered !== this.lastAckSent || (this.welcome?.stream === true && this.io.nowMs() - this.lastControlMs >= every / 2))) {
        // also the heartbeat of a spectator on a shared stream, which sends no snapshot acks
        this.sendControl({ t: 'ack' });
      }
      this.pollAck(this.io.nowMs());
      this.pollCamera(this.io.nowMs());
      this.heartbeat = this.timer(run, every);
    };
    this.clearTimer(this.heartbeat);
    this.heartbeat = this.timer(run, every);
  }

  /** The client's own entity id, or -1. */
  get eid(): number {
    return this.welcome?.eid ?? -1;
  }

  /** Inputs each input packet carries (the newest and the ones before it), from the welcome. */
  get inputRedundancy(): number {
    return this.redundancy;
  }

  /** Ticks of input each input packet carries (besides the redundancy), from the welcome and inputPacketRateHz. */
  get inputTicksPerPacket(): number {
    return this.ticksPerPacket;
  }

  /** When the input with sequence `seq` was recorded (client clock, ms), or NaN when it left the 64-entry history. */
  inputSampledAtMs(seq: number): number {
    const d = seqAdd(this.nextSeq, -1 - seq) & 0xffff;
    return d < 64 && d < this.sentCount ? this.sampledMs[seq & 63] : NaN;
  }

  /** Sequence the next input will get. */
  get nextInputSeq(): number {
    return this.nextSeq;
  }

  /**
   * Sends a control message on the WebSocket. Sequenced types (chat, event) are numbered and kept
   * until the server acknowledges them, so they survive a reconnect exactly once. Every message
   * acknowledges the server's sequenced messages received so far.
   */
  sendControl(msg: ClientControl): void {
    if (SEQUENCED_TYPES.has(msg.t)) {
      const seq = this.reliableOut.push(msg, 64);
      if (seq === 0) {
        this.events.onError?.(new Error('too many unacknowledged reliable messages'));
        return;
      }
      msg.s = seq;
      if (this.state !== 'active') return; // resent after the resume
    }
    this.transmit(msg);
  }

  private transmit(msg: ClientControl): void {
    if (!this.ws || this.ws.readyState !== 1) return;
    if (msg.t !== 'hello') {
      msg.a = this.reliableIn.lastDelivered;
      this.lastAckSent = msg.a;
    }
    const bytes = encodeControl(msg);
    this.counters.bytesUp += bytes.length;
    this.lastControlMs = this.io.nowMs();
    this.ws.send(bytes);
  }

  /** Sends a ping; the pong updates rttMs. */
  ping(): void {
    const id = ++this.pingId >>> 0;
    const ms = this.io.nowMs();
    this.pingSentMs.set(id, ms);
    if (this.pingSentMs.size > 32) this.pingSentMs.delete(this.pingSentMs.keys().next().value as number);
    this.counters.pings++;
    this.sendControl({ t: 'ping', id, ms });
  }

  /**
   * Records the input for the next sequence (quantized by the game's input table), targeted at
   * server tick `targetTick`, and sends an input packet once inputTicksPerPacket inputs have
   * gathered since the last one: it carries them and those of the inputRedundancy - 1 packets
   * before (at most MAX_INPUTS_PER_PACKET in all), and the pending snapshot ack if there is one. With `send` false the packet waits even then (a burst of
   * inputs leaves in as few packets as fit), unless no more inputs would fit. Returns its seq.
   */
  sendInput(input: Readonly<Record<string, number>>, targetTick: number, send = true): number {
    const fields = this.schema.inputFields;
    const nf = fields.length;
    const seq = this.nextSeq;
    const slot = seq & 63;
    for (let f = 0; f < nf; f++) this.history[slot * nf + f] = fields[f].q.quantize(input[fields[f].name] ?? 0);
    this.historyTicks[slot] = targetTick >>> 0;
    this.sampledMs[slot] = this.io.nowMs();
    this.nextSeq = seqAdd(seq, 1);
    this.sentCount++;
    this.counters.inputsSent++;
    if (this.state !== 'active') return seq;
    if (this.resendInputs) {
      // the first input after a move: the new owner's input stream restarts here, with those it lacks
      this.resendInputs = false;
      this.resendUnackedInputs(seqAdd(seq, -1), targetTick);
    }
    this.unsent++;
    const room = Math.max(1, MAX_INPUTS_PER_PACKET - (this.redundancy - 1) * this.ticksPerPacket);
    if ((send && this.unsent >= this.ticksPerPacket) || this.unsent >= room) this.flushInputs(seq, targetTick);
    return seq;
  }

  /** Sends the inputs recorded since the last packet now (plus the redundancy), whatever the packet rate. */
  flushInputs(newestSeq = seqAdd(this.nextSeq, -1), newestTick = this.historyTicks[seqAdd(this.nextSeq, -1) & 63]): void {
    if (this.state !== 'active' || this.unsent === 0) return;
    const nf = this.schema.inputFields.length;
    // The redundancy counts packets: each packet repeats the inputs the previous inputRedundancy - 1
    // packets carried, so as many packets in a row may be lost at any packet rate.
    const count = Math.min(this.unsent + (this.redundancy - 1) * this.ticksPerPacket, this.sentCount, MAX_INPUTS_PER_PACKET);
    const values = this.packetValues;
    for (let i = 0; i < count; i++) {
      const s = seqAdd(newestSeq, -i) & 63;
      for (let f = 0; f < nf; f++) values[i * nf + f] = this.history[s * nf + f];
    }
    const ack = this.ackPending;
    const bytes = writeInputPacket(this.writer, this.schema, newestSeq, newestTick, count, values, ack, this.ackTick, this.ackBits);
    this.ackPending = false;
    if (ack) this.counters.acksInInput++;
    this.unsent = 0;
    this.lastInputPacketMs = this.io.nowMs();
    this.sendUnreliable(bytes);
    this.counters.inputPackets++;
    if (this.resendEcho.length > 0) {
      // the resend after a move again, with each of the next RESEND_ECHOES input packets
      for (const b of this.resendEcho) this.sendUnreliable(b);
      this.counters.inputPackets += this.resendEcho.length;
      if (--this.resendEchoesLeft <= 0) this.resendEcho.length = 0;
    }
  }

  /**
   * Acknowledges the snapshots held (`ack`: a SnapshotAck message, SNAPSHOT_ACK_BYTES long). When
   * an input packet is due within ackHoldMs the ack waits to ride in it; otherwise (no inputs
   * going out, or the next packet too far off) it leaves now on its own, so acks never stop.
   */
  protected ackSnapshot(ack: Uint8Array): void {
    const now = this.io.nowMs();
    const hold = this.ackHoldMs;
    const dueIn = this.lastInputPacketMs + this.packetIntervalMs - now;
    this.ackTick = (ack[1] | (ack[2] << 8) | (ack[3] << 16) | (ack[4] << 24)) >>> 0;
    this.ackBits = (ack[5] | (ack[6] << 8) | (ack[7] << 16) | (ack[8] << 24)) >>> 0;
    if (hold > 0 && this.state === 'active' && dueIn <= hold && dueIn >= -hold) {
      if (!this.ackPending) this.ackPendingSinceMs = now;
      this.ackPending = true;
      return;
    }
    this.ackPending = false;
    this.counters.acksStandalone++;
    this.sendUnreliable(ack);
  }

  /** Sends a held snapshot ack on its own once it has waited ackHoldMs for an input packet (call it every frame). */
  pollAck(nowMs: number): void {
    if (!this.ackPending || nowMs - this.ackPendingSinceMs < this.ackHoldMs) return;
    this.ackPending = false;
    this.counters.acksStandalone++;
    this.sendUnreliable(writeSnapshotAck(this.ackBytes, this.ackTick, this.ackBits));
  }
  private readonly packetValues = new Uint32Array(MAX_INPUTS_PER_PACKET * 16);

  /** The quantized values of the input with sequence `seq` (if still in the 64-entry history). */
  inputAt(seq: number, out: Record<string, number>): Record<string, number> {
    const fields = this.schema.inputFields;
    const slot = seq & 63;
    for (let f = 0; f < fields.length; f++) out[fields[f].name] = fields[f].q.dequantize(this.history[slot * fields.length + f]);
    return out;
  }

  /**
   * A spectator's camera: the world point it looks at, the radius it wants to see (world units;
   * 0 = the server's spectator radius) and the entity it follows (-1: none; the server centres
   * the view on it, so it need not be in the view yet). In a room with views the server sends the
   * view around it (PROTOCOL.md, type 6). Sent now when CAMERA_MIN_INTERVAL_MS passed since the
   * last message, else by pollCamera; values outside ±MAX_CAMERA_COORD are clamped, non-finite ones ignored.
   */
  setCamera(x: number, y: number, radius = 0, follow = -1, nowMs = this.io.nowMs()): void {
    if (!Number.isFinite(x) || !Number.isFinite(y) || !Number.isFinite(radius)) return;
    const cx = Math.max(-MAX_CAMERA_COORD, Math.min(MAX_CAMERA_COORD, x));
    const cy = Math.max(-MAX_CAMERA_COORD, Math.min(MAX_CAMERA_COORD, y));
    const r = Math.max(0, Math.min(MAX_CAMERA_COORD, radius));
    const f = Number.isInteger(follow) && follow >= 0 && follow < CAMERA_NO_FOLLOW ? follow : -1;
    if (this.camSet && cx === this.camX && cy === this.camY && r === this.camRadius && f === this.camFollow) return;
    this.camFollow = f;
    this.camX = cx;
    this.camY = cy;
    this.camRadius = r;
    this.camSet = true;
    this.camDirty = true;
    this.pollCamera(nowMs);
  }

  /** Sends the camera when it changed and CAMERA_MIN_INTERVAL_MS passed, or CAMERA_REPEAT_MS after the last message (call it every frame; spectators only). */
  pollCamera(nowMs: number): void {
    if (!this.camSet || this.state !== 'active' || this.welcome?.spectator !== true) return;
    const since = nowMs - this.camSentMs;
    if (!(this.camDirty ? since >= CAMERA_MIN_INTERVAL_MS : since >= CAMERA_REPEAT_MS)) return;
    this.camDirty = false;
    this.camSentMs = nowMs;
    this.counters.camerasSent++;
    this.sendUnreliable(writeCamera(this.cameraBytes, this.camX, this.camY, this.camRadius, this.camFollow));
  }

  /** Sends an unreliable packet on the current channel. */
  sendUnreliable(bytes: Uint8Array): void {
    this.counters.bytesUp += bytes.length;
    if (this.transport === 'webrtc' && this.dg) {
      this.dg.send(bytes);
      return;
    }
    if (this.ws && this.ws.readyState === 1) this.ws.send(bytes);
  }

  /** Closes everything (no resume). */
  close(reason = 'client closed'): void {
    if (this.state === 'closed') return;
    this.userClosed = true;
    this.sendControl({ t: 'leave' });
    this.dg?.close();
    this.ws?.close(1000, reason);
    this.closed(reason, 1000);
  }

  private closed(reason: string, code: number): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearTimer(this.heartbeat);
    this.dg?.close();
    this.dg = undefined;
    this.events.onClose?.(reason, code);
  }

  /**
   * Records that the server was heard from now (any message on either channel). A subclass that
   * handles some messages itself instead of passing them to onBytes must call it, or the silent-server
   * check takes the link for half-open and resumes.
   */
  protected heardFromServer(): void {
    this.lastRxMs = this.io.nowMs();
  }

  /** Handles bytes from either channel. */
  onBytes(bytes: Uint8Array): void {
    this.counters.bytesDown += bytes.length;
    this.heardFromServer();
    try {
      if (bytes.length === 0) throw new DecodeError('type', 0, 'empty message');
      const type = bytes[0];
      if (type === MsgType.Control) this.onControl(decodeServerControl(bytes));
      else if (type === MsgType.Snapshot) this.onSnapshotBytes(bytes);
      else throw new DecodeError('type', 0, `unknown message type ${type}`);
    } catch (err) {
      this.counters.decodeErrors++;
      this.events.onError?.(err as Error);
    }
  }

  private onSnapshotBytes(bytes: Uint8Array): void {
    if (!this.receiver) return;
    const frame = this.receiver.receive(bytes);
    // on a spectator stream every snapshot is a delta against the one before: nothing to acknowledge
    if (this.welcome?.stream !== true) this.ackSnapshot(this.receiver.ack());
    if (!frame) return;
    this.counters.snapshots++;
    const h = this.receiver.header;
    if (h.hasInputAck && (!this.hasInputAck || seqGreaterThan(h.inputAck, this.inputAck))) {
      this.inputAck = h.inputAck;
      this.inputAckTick = h.tick;
      this.hasInputAck = true;
    } else if (h.hasInputAck && this.inputAckTick < 0 && h.inputAck === this.inputAck) this.inputAckTick = h.tick;
    this.events.onSnapshot?.(frame, h);
  }

  private onControl(msg: ServerControl): void {
    if (msg.a !== undefined) this.reliableOut.ack(msg.a);
    if (msg.s !== undefined && this.reliableIn.accept(msg.s) !== 'deliver') return; // a resent duplicate
    switch (msg.t) {
      case 'welcome':
        this.welcome = msg;
        this.state = 'active';
        this.resendInputs = false;
        this.hasInputAck = false;
        this.redundancy = Math.max(1, Math.min(MAX_INPUTS_PER_PACKET, msg.inputRedundancy));
        this.setPacketRate(msg.tickRateHz, msg.snapshotRateHz);
        this.receiver = new SnapshotReceiver(this.schema, msg.tickRateHz / msg.snapshotRateHz);
        this.startHeartbeat();
        this.events.onWelcome?.(msg);
        if (msg.webrtc && this.opts.transport !== 'ws' && this.io.openDatagram) this.startDatagram();
        else if (this.opts.transport === 'webrtc') this.events.onError?.(new Error('WebRTC unavailable'));
        break;
      case 'resumed':
        if (this.state !== 'resuming' || !this.welcome) break;
        // a resumed session says again whether it is on a shared stream (a spectator moved to another server may not be)
        this.welcome = { ...this.welcome, ...msg, t: 'welcome', stream: msg.stream === true };
        this.state = 'active';
        this.counters.resumes++;
        for (const m of this.reliableOut.unacked()) this.transmit(m.msg);
        this.events.onResumed?.();
        if (msg.webrtc && this.opts.transport !== 'ws' && this.io.openDatagram) this.startDatagram();
        break;
      case 'pong': {
        const sent = this.pingSentMs.get(msg.id);
        if (sent !== undefined) {
          this.pingSentMs.delete(msg.id);
          this.rttMs = this.io.nowMs() - sent;
          this.events.onPong?.(this.rttMs, msg.tick);
        }
        break;
      }
      case 'transport':
        // The server lost our WebRTC channel (e.g. its WebRTC process restarted): use the WebSocket, retry later.
        if (msg.use === 'ws' && this.dg) this.dropDatagram(true);
        else if (msg.use === 'ws') this.setTransport('ws');
        break;
      case 'moved':
        this.follow(msg);
        break;
      case 'reject':
      case 'bye':
        this.events.onControl?.(msg);
        this.closed(msg.reason, msg.code);
        return;
      default:
        break;
    }
    this.events.onControl?.(msg);
  }

  /**
   * The room moved to another server: leave this one and resume the same session there with the
   * token `moved` carries (the usual resume: every unacknowledged reliable message resent, the
   * snapshot stream restarted from a full one at the tick the room reached).
   */
  private follow(msg: Extract<ServerControl, { t: 'moved' }>): void {
    if (this.state !== 'active' || !this.welcome) return;
    this.opts.url = msg.url;
    this.welcome = { ...this.welcome, token: msg.token };
    this.counters.moves++;
    const ws = this.ws;
    this.ws = undefined;
    try {
      ws?.close(1000, 'room moved');
    } catch {
      // already closed
    }
    this.state = 'resuming';
    this.resumeDeadlineMs = this.io.nowMs() + this.welcome.resumeGraceMs - 500;
    this.resumeAttempt = 0;
    this.dropDatagram();
    // The new owner never sent the snapshots held now: acks naming them would make it encode deltas
    // against baselines it cannot match. Its stream starts from a full snapshot of the same room.
    this.receiver = new SnapshotReceiver(this.schema, this.welcome.tickRateHz / this.welcome.snapshotRateHz);
    this.ackPending = false;
    this.resendInputs = true;
    this.resendEcho.length = 0;
    // the new owner's first snapshot dates the ack again (inputsPendingAt)
    this.inputAckTick = -1;
    this.events.onMoved?.(msg);
    this.tryResume();
  }

  /**
   * After a move, with the first input on the new owner: the inputs up to `newest` sent and not
   * acknowledged (at most 63 of the history), oldest first, in packets of MAX_INPUTS_PER_PACKET.
   * The old owner handed over the ones it held; those in flight to it when it froze the room reach
   * the new owner only this way (copies it has count as late there). Their target ticks passed
   * while the room moved, so each packet claims `tick`, the new input's, and passes the new
   * owner's tick-skew check. Until then the player stands there (server/inputs.ts standWhenDrained).
   */
  private resendUnackedInputs(newest: number, tick: number): void {
    const total = this.unackedBefore(newest, this.sentCount - 1);
    if (total <= 0) return;
    const nf = this.schema.inputFields.length;
    const values = this.packetValues;
    for (let left = total; left > 0; ) {
      const count = Math.min(left, MAX_INPUTS_PER_PACKET);
      left -= count;
      const packetNewest = seqAdd(newest, -left);
      for (let i = 0; i < count; i++) {
        const s = seqAdd(packetNewest, -i) & 63;
        for (let f = 0; f < nf; f++) values[i * nf + f] = this.history[s * nf + f];
      }
      // a copy each: the packets leave back to back, the writer's buffer is reused by the next
      const packet = writeInputPacket(this.writer, this.schema, packetNewest, tick >>> 0, count, values, false, 0, 0).slice();
      this.sendUnreliable(packet);
      this.counters.inputPackets++;
      // No later packet repeats these inputs (the redundancy covers the last few): the resend goes
      // again with the next RESEND_ECHOES input packets, so a lost datagram or two do not lose up
      // to 16 inputs the client predicted with (a correction as large as their movement).
      this.resendEcho.push(packet);
      this.resendEchoesLeft = RESEND_ECHOES;
    }
    this.counters.inputsResent += total;
  }

  /** Inputs up to `newest` sent and not acknowledged (of `sent`, at most 63 of the history). */
  private unackedBefore(newest: number, sent: number): number {
    let total = Math.min(sent, 63);
    if (this.hasInputAck) total = Math.min(total, seqDiff(newest, this.inputAck));
    return Math.max(0, total);
  }

  /**
   * Inputs the resend after a move will carry (0 when none is due): the input clock counts them
   * toward its prefill and labels the new inputs after them (netcode.ts, InputClock.start).
   */
  inputsToResend(): number {
    return this.resendInputs && this.state === 'active' ? this.unackedBefore(seqAdd(this.nextSeq, -1), this.sentCount) : 0;
  }

  /**
   * Of the inputs the resend after a move covers (inputsToResend), those the new owner has still
   * to apply at its tick `tick` (fractional), when the resend arrives: it applies one a tick from
   * the snapshot that acknowledged the newest ack, the ones the old owner handed over first. The
   * input clock labels its new inputs after these. The estimate errs low (when the new owner ran
   * out of inputs meanwhile, it applies the rest only from `tick`): a buffer that starts a few
   * inputs deep drains gently under the clock's dilation, one that starts short repeats an input
   * its client never predicted (a correction).
   */
  inputsPendingAt(tick: number): number {
    const queued = this.inputsToResend();
    if (queued === 0 || !this.hasInputAck || this.inputAckTick < 0 || !Number.isFinite(tick)) return queued;
    return Math.max(0, Math.floor(queued - Math.max(0, tick - this.inputAckTick)));
  }

  /**
   * After a move, sends the resend now (before any new input), each packet claiming `tick`, the
   * label of the next new input. Nothing when none is due.
   */
  resendAfterMove(tick: number): void {
    if (!this.resendInputs || this.state !== 'active') return;
    this.resendInputs = false;
    this.resendUnackedInputs(seqAdd(this.nextSeq, -1), tick);
  }

  private setPacketRate(tickRateHz: number, snapshotRateHz: number): void {
    const want = this.opts.inputPacketRateHz ?? DEFAULT_INPUT_PACKET_RATE_HZ;
    const hz = Number.isFinite(want) && want > 0 ? Math.min(want, tickRateHz) : tickRateHz;
    this.ticksPerPacket = Math.max(1, Math.min(MAX_INPUTS_PER_PACKET, Math.round(tickRateHz / hz)));
    this.packetIntervalMs = (1000 * this.ticksPerPacket) / tickRateHz;
    const hold = this.opts.ackHoldMs;
    this.ackHoldMs = hold !== undefined && Number.isFinite(hold) ? Math.max(0, hold)
      : Math.min(this.packetIntervalMs + 1, (ACK_HOLD_MAX_SNAPSHOT_SHARE * 1000) / Math.max(1, snapshotRateHz));
  }

  /** How long a snapshot ack may wait for an input packet now, ms (ConnectionOptions.ackHoldMs, from the welcome). */
  get snapshotAckHoldMs(): number {
    return this.ackHoldMs;
  }

  private setTransport(kind: 'ws' | 'webrtc'): void {
    if (this.transport === kind) return;
    this.transport = kind;
    this.events.onTransport?.(kind);
  }

  /** Closes the datachannel; with `retry`, falls back to the WebSocket and tries WebRTC again later. */
  private dropDatagram(retry = false): void {
    const dg = this.dg;
    this.dg = undefined;
    this.setTransport('ws');
    try {
      dg?.close();
    } catch {
      // already closed
    }
    if (retry) this.scheduleDatagramRetry();
  }

  /** Tries WebRTC again after a back-off (2 s doubling to 30 s) while the session plays on the WebSocket. */
  private scheduleDatagramRetry(): void {
    if (this.opts.transport === 'ws' || !this.welcome?.webrtc || !this.io.openDatagram) return;
    this.rtcRetryMs = Math.min(30_000, this.rtcRetryMs ? this.rtcRetryMs * 2 : 2000);
    this.timer(() => {
      if (this.state === 'active' && !this.dg) this.startDatagram();
    }, this.rtcRetryMs);
  }

  private startDatagram(): void {
    const open = this.io.openDatagram;
    const w = this.welcome;
    if (!open || !w) return;
    const base = this.opts.url.replace(/:\d+\/?$/, '').replace(/\/$/, '');
    let mine: DatagramLike | undefined;
    open({
      url: base, port: w.signalingPort, token: w.token, timeoutMs: this.opts.webrtcTimeoutMs ?? DEFAULT_WEBRTC_TIMEOUT_MS,
      onMessage: (bytes) => this.onBytes(bytes),
      onClose: () => {
        if (!mine || this.dg !== mine) return;
        this.dg = undefined;
        if (this.state === 'active') {
          this.setTransport('ws');
          this.sendControl({ t: 'transport', use: 'ws' });
          this.scheduleDatagramRetry();
        }
      },
    }).then(
      (dg) => {
        if (this.state !== 'active' || this.dg) {
          dg.close();
          return;
        }
        mine = dg;
        this.dg = dg;
        this.rtcRetryMs = 0;
        this.setTransport('webrtc');
        this.sendControl({ t: 'transport', use: 'webrtc' });
      },
      (err: unknown) => {
        this.events.onError?.(new Error(`WebRTC failed, using the WebSocket: ${(err as Error)?.message ?? String(err)}`));
        if (this.state === 'active') {
          this.sendControl({ t: 'transport', use: 'ws' });
          this.scheduleDatagramRetry();
        }
      },
    );
  }
}

function toBytes(data: unknown): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(0);
}
