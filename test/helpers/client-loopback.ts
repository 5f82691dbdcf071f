// Deterministic in-memory world for client netcode tests: the real server (inbound dispatch, tick
// pipeline, snapshot encoder) on a fake clock over the loopback transport, and ClientNetcode
// clients on it through the seeded link conditioner. No timers, no sockets.
import { arena } from '../../games/arena.ts';
import { DEFAULT_NET_CONFIG, type NetConfig } from '../../shared/config.ts';
import type { AnyGame } from '../../shared/sim/game.ts';
import { compileSchema, type NetSchema } from '../../shared/protocol/schema.ts';
import { ClientNetcode, type NetcodeOptions } from '../../netcode/netcode.ts';
import type { ConnectionOptions } from '../../netcode/connection.ts';
import { defaultLinkSettings, type LinkSettings } from '../../shared/net/link-conditioner.ts';
import { conditionClientIO, type ConditionedIO } from '../../netcode/conditioned-io.ts';
import { loadServerConfig, type ServerConfig } from '../../server/config.ts';
import { LoopbackTransport, loopbackClientIO } from '../../server/net/loopback.ts';
import type { Room } from '../../server/rooms.ts';
import { TickwireServer } from '../../server/server.ts';
import type { Session } from '../../server/sessions.ts';
import { FullSnapshotEncoder } from '../../server/snapshots.ts';

/** The room every client of the world joins. */
const ROOM = 'loopback';

/** One client of the loopback world. */
export interface LoopbackClient {
  readonly netcode: ClientNetcode;
  readonly link: ConditionedIO;
  /** The server's session of this client (set once the client was welcomed). */
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
  /** Server config over the world's own. */
  config?: Partial<ServerConfig>;
  /** Server options besides those the world sets. */
  server?: Partial<ServerConfig>;
}

/** The real server on a fake clock with ClientNetcode clients over conditioned loopback connections. */
export class LoopbackWorld {
  nowMs = 0;
  readonly game: AnyGame;
  readonly schema: NetSchema;
  readonly net: NetConfig;
  readonly server: TickwireServer;
  readonly room: Room;
  readonly clients: LoopbackClient[] = [];
  readonly tickMs: number;
  /** Time the last server tick ran, ms. */
  lastTickMs = NaN;
  /** Called after every server tick (before its packets leave). */
  afterTick: (() => void) | undefined;
  private nextTickMs: number;
  private readonly transport: LoopbackTransport;

  constructor(o: LoopbackOptions = {}) {
    this.game = o.game ?? arena;
    this.schema = compileSchema(this.game);
    this.net = { ...DEFAULT_NET_CONFIG, ...o.net };
    this.tickMs = 1000 / this.net.tickRateHz;
    const config = loadServerConfig({}, { webrtc: false, resumeGraceMs: 0, logLevel: 'silent', roomCapacity: 64, seed: o.seed ?? 1, gameParams: { npcs: o.npcs ?? 0 }, net: this.net, ...o.server, ...o.config });
    this.server = new TickwireServer(config, {
      game: this.game, clock: { nowMs: () => this.nowMs }, autoTick: false,
      encoderFactory: (schema, _net, stats) => new FullSnapshotEncoder(schema, stats),
    });
    this.transport = new LoopbackTransport({ reliable: true, manual: true, nowMs: () => this.nowMs });
    this.server.startInProcess(this.transport);
    const room = this.server.rooms.match(ROOM, 0);
    if (typeof room === 'number') throw new Error(`could not create the loopback room (${room})`);
    this.room = room;
    this.nextTickMs = o.tickPhaseMs ?? 3.3;
  }

  /** The server's tick at `nowMs` as a continuous value (step k starts at tick k). */
  serverTickAt(nowMs: number): number {
    if (!Number.isFinite(this.lastTickMs)) return NaN;
    return this.room.ctx.tick - 1 + (nowMs - this.lastTickMs) / this.tickMs;
  }

  /** Adds a client with the given link settings; it connects at once. */
  addClient(o: { link?: Partial<LinkSettings>; seed?: number; frameHz?: number; framePhaseMs?: number; netcode?: NetcodeOptions; lossyWebSocket?: boolean; connection?: Partial<ConnectionOptions> } = {}): LoopbackClient {
    const settings: LinkSettings = { ...defaultLinkSettings(), ...o.link };
    const inner = loopbackClientIO(this.transport, undefined, { nowMs: () => this.nowMs });
    const link = conditionClientIO({ nowMs: inner.nowMs, openWebSocket: inner.openWebSocket }, { settings, seed: o.seed ?? 7, timers: { nowMs: () => this.nowMs }, lossyWebSocket: o.lossyWebSocket ?? true });
    const netcode = new ClientNetcode(this.game, link.io, { url: 'http://loopback', name: `c${this.clients.length}`, transport: 'ws', room: ROOM, ...o.connection }, o.netcode);
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
    this.clients.push(client);
    netcode.connect();
    return client;
  }

  /** Runs the world in 0.5 ms steps until `untilMs`; `beforeFrame` may change a client's input. */
  run(untilMs: number, beforeFrame?: (c: LoopbackClient, nowMs: number) => void): void {
    const stepMs = 0.5;
    while (this.nowMs < untilMs) {
      this.nowMs += stepMs;
      for (const c of this.clients) this.watch(c);
      this.pump();
      while (this.nowMs >= this.nextTickMs) {
        this.tick();
        this.nextTickMs += this.tickMs;
      }
      this.pump();
      for (const c of this.clients) {
        if (this.nowMs < c.nextFrameMs) continue;
        c.nextFrameMs += c.frameMs;
        beforeFrame?.(c, this.nowMs);
        c.netcode.frame(this.nowMs, c.input);
      }
    }
  }

  private pump(): void {
    this.transport.pump();
    for (const c of this.clients) c.link.pump();
    this.transport.pump();
  }

  /** Once the server welcomed the client, records the tick each of its inputs first arrives at. */
  private watch(c: LoopbackClient): void {
    if (c.session) return;
    const id = c.netcode.connection.welcome?.sessionId;
    const s = id === undefined ? undefined : this.server.sessions.get(id);
    const inputs = s?.inputs;
    if (!s || !inputs) return;
    c.session = s;
    const offer = inputs.offer.bind(inputs);
    inputs.offer = (seq, values, offset) => {
      if (!c.arrivalTick.has(seq)) c.arrivalTick.set(seq, this.room.ctx.tick);
      offer(seq, values, offset);
    };
  }

  private tick(): void {
    this.lastTickMs = this.nowMs;
    const before = this.clients.map((c) => c.session?.inputs?.stats.applied ?? 0);
    this.server.tickOnce();
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
  }
}
