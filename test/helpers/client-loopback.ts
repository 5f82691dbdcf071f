// Deterministic in-memory world for client netcode tests: a room run by the server's own tick
// pipeline (runTick, InputBuffer, snapshot encoder) on a fake clock, and ClientNetcode clients
// connected to it through fake sockets and the seeded link conditioner. No timers, no sockets.
import { arena } from '../../games/arena.ts';
import { DEFAULT_NET_CONFIG, type NetConfig } from '../../shared/config.ts';
import type { AnyGame } from '../../shared/sim/game.ts';
import { BitReader } from '../../shared/protocol/bits.ts';
import { decodeClientControl, encodeControl, type ServerControl } from '../../shared/protocol/control.ts';
import { MsgType } from '../../shared/protocol/ids.ts';
import { createInputPacket, readInputPacket } from '../../shared/protocol/input.ts';
import { compileSchema, type NetSchema } from '../../shared/protocol/schema.ts';
import { readSnapshotAck } from '../../shared/protocol/snapshot.ts';
import { seqAdd } from '../../shared/sequence.ts';
import type { ClientIO, WebSocketLike } from '../../netcode/connection.ts';
import { ClientNetcode, type NetcodeOptions } from '../../netcode/netcode.ts';
import { defaultLinkSettings, type LinkSettings } from '../../shared/net/link-conditioner.ts';
import { conditionClientIO, type ConditionedIO } from '../../netcode/conditioned-io.ts';
import { InputBuffer } from '../../server/inputs.ts';
import { Room } from '../../server/rooms.ts';
import { Session } from '../../server/sessions.ts';
import { FullSnapshotEncoder, newEncoderStats } from '../../server/snapshots.ts';
import { runTick } from '../../server/tick.ts';

/** A client end of an in-memory WebSocket. */
class FakeSocket implements WebSocketLike {
  binaryType = 'arraybuffer';
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  constructor(private readonly toServer: (bytes: Uint8Array) => void) {}
  send(data: Uint8Array): void {
    if (this.readyState === 1) this.toServer(data.slice());
  }
  close(): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code: 1000, reason: 'closed' });
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.({});
  }
  deliver(bytes: Uint8Array): void {
    if (this.readyState === 1) this.onmessage?.({ data: bytes });
  }
}

/** One client of the loopback world. */
export interface LoopbackClient {
  readonly netcode: ClientNetcode;
  readonly link: ConditionedIO;
  /** The server's session of this client (set on hello). */
  session: Session | undefined;
  /** Input handed to every frame. */
  input: Record<string, number>;
  /** Frame interval, ms, and the next frame time. */
  frameMs: number;
  nextFrameMs: number;
  /** Server state of the player's networked fields (quantized) right after each input seq was first applied. */
  readonly appliedState: Map<number, Uint32Array>;
  /** Server tick each input seq was first applied at, and the tick its first copy arrived at. */
  readonly appliedTick: Map<number, number>;
  readonly arrivalTick: Map<number, number>;
  /** Target tick each input seq carried when the client sent it. */
  readonly sentTarget: Map<number, number>;
}

/** Settings of the world. */
export interface LoopbackOptions {
  game?: AnyGame;
  /** NPCs in the room. Default 0. */
  npcs?: number;
  /** Room PRNG seed. Default 1. */
  seed?: number;
  net?: Partial<NetConfig>;
  /** Offset of the server's first tick from time 0, ms. Default 3.3. */
  tickPhaseMs?: number;
}

/** A room on a fake clock with ClientNetcode clients over conditioned fake sockets. */
export class LoopbackWorld {
  nowMs = 0;
  readonly game: AnyGame;
  readonly schema: NetSchema;
  readonly net: NetConfig;
  readonly room: Room;
  readonly clients: LoopbackClient[] = [];
  readonly tickMs: number;
  /** Time the last server tick ran, ms. */
  lastTickMs = NaN;
  /** Called after every server tick (before its packets leave). */
  afterTick: (() => void) | undefined;
  private nextTickMs: number;
  private readonly inbox: { client: LoopbackClient; socket: FakeSocket; bytes: Uint8Array }[] = [];
  private readonly toOpen: FakeSocket[] = [];
  /** Packets the tick sent, delivered after it (a network never delivers inside the tick). */
  private readonly outbox: { sock: FakeSocket; bytes: Uint8Array }[] = [];
  private readonly reader = new BitReader();
  private readonly packet;
  private readonly ack = { tick: 0, bits: 0 };
  private nextSessionId = 1;

  constructor(o: LoopbackOptions = {}) {
    this.game = o.game ?? arena;
    this.schema = compileSchema(this.game);
    this.net = { ...DEFAULT_NET_CONFIG, ...o.net };
    this.tickMs = 1000 / this.net.tickRateHz;
    this.room = new Room('loopback', this.game, this.schema, this.net, 64, o.seed ?? 1, { npcs: o.npcs ?? 0 },
      (schema, _net, stats) => new FullSnapshotEncoder(schema, stats), 0, newEncoderStats());
    this.packet = createInputPacket(this.schema);
    this.nextTickMs = o.tickPhaseMs ?? 3.3;
  }

  /** The server's tick at `nowMs` as a continuous value (step k starts at tick k). */
  serverTickAt(nowMs: number): number {
    if (!Number.isFinite(this.lastTickMs)) return NaN;
    return this.room.ctx.tick - 1 + (nowMs - this.lastTickMs) / this.tickMs;
  }

  /** Adds a client with the given link settings; it connects at once. */
  addClient(o: { link?: Partial<LinkSettings>; seed?: number; frameHz?: number; framePhaseMs?: number; netcode?: NetcodeOptions; lossyWebSocket?: boolean } = {}): LoopbackClient {
    const holder: { client?: LoopbackClient } = {};
    const inner: ClientIO = {
      nowMs: () => this.nowMs,
      openWebSocket: (): WebSocketLike => {
        const client = holder.client as LoopbackClient;
        const sock: FakeSocket = new FakeSocket((bytes) => this.inbox.push({ client, socket: sock, bytes }));
        this.toOpen.push(sock);
        socketOf.set(client, sock);
        return sock;
      },
    };
    const settings: LinkSettings = { ...defaultLinkSettings(), ...o.link };
    const link = conditionClientIO(inner, { settings, seed: o.seed ?? 7, timers: { nowMs: () => this.nowMs }, lossyWebSocket: o.lossyWebSocket ?? true });
    const netcode = new ClientNetcode(this.game, link.io, { url: 'http://loopback', name: `c${this.clients.length}`, transport: 'ws' }, o.netcode);
    const frameMs = 1000 / (o.frameHz ?? 60);
    const client: LoopbackClient = {
      netcode, link, session: undefined, input: { dir: 0 }, frameMs, nextFrameMs: this.nowMs + (o.framePhaseMs ?? 0),
      appliedState: new Map(), appliedTick: new Map(), arrivalTick: new Map(), sentTarget: new Map(),
    };
    const conn = netcode.connection;
    const send = conn.sendInput.bind(conn);
    conn.sendInput = (input, targetTick, flush) => {
      const seq = send(input, targetTick, flush);
      client.sentTarget.set(seq, targetTick);
      return seq;
    };
    holder.client = client;
    this.clients.push(client);
    netcode.connect();
    return client;
  }

  /** Runs the world in 0.5 ms steps until `untilMs`; `beforeFrame` may change a client's input. */
  run(untilMs: number, beforeFrame?: (c: LoopbackClient, nowMs: number) => void): void {
    const stepMs = 0.5;
    while (this.nowMs < untilMs) {
      this.nowMs += stepMs;
      for (const s of this.toOpen.splice(0)) s.open();
      for (const c of this.clients) c.link.pump();
      while (this.nowMs >= this.nextTickMs) {
        this.tick();
        this.nextTickMs += this.tickMs;
      }
      for (const c of this.clients) c.link.pump();
      for (const c of this.clients) {
        if (this.nowMs < c.nextFrameMs) continue;
        c.nextFrameMs += c.frameMs;
        beforeFrame?.(c, this.nowMs);
        c.netcode.frame(this.nowMs, c.input);
      }
    }
  }

  private tick(): void {
    this.lastTickMs = this.nowMs;
    const before = this.clients.map((c) => c.session?.inputs?.stats.applied ?? 0);
    runTick({ drainNetEvents: () => this.drain(), rooms: [this.room] });
    const stores = this.room.stores;
    this.clients.forEach((c, i) => {
      const s = c.session;
      if (!s?.inputs || s.inputs.stats.applied === before[i] || s.eid < 0) return;
      const seq = s.inputs.lastAppliedSeq;
      if (c.appliedState.has(seq)) return;
      c.appliedState.set(seq, Uint32Array.from(this.schema.fields, (f, k) => f.q.quantize(stores[k][s.eid])));
      c.appliedTick.set(seq, this.room.ctx.tick - 1);
    });
    this.afterTick?.();
    for (const m of this.outbox.splice(0)) m.sock.deliver(m.bytes);
  }

  private drain(): void {
    for (const m of this.inbox.splice(0)) this.handle(m.client, m.socket, m.bytes);
  }

  private send(c: LoopbackClient, msg: ServerControl): void {
    const sock = socketOf.get(c);
    const bytes = encodeControl(msg);
    if (sock) sock.deliver(bytes);
  }

  private handle(c: LoopbackClient, sock: FakeSocket, bytes: Uint8Array): void {
    const type = bytes[0];
    if (type === MsgType.Control) {
      const msg = decodeClientControl(bytes);
      if (msg.t === 'hello') {
        const s = new Session(this.nextSessionId++, 'loopback');
        s.inputs = new InputBuffer(this.schema.inputFields.length, this.net.inputBufferMax);
        const eid = this.room.addPlayer(s);
        s.state = 'active';
        s.sendUnreliable = (b) => void this.outbox.push({ sock, bytes: b.slice() });
        c.session = s;
        this.send(c, {
          t: 'welcome', sessionId: s.id, token: s.token, room: this.room.name, eid, tick: this.room.ctx.tick,
          tickRateHz: this.net.tickRateHz, snapshotRateHz: this.net.snapshotRateHz, inputRedundancy: this.net.inputRedundancy,
          maxPacketBytes: this.net.maxPacketBytes, signalingPort: 0, webrtc: false, resumeGraceMs: 0,
        });
      } else if (msg.t === 'ping') {
        this.send(c, { t: 'pong', id: msg.id, ms: msg.ms, tick: this.room.ctx.tick });
      }
      return;
    }
    const s = c.session;
    if (!s?.inputs) return;
    if (type === MsgType.Input) {
      const p = readInputPacket(this.reader, bytes, this.schema, this.packet);
      const nf = this.schema.inputFields.length;
      for (let i = p.count - 1; i >= 0; i--) {
        const seq = seqAdd(p.newestSeq, -i);
        if (!c.arrivalTick.has(seq)) c.arrivalTick.set(seq, this.room.ctx.tick);
        s.inputs.offer(seq, p.values, i * nf);
      }
      s.inputs.newestTargetTick = p.newestTick;
    } else if (type === MsgType.SnapshotAck) {
      const a = readSnapshotAck(bytes, this.ack);
      if ((s.ackedTick < 0 || a.tick > s.ackedTick) && a.tick <= this.room.ctx.tick) {
        s.ackedTick = a.tick;
        s.ackedBits = a.bits;
      }
    }
  }
}

const socketOf = new WeakMap<LoopbackClient, FakeSocket>();
