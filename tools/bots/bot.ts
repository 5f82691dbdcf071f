// A bot: one headless client (the shared Connection, and in full mode the shared client netcode)
// driven by a behaviour script, with the counters the bots CLI and the benchmark report.
import { Connection, type ClientIO, type ConnectionOptions } from '../../netcode/connection.ts';
import { ClientNetcode } from '../../netcode/netcode.ts';
import { gamePositionFields } from '../../netcode/prediction.ts';
import type { AnyGame } from '../../shared/sim/game.ts';
import { MsgType } from '../../shared/protocol/ids.ts';
import type { NetSchema } from '../../shared/protocol/schema.ts';
import {
  newSnapshotHeader, readSnapshotPacketHeader, type SnapshotFrame, type SnapshotHeader, type SnapshotPacketHeader,
} from '../../shared/protocol/snapshot.ts';
import { SnapshotSlots, type SnapshotOutcome } from '../../netcode/snapshot-slots.ts';
import { deriveSeed, Rng } from '../../shared/sim/rng.ts';
import { defaultLinkSettings } from '../../shared/net/link-conditioner.ts';
import { conditionClientIO, type ConditionedIO } from '../../netcode/conditioned-io.ts';
import { seqDiff } from '../../shared/sequence.ts';
import { RenderErrorProbe, type RenderSampler, type SharedTruth } from '../measure/render-error.ts';
import type { LogHistogram } from '../measure/stats.ts';
import { countReason, newErrorHistogram, newMsHistogram, type BotTotals } from '../measure/totals.ts';
import type { BotBrain, BotScript, ScriptWorld } from './scripts.ts';

/** 'thin': counts bytes and acknowledges snapshots from their header (no decode, no netcode); 'full': the whole client netcode plus the render-error probe. */
export type BotMode = 'thin' | 'full';

/** Bot life cycle. */
export type BotState = 'idle' | 'connecting' | 'active' | 'failed' | 'closed';

/**
 * What a full bot needs from the shared client netcode (clock sync, prediction with
 * reconciliation, interpolation). The netcode owns the Connection it runs on.
 */
export interface FullClient {
  /** The connection under the netcode (handshake, counters, events). */
  readonly connection: Connection;
  /** Starts connecting. */
  connect(): void;
  /** One client frame at `nowMs`: advances the clock, predicts the own player with `input` and sends it. */
  frame(nowMs: number, input: Readonly<Record<string, number>>): void;
  /** The tick at which remote entities are drawn at `nowMs` (fractional), or NaN before the clock is synced. */
  renderTick(nowMs: number): number;
  /** Visits every remote entity's interpolated position at render tick `tick`. */
  readonly sampleRemote: RenderSampler;
  /** Prediction corrections so far (server state disagreed with the prediction). */
  corrections(): number;
}

/** Builds the full client for a bot (see FullClient). */
export type FullClientFactory = (game: AnyGame, io: ClientIO, opts: ConnectionOptions) => FullClient;

/** Link conditions a bot applies to its own traffic, through the shared seeded link conditioner (shared/net/conditioner.ts). */
export interface BotLinkConditions {
  /** One-way delay added to every message in each direction, ms. */
  latencyMs: number;
  /** Each message's delay varies by uniform(-jitterMs, +jitterMs) around latencyMs (never below 0), ms. */
  jitterMs: number;
  /** Share of datagrams dropped in each direction, percent (the WebSocket stays lossless and ordered). */
  lossPct: number;
}

/** Everything one bot needs. */
export interface BotOptions {
  /** Server base URL, e.g. http://127.0.0.1:8080. */
  url: string;
  /** Index of the bot in the whole run (names, seeds). */
  index: number;
  /** Run seed; the bot's PRNG is seeded with deriveSeed(seed, index). */
  seed: number;
  /** Transport the bot asks for: 'webrtc' (datachannel, WebSocket fallback) or 'ws'. */
  transport: 'ws' | 'webrtc';
  mode: BotMode;
  script: BotScript;
  game: AnyGame;
  /** The Node ClientIO (bench/node-io.ts); wrapped here for wire counters and link conditions. */
  io: ClientIO;
  /** Link conditions applied on the bot's side; omitted = none. */
  conditions?: BotLinkConditions;
  /** Builds the full client netcode; required for mode 'full'. */
  fullClient?: FullClientFactory;
  /** Snapshots shared by the full bots of one process (render-error truth when this bot lost one). */
  sharedTruth?: (ticksPerSnapshot: number) => SharedTruth;
  /** Room to join; omitted = matchmaking. */
  room?: string;
  /** Inputs per second (the bot's step rate). Default 60. */
  inputRateHz?: number;
  /** Input packets per second (ConnectionOptions.inputPacketRateHz); omitted = the netcode's default. */
  inputPacketRateHz?: number;
  /** Time between pings, ms. Default 1000. */
  pingIntervalMs?: number;
  /** A bot not welcomed within this many ms fails with reason 'timeout'. Default 20000. */
  connectTimeoutMs?: number;
  /** WebRTC set-up time allowed before falling back to the WebSocket, ms. Default 5000. */
  webrtcTimeoutMs?: number;
  /** Watch `room` as a spectator (--spectate): no entity, no inputs sent, its snapshot acks only. */
  spectate?: boolean;
  /** A spectator's camera crosses the world at this speed, world units/s, on a heading from the bot's seed, turning at the edges (--camera-pan); 0 or omitted: still. */
  cameraPanUnitsPerSec?: number;
  /** The seat the matchmaker granted for `room` at `url` (--matchmake). */
  seat?: string;
  /**
   * Called instead of counting an error when the bot loses its server for good (its resume failed,
   * its room ended, the server drained or refused the seat): the worker matchmakes it again.
   */
  onLost?: (reason: string) => void;
}

/** A camera at a seeded point of the world (the position fields' quantizer range), on a seeded heading. */
function panningCamera(conn: Connection, rng: Rng): { x: number; y: number; dx: number; dy: number; min: number[]; max: number[]; lastMs: number } {
  const [fx, fy] = gamePositionFields(conn.game);
  const q = (name: string) => conn.schema.fields.find((f) => `${f.component}.${f.field}` === name)!.q;
  const qx = q(fx);
  const qy = q(fy);
  const a = rng.range(-Math.PI, Math.PI);
  return { x: rng.range(qx.min, qx.max), y: rng.range(qy.min, qy.max), dx: Math.cos(a), dy: Math.sin(a), min: [qx.min, qy.min], max: [qx.max, qy.max], lastMs: -1 };
}

/** Reads TCP byte counters of a `ws` WebSocket (its private net.Socket), when present. */
function wsSocketBytes(raw: unknown): { read: number; written: number } | undefined {
  const sock = (raw as { _socket?: { bytesRead?: unknown; bytesWritten?: unknown } } | undefined)?._socket;
  if (!sock || typeof sock.bytesRead !== 'number' || typeof sock.bytesWritten !== 'number') return undefined;
  return { read: sock.bytesRead, written: sock.bytesWritten };
}

/** What a thin bot did with one snapshot packet. */
export type ThinOutcome = SnapshotOutcome;

/**
 * SnapshotReceiver without the decoding: the same SnapshotSlots (which parts of which snapshot
 * ticks arrived, which snapshots are complete and so baselines, the slot reuse rule, the ack) fed
 * from packet headers only. A delta whose baseline is not held is dropped, as a decoding client
 * must. It cannot see malformed bodies, so it completes snapshots a decoder would reject.
 */
export class ThinSnapshotTracker {
  /** Header of the newest packet handled. */
  readonly header: SnapshotPacketHeader = newSnapshotHeader();
  private readonly ring: SnapshotSlots;

  constructor(
    /** Ticks between snapshots. */
    readonly ticksPerSnapshot: number,
    /** Snapshots kept (SnapshotReceiver's default ring is 32). */
    readonly ringLength = 32,
  ) {
    this.ring = new SnapshotSlots(ticksPerSnapshot, ringLength);
  }

  /** Newest complete tick, or -1. */
  get newestTick(): number {
    return this.ring.newestTick;
  }

  /** True when the snapshot of `tick` is complete and held. */
  has(tick: number): boolean {
    return this.ring.findComplete(tick) >= 0;
  }

  /** Handles one snapshot packet's header. Throws DecodeError on a malformed header or parts that disagree. */
  receive(bytes: Uint8Array): ThinOutcome {
    const h = readSnapshotPacketHeader(bytes, this.header);
    const ring = this.ring;
    const admitted = ring.admit(h);
    if (admitted !== 'ok') return admitted;
    const slot = ring.open(h);
    if (slot < 0) return 'stale';
    if (!ring.addPart(slot, h.partIndex)) return 'partial';
    ring.complete(slot);
    return 'complete';
  }

  /** The ack for every complete snapshot held (SnapshotSlots.ack(), as SnapshotReceiver.ack()). */
  ack(): Uint8Array {
    return this.ring.ack();
  }
}

/**
 * A Connection that handles snapshots from their header only (ThinSnapshotTracker): it counts
 * them and sends the ack a decoding client would send (none on a spectator stream), so the server keeps per-client delta
 * baselines exactly as for a real client, at a fraction of the bots' CPU. Everything else goes
 * through the normal Connection.
 */
export class ThinConnection extends Connection {
  /** Snapshot bookkeeping (created at the welcome). */
  tracker: ThinSnapshotTracker | undefined;
  /** Called for every snapshot packet accepted (complete or partial): the header carries the input ack. */
  onThinSnapshot: ((h: Readonly<SnapshotHeader>) => void) | undefined;
  /** Packets dropped because their delta baseline was not held (the server then falls back to an older baseline or a full snapshot). */
  missingBaseline = 0;

  override onBytes(bytes: Uint8Array): void {
    if (bytes.length === 0 || bytes[0] !== MsgType.Snapshot || !this.welcome) {
      super.onBytes(bytes);
      return;
    }
    this.counters.bytesDown += bytes.length;
    this.heardFromServer();
    const tracker = (this.tracker ??= new ThinSnapshotTracker(this.welcome.tickRateHz / this.welcome.snapshotRateHz));
    try {
      const outcome = tracker.receive(bytes);
      if (outcome === 'complete') this.counters.snapshots++;
      if (outcome === 'missingBaseline') this.missingBaseline++;
      if (outcome === 'complete' || outcome === 'partial') this.onThinSnapshot?.(tracker.header);
      // a spectator on a shared stream acknowledges nothing (welcome.stream)
      if (this.welcome.stream !== true) this.ackSnapshot(tracker.ack());
    } catch (err) {
      this.counters.decodeErrors++;
      this.events.onError?.(err as Error);
    }
  }
}

/** ScriptWorld over a decoded snapshot frame. */
export class FrameWorld implements ScriptWorld {
  frame: SnapshotFrame | undefined;
  selfEid = -1;
  private readonly fieldIndex = new Map<string, number>();

  constructor(private readonly schema: NetSchema) {
    schema.fields.forEach((f, i) => this.fieldIndex.set(`${f.component}.${f.field}`, i));
  }
  get tick(): number {
    return this.frame?.tick ?? -1;
  }
  count(): number {
    return this.frame?.count ?? 0;
  }
  id(i: number): number {
    return this.frame ? this.frame.ids[i] : -1;
  }
  indexOf(eid: number): number {
    return this.frame && eid >= 0 ? this.frame.indexOf(eid) : -1;
  }
  field(i: number, name: string): number | undefined {
    const f = this.frame;
    const fi = this.fieldIndex.get(name);
    if (!f || fi === undefined || i < 0 || i >= f.count) return undefined;
    const field = this.schema.fields[fi];
    if ((f.masks[i] & (1 << field.compIndex)) === 0) return undefined;
    return field.q.dequantize(f.values[i * f.fieldCount + fi]);
  }
}

/** One headless client with its behaviour script and counters. */
export class Bot {
  state: BotState = 'idle';
  readonly conn: Connection;
  readonly full: FullClient | undefined;
  readonly brain: BotBrain;
  readonly rtt: LogHistogram = newMsHistogram();
  readonly connectMs: LogHistogram = newMsHistogram();
  /** Input delay samples, ms (full bots only: see onSnapshotHeader). */
  readonly inputDelay: LogHistogram = newMsHistogram();
  /** Render-error probe of a full bot (created at the welcome). */
  probe: RenderErrorProbe | undefined = undefined;
  /** Why the connect failed, when it did. */
  failReason = '';
  errors = 0;
  readonly errorReasons: Record<string, number> = {};
  inputsAcked = 0;
  /** Complete snapshots decoded (decoding bots; thin bots count in their ThinConnection). */
  completeSnapshots = 0;
  fellBackToWs = false;
  /** This bot lost its server and a new one (matchmade again) took its place: its traffic still counts, not as a bot. */
  replaced = false;
  /** The link conditioner, when conditions are applied. */
  readonly link: ConditionedIO | undefined;
  private readonly world: FrameWorld | undefined;
  private truth: SharedTruth | undefined;
  /** The server's state at a snapshot tick: this bot's own receiver first, then the process's shared truth. */
  private readonly truthAt = (tick: number): SnapshotFrame | undefined => this.conn.receiver?.get(tick) ?? this.truth?.get(tick);
  private readonly io: ClientIO;
  private rawWs: unknown;
  private startedMs = 0;
  private activeSinceMs = -1;
  private activeMsDone = 0;
  private nextPingMs = 0;
  private ackBase = -1;
  private lastAckSeq = 0;
  private newestSnapTick = -1;
  private newestSnapMs = 0;
  private delayPrevTick = -1;
  private delayPrevAck = 0;
  private stopping = false;
  private readonly inputRateHz: number;
  private readonly pingIntervalMs: number;
  private readonly connectTimeoutMs: number;
  /** A spectator's moving camera (cameraPanUnitsPerSec): point, heading (unit vector), the world's bounds, the last step's time. */
  private readonly cam: { x: number; y: number; dx: number; dy: number; min: number[]; max: number[]; lastMs: number } | undefined;

  constructor(readonly opts: BotOptions) {
    this.inputRateHz = opts.inputRateHz ?? 60;
    this.pingIntervalMs = opts.pingIntervalMs ?? 1000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 20_000;
    const seed = deriveSeed(opts.seed, opts.index);
    const tracked: ClientIO = {
      nowMs: () => opts.io.nowMs(),
      openWebSocket: (url) => {
        const ws = opts.io.openWebSocket(url);
        this.rawWs = ws;
        return ws;
      },
    };
    if (opts.io.openDatagram) tracked.openDatagram = opts.io.openDatagram;
    const c = opts.conditions;
    if (c && (c.latencyMs > 0 || c.jitterMs > 0 || c.lossPct > 0)) {
      this.link = conditionClientIO(tracked, {
        settings: { ...defaultLinkSettings(), enabled: true, delayMs: c.latencyMs, jitterMs: c.jitterMs, lossPct: c.lossPct },
        seed: deriveSeed(seed, 0x11),
        timers: { nowMs: () => tracked.nowMs(), setTimer: (fn, ms) => setTimeout(fn, ms) },
      });
      this.io = this.link.io;
    } else {
      this.link = undefined;
      this.io = tracked;
    }
    const copts: ConnectionOptions = {
      url: opts.url, name: `bot-${opts.index}`, transport: opts.transport, webrtcTimeoutMs: opts.webrtcTimeoutMs ?? 5000,
    };
    if (opts.room !== undefined) copts.room = opts.room;
    if (opts.spectate) copts.spectate = true;
    if (opts.seat !== undefined) {
      copts.seat = opts.seat;
      // a server that is gone does not come back: a few failed reconnects, then the matchmaker
      copts.resumeAttempts = 3;
    }
    if (opts.inputPacketRateHz !== undefined) copts.inputPacketRateHz = opts.inputPacketRateHz;
    if (opts.mode === 'full') {
      if (!opts.fullClient) throw new Error('full bots need a FullClientFactory (the shared client netcode)');
      this.full = opts.fullClient(opts.game, this.io, copts);
      this.conn = this.full.connection;
    } else {
      this.conn = opts.script.needsWorld ? new Connection(opts.game, this.io, copts) : new ThinConnection(opts.game, this.io, copts);
    }
    if (opts.mode === 'full' || opts.script.needsWorld) this.world = new FrameWorld(this.conn.schema);
    this.brain = opts.script.create({ botIndex: opts.index, rng: new Rng(seed), inputRateHz: this.inputRateHz, gameName: opts.game.name });
    this.cam = opts.spectate && (opts.cameraPanUnitsPerSec ?? 0) > 0 ? panningCamera(this.conn, new Rng(deriveSeed(seed, 0x22))) : undefined;
    this.hookEvents();
  }

  private hookEvents(): void {
    const ev = this.conn.events;
    const prev = { ...ev };
    ev.onWelcome = (w) => {
      prev.onWelcome?.(w);
      this.state = 'active';
      const now = this.io.nowMs();
      this.activeSinceMs = now;
      this.connectMs.observe(now - this.startedMs);
      this.nextPingMs = now + ((this.opts.index * 97) % this.pingIntervalMs);
      this.newestSnapTick = w.tick;
      this.newestSnapMs = now;
      if (this.full) {
        this.probe = new RenderErrorProbe(this.conn.schema, w.tickRateHz / w.snapshotRateHz, gamePositionFields(this.opts.game));
        this.truth = this.opts.sharedTruth?.(w.tickRateHz / w.snapshotRateHz);
      }
      if (this.world) this.world.selfEid = w.eid;
      // a thin bot never decodes: release the receiver's frame ring (about 4 MB for arena-v1)
      if (this.conn instanceof ThinConnection) this.conn.receiver = undefined;
    };
    ev.onSnapshot = (frame, header) => {
      prev.onSnapshot?.(frame, header);
      // the receiver also hands out display frames of split snapshots still missing parts
      if (frame.complete) this.completeSnapshots++;
      this.onSnapshotHeader(header);
      if (this.world) this.world.frame = frame;
      this.truth?.offer(frame);
      this.probe?.onSnapshot(frame);
    };
    if (this.conn instanceof ThinConnection) this.conn.onThinSnapshot = (h) => this.onSnapshotHeader(h);
    ev.onPong = (rttMs, tick) => {
      prev.onPong?.(rttMs, tick);
      this.rtt.observe(rttMs);
    };
    ev.onError = (err) => {
      prev.onError?.(err);
      if (err.message.startsWith('WebRTC failed') || err.message === 'WebRTC unavailable') this.fellBackToWs = true;
      this.error(err.message);
    };
    ev.onClose = (reason, code) => {
      prev.onClose?.(reason, code);
      this.onClosed(reason);
    };
  }

  private onSnapshotHeader(h: Readonly<SnapshotHeader>): void {
    const now = this.io.nowMs();
    if (h.tick > this.newestSnapTick) {
      this.newestSnapTick = h.tick;
      this.newestSnapMs = now;
    }
    if (!h.hasInputAck) return;
    if (this.full) this.sampleInputDelay(h.tick, h.inputAck, now);
    if (this.ackBase < 0) {
      this.ackBase = 0;
      this.lastAckSeq = h.inputAck;
      this.inputsAcked = h.inputAck + 1;
      return;
    }
    const d = seqDiff(h.inputAck, this.lastAckSeq);
    if (d > 0) {
      this.inputsAcked += d;
      this.lastAckSeq = h.inputAck;
    }
  }

  /**
   * Input delay: the input the server acknowledges in the snapshot of tick T was applied at T
   * (when the server applied one new input on every tick since the previous snapshot: no
   * starvation, no skip), and that snapshot left the server about half a round trip before it
   * arrived. The delay is then arrival - RTT / 2 - when the input was sampled.
   */
  private sampleInputDelay(tick: number, ack: number, nowMs: number): void {
    const prevTick = this.delayPrevTick;
    const prevAck = this.delayPrevAck;
    if (tick <= prevTick) return;
    this.delayPrevTick = tick;
    this.delayPrevAck = ack;
    if (prevTick < 0 || seqDiff(ack, prevAck) !== tick - prevTick) return;
    const sampled = this.conn.inputSampledAtMs(ack);
    const rtt = this.conn.rttMs > 0 ? this.conn.rttMs : 0;
    if (Number.isFinite(sampled)) this.inputDelay.observe(Math.max(0, nowMs - rtt / 2 - sampled));
  }

  private error(message: string): void {
    this.errors++;
    // numbers (ids, sizes, ports) would make every message distinct
    countReason(this.errorReasons, message.replace(/\d+/g, 'N').slice(0, 120));
  }

  private onClosed(reason: string): void {
    if (this.opts.onLost && !this.stopping && (this.state === 'active' || this.state === 'connecting')) {
      if (this.state === 'active') this.activeMsDone += this.io.nowMs() - this.activeSinceMs;
      this.activeSinceMs = -1;
      this.state = 'closed';
      this.replaced = true;
      this.opts.onLost(reason);
      return;
    }
    if (this.state === 'connecting') {
      this.state = 'failed';
      this.failReason = reason.replace(/\d+/g, 'N').slice(0, 120) || 'closed';
      return;
    }
    if (this.state === 'active') {
      this.activeMsDone += this.io.nowMs() - this.activeSinceMs;
      this.activeSinceMs = -1;
      this.state = 'closed';
      if (!this.stopping) this.error(`closed: ${reason}`);
    }
  }

  /** Starts connecting. */
  start(): void {
    if (this.state !== 'idle') return;
    this.state = 'connecting';
    this.startedMs = this.io.nowMs();
    if (this.full) this.full.connect();
    else this.conn.connect();
  }

  /** Estimated server tick now (from the newest snapshot, its age and half the RTT). */
  estimatedServerTick(nowMs: number): number {
    const hz = this.conn.welcome?.tickRateHz ?? 60;
    const rtt = this.conn.rttMs > 0 ? this.conn.rttMs : 0;
    return this.newestSnapTick + ((nowMs - this.newestSnapMs + rtt / 2) * hz) / 1000;
  }

  /**
   * One input step (the worker calls it inputRateHz times a second): connect timeout, ping,
   * the script's input, and in full mode one netcode frame and the render-error probe.
   */
  step(nowMs: number): void {
    if (this.state === 'connecting') {
      if (nowMs - this.startedMs > this.connectTimeoutMs) {
        this.state = 'failed';
        this.failReason = 'timeout';
        this.conn.close('connect timeout');
      }
      return;
    }
    if (this.state !== 'active') return;
    // the full client netcode pings on its own schedule (its clock sync needs it)
    if (!this.full && nowMs >= this.nextPingMs) {
      this.nextPingMs = nowMs + this.pingIntervalMs;
      this.conn.ping();
    }
    if (this.cam) this.panCamera(nowMs);
    const input = this.brain.next(nowMs, this.world && this.world.frame ? this.world : undefined);
    if (this.full) {
      this.full.frame(nowMs, input);
      const probe = this.probe;
      if (probe) {
        probe.onRender(this.full.renderTick(nowMs), this.full.sampleRemote, this.truthAt, this.conn.eid);
        if (this.truth) probe.settle(this.truthAt);
      }
    } else {
      // one tick of lead over the estimated server tick, as a client that sends ahead would
      if (!this.opts.spectate) this.conn.sendInput(input, Math.max(0, Math.round(this.estimatedServerTick(nowMs))) + 1);
      this.conn.pollAck(nowMs);
    }
  }

  /** Moves the spectator's camera on by the time since the last step (reflecting at the world's edges) and tells the server. */
  private panCamera(nowMs: number): void {
    const c = this.cam!;
    const dt = c.lastMs < 0 ? 0 : Math.min(0.25, (nowMs - c.lastMs) / 1000);
    c.lastMs = nowMs;
    const step = (this.opts.cameraPanUnitsPerSec ?? 0) * dt;
    c.x += c.dx * step;
    c.y += c.dy * step;
    if (c.x < c.min[0] || c.x > c.max[0]) c.dx = -c.dx;
    if (c.y < c.min[1] || c.y > c.max[1]) c.dy = -c.dy;
    c.x = Math.min(c.max[0], Math.max(c.min[0], c.x));
    c.y = Math.min(c.max[1], Math.max(c.min[1], c.y));
    this.conn.setCamera(c.x, c.y, 0, -1, nowMs);
    this.conn.pollCamera(nowMs);
  }

  /** Closes the connection (a deliberate stop: not counted as an error). */
  stop(): void {
    this.stopping = true;
    if (this.state === 'connecting') {
      this.state = 'failed';
      this.failReason = 'stopped before welcome';
    }
    this.conn.close('bot stopped');
  }

  /** Adds this bot's cumulative counters (and gauges) into `t` at time `nowMs`. */
  addTo(t: BotTotals, nowMs: number): void {
    const c = this.conn.counters;
    const activeMs = this.activeMsDone + (this.activeSinceMs >= 0 ? nowMs - this.activeSinceMs : 0);
    if (this.replaced) t.rejoins++;
    else {
      t.bots++;
      if (this.full) t.fullBots++;
    }
    if (this.state === 'connecting') t.connecting++;
    if (this.state === 'active') {
      t.active++;
      if (this.conn.transport === 'webrtc') t.activeWebrtc++;
    }
    if ((this.state === 'active' || this.state === 'closed') && !this.replaced) t.connectedTotal++;
    if (this.state === 'failed') {
      t.failed++;
      countReason(t.failReasons, this.failReason || 'unknown');
    }
    if (this.fellBackToWs) t.fellBackToWs++;
    t.activeClientMs += activeMs;
    if (this.full) t.fullActiveClientMs += activeMs;
    t.bytesDown += c.bytesDown;
    t.bytesUp += c.bytesUp;
    // Only a WebSocket-only bot's socket carries all its traffic. WebRTC exposes no wire counter
    // here: libdatachannel's bytesSent/bytesReceived count datachannel message bytes (= payload).
    const wire = this.opts.transport === 'ws' ? wsSocketBytes(this.rawWs) : undefined;
    if (wire && activeMs > 0) {
      t.wireBytesDown += wire.read;
      t.wireBytesUp += wire.written;
      t.wireClientMs += activeMs;
    }
    t.snapshots += this.conn instanceof ThinConnection ? c.snapshots : this.completeSnapshots;
    t.inputsSent += c.inputsSent;
    t.inputsAcked += this.inputsAcked;
    t.inputPackets += c.inputPackets;
    t.acksInInput += c.acksInInput;
    t.acksStandalone += c.acksStandalone;
    t.corrections += this.full ? this.full.corrections() : 0;
    t.decodeErrors += c.decodeErrors;
    t.errors += this.errors;
    for (const [k, v] of Object.entries(this.errorReasons)) countReason(t.errorReasons, k, v);
  }

  /** Merges the bot's histograms into the given ones. */
  addHistograms(rtt: LogHistogram, connect: LogHistogram, render: LogHistogram, counts: BotTotals['renderCounts'], delay?: LogHistogram): void {
    rtt.merge(this.rtt);
    connect.merge(this.connectMs);
    delay?.merge(this.inputDelay);
    if (this.probe) {
      render.merge(this.probe.errors);
      for (const k of ['ticksRendered', 'ticksCompared', 'samples', 'ticksUnverified'] as const) counts[k] += this.probe.counts[k];
    }
  }
}

/** Sums the bots' counters into one reading at `nowMs` (wall clock `atMs`). */
export function totalsOf(bots: readonly Bot[], nowMs: number, atMs: number, base: BotTotals): BotTotals {
  const rtt = newMsHistogram();
  const connect = newMsHistogram();
  const render = newErrorHistogram();
  const delay = newMsHistogram();
  for (const b of bots) {
    b.addTo(base, nowMs);
    b.addHistograms(rtt, connect, render, base.renderCounts, delay);
  }
  base.inputDelayMs = delay.toJSON();
  base.atMs = atMs;
  base.rttMs = rtt.toJSON();
  base.connectMs = connect.toJSON();
  base.renderError = render.toJSON();
  return base;
}

/**
 * The full-mode client for bots: the shared client netcode (ClientNetcode: clock sync, input
 * clock, prediction with reconciliation, interpolation), exactly as the browser runs it.
 */
export function defaultFullClient(): FullClientFactory | undefined {
  return (game, io, opts) => new ClientNetcode(game, io, opts);
}
