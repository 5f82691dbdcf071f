// The client's connection: handshake over the WebSocket, WebRTC datachannel with WebSocket
// fallback, redundant input packets, snapshot decode + ack, ping/pong. Pure logic: sockets, clock
// and the WebRTC client are injected, so the browser client and the bots run the same code.
import { configHash, PROTOCOL_VERSION } from '../config.ts';
import type { AnyGame } from '../game.ts';
import { BitWriter } from '../protocol/bits.ts';
import { decodeServerControl, encodeControl, type ClientControl, type ServerControl } from '../protocol/control.ts';
import { DecodeError } from '../protocol/errors.ts';
import { MsgType } from '../protocol/ids.ts';
import { MAX_INPUTS_PER_PACKET, writeInputPacket } from '../protocol/input.ts';
import { compileSchema, type NetSchema } from '../protocol/schema.ts';
import type { SnapshotFrame, SnapshotHeader } from '../protocol/snapshot.ts';
import { seqAdd } from '../sequence.ts';
import { SnapshotReceiver } from './receiver.ts';

/** The subset of the browser WebSocket API the client uses (the `ws` package matches it too). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/** An open unreliable channel (a geckos.io datachannel). */
export interface DatagramLike {
  send(bytes: Uint8Array): void;
  close(): void;
}

/** Environment the connection runs in. */
export interface ClientIO {
  /** Opens a WebSocket to `url` (ws:// or wss://). */
  openWebSocket(url: string): WebSocketLike;
  /**
   * Opens the WebRTC channel (geckos.io) bound to the session token; rejects on failure or after
   * timeoutMs. Omit when WebRTC is not available: the WebSocket carries everything.
   */
  openDatagram?(o: { url: string; port: number; token: string; timeoutMs: number; onMessage(bytes: Uint8Array): void; onClose(): void }): Promise<DatagramLike>;
  /** Monotonic time in ms. */
  nowMs(): number;
}

/** Connection settings. */
export interface ConnectionOptions {
  /** Server base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  /** Player name (1..32 chars). */
  name: string;
  /** Room to join; omitted = matchmaking. */
  room?: string;
  /** Auth token handed to the server's authenticate hook. */
  authToken?: string;
  /** 'auto' tries WebRTC and falls back to the WebSocket; 'ws' never uses WebRTC; 'webrtc' fails without it. Default 'auto'. */
  transport?: 'auto' | 'ws' | 'webrtc';
  /** How long to wait for WebRTC before falling back, ms. Default 3000. */
  webrtcTimeoutMs?: number;
}

/** Connection life cycle. */
export type ConnectionState = 'connecting' | 'handshake' | 'active' | 'closed';

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
}

/** Byte and message counters of one connection (both channels, payload bytes). */
export interface ConnectionCounters {
  bytesDown: number;
  bytesUp: number;
  snapshots: number;
  inputsSent: number;
  inputPackets: number;
  decodeErrors: number;
  pings: number;
}

/** One client's connection to a Tickwire server. */
export class Connection {
  state: ConnectionState = 'connecting';
  readonly schema: NetSchema;
  receiver: SnapshotReceiver | undefined;
  welcome: Extract<ServerControl, { t: 'welcome' }> | undefined;
  /** Channel carrying unreliable traffic now. */
  transport: 'ws' | 'webrtc' = 'ws';
  readonly counters: ConnectionCounters = { bytesDown: 0, bytesUp: 0, snapshots: 0, inputsSent: 0, inputPackets: 0, decodeErrors: 0, pings: 0 };
  /** Latest round-trip time in ms (-1 before the first pong). */
  rttMs = -1;
  private ws: WebSocketLike | undefined;
  private dg: DatagramLike | undefined;
  private readonly writer = new BitWriter(512);
  /** Recent inputs, quantized, newest at (nextSeq - 1). */
  private readonly history: Uint32Array;
  private readonly historyTicks: Uint32Array;
  private nextSeq = 0;
  private sentCount = 0;
  private pingId = 0;
  private readonly pingSentMs = new Map<number, number>();
  private redundancy = 4;
  /** Newest sequenced control message received (acknowledged with the next control message sent). */
  private reliableInSeq = 0;

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
    const wsUrl = this.opts.url.replace(/^http/, 'ws').replace(/\/$/, '') + '/ws';
    const ws = this.io.openWebSocket(wsUrl);
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      this.state = 'handshake';
      const hello: ClientControl = { t: 'hello', v: PROTOCOL_VERSION, hash: configHash(this.game), name: this.opts.name };
      if (this.opts.authToken !== undefined) hello.token = this.opts.authToken;
      if (this.opts.room !== undefined) hello.room = this.opts.room;
      if (this.opts.transport === 'ws') hello.wsOnly = true;
      this.sendControl(hello);
    };
    ws.onmessage = (ev) => this.onBytes(toBytes(ev.data));
    ws.onclose = (ev) => this.closed(ev.reason || 'connection closed', ev.code);
    ws.onerror = () => this.events.onError?.(new Error('websocket error'));
  }

  /** The client's own entity id, or -1. */
  get eid(): number {
    return this.welcome?.eid ?? -1;
  }

  /** Inputs each input packet carries (the newest and the ones before it), from the welcome. */
  get inputRedundancy(): number {
    return this.redundancy;
  }

  /** Sequence the next input will get. */
  get nextInputSeq(): number {
    return this.nextSeq;
  }

  /** Sends a reliable control message. */
  sendControl(msg: ClientControl): void {
    if (!this.ws || this.ws.readyState !== 1) return;
    // Acknowledge the server's sequenced messages (chat, events, joins...) so it can drop them.
    if (this.reliableInSeq > 0 && msg.t !== 'hello') msg.a = this.reliableInSeq;
    const bytes = encodeControl(msg);
    this.counters.bytesUp += bytes.length;
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
   * server tick `targetTick`, and sends a packet with it and the previous few. With `send` false
   * the input is only recorded: the next packet carries it (while within the redundancy), so a
   * burst of inputs can leave in one packet. Returns its seq.
   */
  sendInput(input: Readonly<Record<string, number>>, targetTick: number, send = true): number {
    const fields = this.schema.inputFields;
    const nf = fields.length;
    const seq = this.nextSeq;
    const slot = seq & 63;
    for (let f = 0; f < nf; f++) this.history[slot * nf + f] = fields[f].q.quantize(input[fields[f].name] ?? 0);
    this.historyTicks[slot] = targetTick >>> 0;
    this.nextSeq = seqAdd(seq, 1);
    this.sentCount++;
    this.counters.inputsSent++;
    if (this.state !== 'active' || !send) return seq;
    const count = Math.min(this.redundancy, this.sentCount, MAX_INPUTS_PER_PACKET);
    const values = this.packetValues;
    for (let i = 0; i < count; i++) {
      const s = seqAdd(seq, -i) & 63;
      for (let f = 0; f < nf; f++) values[i * nf + f] = this.history[s * nf + f];
    }
    const bytes = writeInputPacket(this.writer, this.schema, seq, targetTick, count, values);
    this.sendUnreliable(bytes);
    this.counters.inputPackets++;
    return seq;
  }
  private readonly packetValues = new Uint32Array(MAX_INPUTS_PER_PACKET * 16);

  /** The quantized values of the input with sequence `seq` (if still in the 64-entry history). */
  inputAt(seq: number, out: Record<string, number>): Record<string, number> {
    const fields = this.schema.inputFields;
    const slot = seq & 63;
    for (let f = 0; f < fields.length; f++) out[fields[f].name] = fields[f].q.dequantize(this.history[slot * fields.length + f]);
    return out;
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

  /** Closes everything. */
  close(reason = 'client closed'): void {
    if (this.state === 'closed') return;
    this.sendControl({ t: 'leave' });
    this.dg?.close();
    this.ws?.close(1000, reason);
    this.closed(reason, 1000);
  }

  private closed(reason: string, code: number): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.dg?.close();
    this.dg = undefined;
    this.events.onClose?.(reason, code);
  }

  /** Handles bytes from either channel. */
  onBytes(bytes: Uint8Array): void {
    this.counters.bytesDown += bytes.length;
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
    this.sendUnreliable(this.receiver.ack());
    if (!frame) return;
    this.counters.snapshots++;
    this.events.onSnapshot?.(frame, this.receiver.header);
  }

  private onControl(msg: ServerControl): void {
    if (msg.s !== undefined && msg.s > this.reliableInSeq) this.reliableInSeq = msg.s;
    switch (msg.t) {
      case 'welcome':
        this.welcome = msg;
        this.state = 'active';
        this.redundancy = Math.max(1, Math.min(MAX_INPUTS_PER_PACKET, msg.inputRedundancy));
        this.receiver = new SnapshotReceiver(this.schema, msg.tickRateHz / msg.snapshotRateHz);
        this.events.onWelcome?.(msg);
        if (msg.webrtc && this.opts.transport !== 'ws' && this.io.openDatagram) this.startDatagram(msg);
        else if (this.opts.transport === 'webrtc') this.events.onError?.(new Error('WebRTC unavailable'));
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
        if (msg.use === 'ws') this.setTransport('ws');
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

  private setTransport(kind: 'ws' | 'webrtc'): void {
    if (this.transport === kind) return;
    this.transport = kind;
    this.events.onTransport?.(kind);
  }

  private startDatagram(w: Extract<ServerControl, { t: 'welcome' }>): void {
    const open = this.io.openDatagram;
    if (!open) return;
    const base = this.opts.url.replace(/:\d+\/?$/, '').replace(/\/$/, '');
    open({
      url: base, port: w.signalingPort, token: w.token, timeoutMs: this.opts.webrtcTimeoutMs ?? 3000,
      onMessage: (bytes) => this.onBytes(bytes),
      onClose: () => {
        this.dg = undefined;
        if (this.state === 'active') {
          this.setTransport('ws');
          this.sendControl({ t: 'transport', use: 'ws' });
        }
      },
    }).then(
      (dg) => {
        if (this.state !== 'active') {
          dg.close();
          return;
        }
        this.dg = dg;
        this.setTransport('webrtc');
        this.sendControl({ t: 'transport', use: 'webrtc' });
      },
      (err: unknown) => {
        this.events.onError?.(new Error(`WebRTC failed, using the WebSocket: ${(err as Error)?.message ?? String(err)}`));
        if (this.state === 'active') this.sendControl({ t: 'transport', use: 'ws' });
      },
    );
  }
}

function toBytes(data: unknown): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(0);
}
