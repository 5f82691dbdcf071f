// The client netcode: one Connection plus clock sync, input production with time dilation,
// prediction with reconciliation of the local player, and interpolation of everything else.
// Exposes what a renderer or a bot needs, and the figures a net graph shows.
import { DEFAULT_NET_CONFIG } from '../shared/config.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import type { ServerControl } from '../shared/protocol/control.ts';
import type { SnapshotFrame, SnapshotHeader } from '../shared/protocol/snapshot.ts';
import { InputClock, ServerClock, type InputClockOptions, type ServerClockOptions } from './clock.ts';
import { Connection, type ClientIO, type ConnectionEvents, type ConnectionOptions, type ConnectionState } from './connection.ts';
import { DEFAULT_INTERPOLATION, EntityView, interpolationDelayMs, Interpolator, RenderClock, SnapshotTimeline, type InterpolationOptions, type SampleMode } from './interpolation.ts';
import { DEFAULT_PREDICTION, Predictor, type PredictionOptions } from './prediction.ts';
import { validateGame } from '../shared/sim/validate.ts';
import { ViewClaimSender } from './view-claims.ts';

/** Netcode features a developer can switch off to see what each does. All default true. */
export interface NetcodeToggles {
  /** Draw the local player from its prediction (off: from the newest snapshot, a round trip late). */
  prediction: boolean;
  /** Replay unacknowledged inputs on each snapshot (off: the prediction snaps back to the server's state). */
  reconciliation: boolean;
  /** Draw remote entities between snapshots in the past (off: at the newest snapshot, jerkily). */
  interpolation: boolean;
}

/** Options of ClientNetcode. */
export interface NetcodeOptions {
  /** Connection callbacks of the embedding code (called after the netcode's own). */
  events?: ConnectionEvents;
  /** Interval between pings, ms. Default 250. */
  pingIntervalMs?: number;
  /** Initial toggles. */
  toggles?: Partial<NetcodeToggles>;
  prediction?: Partial<PredictionOptions>;
  interpolation?: Partial<InterpolationOptions>;
  serverClock?: Partial<ServerClockOptions>;
  inputClock?: Partial<InputClockOptions>;
}

/** Figures for the net graph, refreshed every frame (rates over the last second). */
export interface NetStats {
  state: ConnectionState;
  /** Channel of unreliable traffic. */
  transport: 'ws' | 'webrtc';
  /** Smoothed ping round trip, ms (-1 before the first pong). */
  rttMs: number;
  /** Mean deviation of ping round trips, ms. */
  rttJitterMs: number;
  /** Mean deviation of snapshot arrivals from the arrival clock, ms. */
  jitterMs: number;
  /** Snapshots lost (never arrived) over the last ~64 snapshot intervals, percent. */
  lossPct: number;
  /** Snapshots received per second. */
  snapshotRateHz: number;
  /** Payload bytes per second received and sent (both channels). */
  bytesDownPerSec: number;
  bytesUpPerSec: number;
  /** Current interpolation delay target, ms, and the actual distance of the render clock behind the arrival clock, ms. */
  interpDelayMs: number;
  renderLagMs: number;
  /** How remote entities were last sampled. */
  renderMode: SampleMode;
  /** Prediction corrections per second, their mean and largest size over the last second, world units. */
  correctionsPerSec: number;
  correctionMeanUnits: number;
  correctionMaxUnits: number;
  /** Visible smoothing offset still applied to the local player, world units. */
  smoothingUnits: number;
  /** Estimated server tick, render tick and command (input) tick. */
  serverTick: number;
  renderTick: number;
  commandTick: number;
  /** Measured and target wait of inputs in the server's buffer, ms. */
  inputWaitMs: number;
  targetWaitMs: number;
  /** Input production speed change, percent. */
  dilationPct: number;
  /** Server steps without a new input from us, and inputs it skipped, since connecting. */
  starvations: number;
  skippedInputs: number;
  /** Totals since connecting. */
  snapshots: number;
  inputsSent: number;
  corrections: number;
}

/** Calls visit(eid, x, y) for every remote entity drawn at render tick `tick`. */
export type RemoteSampler = (tick: number, visit: (eid: number, x: number, y: number) => void) => void;

const LOSS_SLOTS = 128;
const LOSS_WINDOW = 64;
const LOSS_GRACE = 4;

/**
 * The client side of Tickwire for one connection. Call `connect()`, then `frame(nowMs, input)`
 * once per rendered frame; read `localPosition()`, `remote` and `stats`. Reconnecting means a new
 * ClientNetcode.
 */
export class ClientNetcode {
  readonly connection: Connection;
  readonly toggles: NetcodeToggles;
  readonly stats: NetStats;
  /** Remote entities (and the local one, as the server last said) at the current render tick. */
  readonly remote: EntityView;
  readonly timeline: SnapshotTimeline;
  readonly predictor: Predictor;
  serverClock: ServerClock;
  inputClock: InputClock;
  renderClock: RenderClock;
  interpolator: Interpolator;
  private readonly game: AnyGame;
  private readonly io: ClientIO;
  private readonly opts: NetcodeOptions;
  private readonly interpOpts: InterpolationOptions;
  private readonly scratch: EntityView;
  private readonly inputAt: (seq: number, out: Record<string, number>) => Record<string, number>;
  /** What was on screen when each input was made, for a game with lag compensation (else undefined). */
  readonly claims: ViewClaimSender | undefined;
  private readonly trigger: string | undefined;
  private tickRateHz: number = DEFAULT_NET_CONFIG.tickRateHz;
  private ticksPerSnapshot: number = DEFAULT_NET_CONFIG.tickRateHz / DEFAULT_NET_CONFIG.snapshotRateHz;
  private dtSec = 1 / DEFAULT_NET_CONFIG.tickRateHz;
  private newestTick = -1;
  private nextPingMs = 0;
  private lastFrameMs = NaN;
  private windowStartMs = NaN;
  private windowBytesDown = 0;
  private windowBytesUp = 0;
  private windowSnapshots = 0;
  private windowCorrections = 0;
  private windowCorrectionUnits = 0;
  private windowMaxUnits = 0;
  private delayMs = 0;
  /** Snapshot loss over the recent window, 0..1 (refreshed per snapshot). */
  private lossRate = 0;
  private readonly lossSlots = new Int32Array(LOSS_SLOTS).fill(-1);
  private firstSnapshotIndex = -1;
  /** The room moved: the next snapshot (the new owner's first) closes the gap of the move. */
  private movedGap = false;
  /** The room moved: the input clock's next start is a restart there (InputClock.start's afterMove). */
  private restartAfterMove = false;

  constructor(game: AnyGame, io: ClientIO, connectionOptions: ConnectionOptions, opts: NetcodeOptions = {}) {
    this.game = validateGame(game);
    this.io = io;
    this.opts = opts;
    this.toggles = { prediction: true, reconciliation: true, interpolation: true, ...opts.toggles };
    this.interpOpts = { ...DEFAULT_INTERPOLATION, ...opts.interpolation };
    const user = opts.events ?? {};
    this.connection = new Connection(game, io, connectionOptions, {
      onWelcome: (w) => {
        this.onWelcome(w);
        user.onWelcome?.(w);
      },
      onSnapshot: (frame, header) => {
        this.onSnapshot(frame, header);
        user.onSnapshot?.(frame, header);
      },
      onPong: (rttMs, tick) => {
        this.serverClock.onPong(rttMs, tick, this.io.nowMs());
        user.onPong?.(rttMs, tick);
      },
      onClose: (reason, code) => {
        this.inputClock.stop();
        this.stats.state = 'closed';
        user.onClose?.(reason, code);
      },
      onControl: (msg) => user.onControl?.(msg),
      onMoved: (msg) => {
        this.followMove();
        user.onMoved?.(msg);
      },
      onResuming: () => user.onResuming?.(),
      onResumed: () => user.onResumed?.(),
      onTransport: (kind) => user.onTransport?.(kind),
      onError: (err) => user.onError?.(err),
    });
    const schema = this.connection.schema;
    this.remote = new EntityView(schema);
    this.scratch = new EntityView(schema);
    this.timeline = new SnapshotTimeline(schema, this.interpOpts.timelineLength);
    this.predictor = new Predictor(game, schema, { ...DEFAULT_PREDICTION, ...opts.prediction });
    this.serverClock = new ServerClock(this.tickRateHz, opts.serverClock);
    this.inputClock = new InputClock(this.tickRateHz, opts.inputClock);
    this.renderClock = new RenderClock(1000 / this.tickRateHz, this.interpOpts);
    this.interpolator = new Interpolator(schema, this.tickRateHz, this.interpOpts);
    const conn = this.connection;
    this.inputAt = (seq, out) => conn.inputAt(seq, out);
    this.claims = game.lagCompensation ? new ViewClaimSender() : undefined;
    this.trigger = game.lagCompensation?.trigger;
    this.stats = {
      state: 'connecting', transport: 'ws', rttMs: -1, rttJitterMs: 0, jitterMs: 0, lossPct: 0, snapshotRateHz: 0,
      bytesDownPerSec: 0, bytesUpPerSec: 0, interpDelayMs: 0, renderLagMs: 0, renderMode: 'empty',
      correctionsPerSec: 0, correctionMeanUnits: 0, correctionMaxUnits: 0, smoothingUnits: 0,
      serverTick: NaN, renderTick: NaN, commandTick: NaN, inputWaitMs: NaN, targetWaitMs: 0, dilationPct: 0,
      starvations: 0, skippedInputs: 0, snapshots: 0, inputsSent: 0, corrections: 0,
    };
  }

  /** Starts connecting. */
  connect(): void {
    this.connection.connect();
  }

  /** Leaves and closes the connection. */
  close(reason?: string): void {
    this.inputClock.stop();
    this.connection.close(reason);
  }

  /** The local player's entity id, or -1. */
  get eid(): number {
    return this.connection.eid;
  }

  /** Ticks between snapshots (from the welcome). */
  get snapshotInterval(): number {
    return this.ticksPerSnapshot;
  }

  /**
   * The room moved to another server: tick numbers continue there, but not at the same moment (the
   * room stood frozen meanwhile), so the clocks learn the new server's timeline from its first
   * snapshot; the prediction and the snapshots held stay. What the clocks learned of the link
   * stays too (round trip, jitter, the input wait the starvations asked for): a fresh input clock
   * would wait for a pong, then starve and be corrected again until it had learned them anew.
   */
  private followMove(): void {
    this.movedGap = true;
    this.restartAfterMove = true;
    this.serverClock.restartTimeline();
    this.inputClock.stop();
    this.renderClock = new RenderClock(1000 / this.tickRateHz, this.interpOpts);
  }

  private onWelcome(w: Extract<ServerControl, { t: 'welcome' }>): void {
    this.tickRateHz = w.tickRateHz;
    this.ticksPerSnapshot = w.tickRateHz / w.snapshotRateHz;
    this.dtSec = 1 / w.tickRateHz;
    this.serverClock = new ServerClock(w.tickRateHz, this.opts.serverClock);
    this.inputClock = new InputClock(w.tickRateHz, this.opts.inputClock);
    this.inputClock.holdTicks = this.connection.inputTicksPerPacket - 1;
    this.renderClock = new RenderClock(1000 / w.tickRateHz, this.interpOpts);
    this.interpolator = new Interpolator(this.connection.schema, w.tickRateHz, this.interpOpts);
    this.predictor.setEntity(w.eid);
    this.timeline.clear();
    this.newestTick = -1;
    this.lossSlots.fill(-1);
    this.firstSnapshotIndex = -1;
    this.movedGap = false;
    this.restartAfterMove = false;
    this.nextPingMs = this.io.nowMs();
    this.connection.ping();
    this.nextPingMs += this.opts.pingIntervalMs ?? 250;
  }

  private onSnapshot(frame: SnapshotFrame, header: Readonly<SnapshotHeader>): void {
    const now = this.io.nowMs();
    this.timeline.insert(frame);
    this.windowSnapshots++;
    this.markReceived(frame.tick);
    if (frame.tick <= this.newestTick) return;
    this.newestTick = frame.tick;
    this.lossRate = this.snapshotLossRate();
    this.serverClock.onSnapshot(frame.tick, now);
    const hasAck = header.hasInputAck;
    const ack = header.inputAck;
    if (hasAck && this.inputClock.state === 'running') {
      this.inputClock.onAck(frame.tick, ack, now, this.serverClock.pathRttMs(), this.serverClock.jitterMs, this.lossRate);
    }
    // A display-only frame (parts of a split snapshot missing) never resets the prediction.
    if ((frame as { complete?: boolean }).complete === false) return;
    const before = this.predictor.stats.corrections;
    this.predictor.onSnapshot(frame, hasAck, ack, this.inputAt, this.dtSec, this.toggles.reconciliation);
    if (this.predictor.stats.corrections !== before) {
      const err = this.predictor.lastErrorUnits;
      this.windowCorrections++;
      this.windowCorrectionUnits += err;
      if (err > this.windowMaxUnits) this.windowMaxUnits = err;
    }
  }

  private markReceived(tick: number): void {
    // a server may send each client on its own tick phase: one index per snapshot interval either way
    const idx = Math.floor(tick / this.ticksPerSnapshot);
    if (this.movedGap) {
      // The snapshots the room did not send while it moved were never lost: the first one from the
      // new owner closes the gap as received, so the loss the clocks see is the link's.
      this.movedGap = false;
      if (this.newestTick >= 0) {
        const last = Math.floor(this.newestTick / this.ticksPerSnapshot);
        for (let i = Math.max(last + 1, idx - LOSS_SLOTS + 1); i < idx; i++) this.lossSlots[i % LOSS_SLOTS] = i;
      }
    }
    if (this.firstSnapshotIndex < 0 || idx < this.firstSnapshotIndex) this.firstSnapshotIndex = idx;
    this.lossSlots[idx % LOSS_SLOTS] = idx;
  }

  private snapshotLossRate(): number {
    if (this.newestTick < 0) return 0;
    const newest = Math.floor(this.newestTick / this.ticksPerSnapshot) - LOSS_GRACE;
    const oldest = Math.max(this.firstSnapshotIndex, newest - LOSS_WINDOW + 1);
    let expected = 0;
    let missing = 0;
    for (let i = oldest; i <= newest; i++) {
      expected++;
      if (this.lossSlots[i % LOSS_SLOTS] !== i) missing++;
    }
    return expected > 0 ? missing / expected : 0;
  }

  /**
   * One client frame at `nowMs`: pings when due, produces the inputs the command clock says are
   * due (each predicted at once and sent with its target tick), advances the render clock and
   * samples the remote entities, and refreshes the stats. `input` is the player's current input.
   */
  frame(nowMs: number, input: Readonly<Record<string, number>>): void {
    const conn = this.connection;
    const dtMs = Number.isFinite(this.lastFrameMs) ? Math.max(0, nowMs - this.lastFrameMs) : 0;
    this.lastFrameMs = nowMs;
    if (conn.state === 'active' && conn.welcome) {
      if (nowMs >= this.nextPingMs) {
        conn.ping();
        this.nextPingMs = nowMs + (this.opts.pingIntervalMs ?? 250);
      }
      // a spectator has no entity: it sends no inputs, only its snapshot acks
      if (conn.welcome.spectator !== true) this.produceInputs(nowMs, input);
      else conn.pollCamera(nowMs);
      conn.pollAck(nowMs);
      this.predictor.decay(dtMs);
      this.updateRender(nowMs);
    }
    this.updateStats(nowMs);
  }

  private produceInputs(nowMs: number, input: Readonly<Record<string, number>>): void {
    const ic = this.inputClock;
    const sc = this.serverClock;
    let due = 0;
    if (ic.state === 'idle') {
      // Start once the clock has arrivals and a round trip, and the entity's state is known.
      if (!sc.synced || sc.rttMs < 0 || !this.predictor.initialized) return;
      // After a move the inputs the new owner lacks go first: they fill its buffer as much of the prefill.
      const serverTick = sc.serverTick(nowMs);
      const queued = this.connection.inputsPendingAt(serverTick + sc.oneWayMs() / ic.tickMs);
      due = ic.start(nowMs, serverTick, sc.oneWayMs(), sc.jitterMs, this.lossRate, queued, this.restartAfterMove);
      this.restartAfterMove = false;
      this.connection.resendAfterMove(ic.nextTarget);
    } else {
      due = ic.advance(nowMs);
    }
    // A burst (the prefill, or catching up after a slow frame) leaves in as few packets as fit,
    // so its inputs arrive together; otherwise the connection sends at its input packet rate.
    for (let i = 0; i < due; i++) {
      const target = ic.takeTarget();
      const packets = this.connection.counters.inputPackets;
      const seq = this.connection.sendInput(input, target, i === due - 1);
      const claims = this.claims;
      if (claims) {
        // What the player was looking at when it made this input: the remote entities as last drawn.
        claims.record(seq, this.remote, this.trigger === undefined || (input[this.trigger] ?? 0) !== 0);
        // With each input packet, the claims of the inputs it carries (as redundant as the inputs).
        const sent = this.connection.counters.inputPackets !== packets;
        const per = Math.min(16, this.connection.inputRedundancy * this.connection.inputTicksPerPacket);
        const msg = sent && this.connection.state === 'active' ? claims.message(seq, per) : undefined;
        if (msg) this.connection.sendUnreliable(msg);
      }
      ic.recordSend(seq, target, nowMs);
      this.predictor.predict(seq, this.inputAt, this.dtSec);
    }
  }

  private updateRender(nowMs: number): void {
    const sc = this.serverClock;
    if (!sc.synced) return;
    const tickMs = 1000 / this.tickRateHz;
    this.delayMs = interpolationDelayMs(this.interpOpts, tickMs, this.ticksPerSnapshot * tickMs, sc.jitterMs, this.lossRate);
    const r = this.renderClock.advance(nowMs, sc.arrivalTick(nowMs) - this.delayMs / tickMs);
    this.interpolator.sample(this.timeline, this.toggles.interpolation ? r : this.timeline.newestTick, this.remote);
  }

  /** The tick remote entities are drawn at, at `nowMs` (fractional); NaN before the clock is synced. */
  renderTick(nowMs: number): number {
    if (!this.toggles.interpolation) return this.timeline.newestTick < 0 ? NaN : this.timeline.newestTick;
    return this.renderClock.peek(nowMs);
  }

  /** Visits every remote entity (all but the local player) with a position, as drawn at `tick`. */
  readonly sampleRemote: RemoteSampler = (tick, visit) => {
    const v = this.scratch;
    this.interpolator.sample(this.timeline, tick, v);
    const xf = this.predictor.xField;
    const yf = this.predictor.yField;
    if (xf < 0 || yf < 0) return;
    const bit = 1 << this.connection.schema.fields[xf].compIndex;
    const self = this.eid;
    const nf = v.fieldCount;
    for (let i = 0; i < v.count; i++) {
      if (v.ids[i] === self || (v.masks[i] & bit) === 0) continue;
      visit(v.ids[i], v.values[i * nf + xf], v.values[i * nf + yf]);
    }
  };

  /** Prediction corrections so far (acknowledged inputs whose predicted state was wrong). */
  corrections(): number {
    return this.predictor.stats.corrections;
  }

  /**
   * Where to draw the local player: its prediction blended through the current tick plus the
   * smoothing offset, or (prediction off) the newest snapshot's state. False when unknown.
   */
  localPosition(out: { x: number; y: number }): boolean {
    if (this.toggles.prediction) {
      const ic = this.inputClock;
      const alpha = ic.state === 'running' ? ic.command - (ic.nextTarget - 1) : 1;
      return this.predictor.renderPosition(alpha, out);
    }
    return this.serverPosition(out);
  }

  /** The local player's position in the newest snapshot (where the server last had it). False when unknown. */
  serverPosition(out: { x: number; y: number }): boolean {
    const t = this.timeline;
    const xf = this.predictor.xField;
    const yf = this.predictor.yField;
    if (t.size === 0 || xf < 0 || yf < 0) return false;
    const f = t.at(t.size - 1);
    const row = f.indexOf(this.eid);
    if (row < 0) return false;
    const fields = this.connection.schema.fields;
    out.x = fields[xf].q.dequantize(f.values[row * f.fieldCount + xf]);
    out.y = fields[yf].q.dequantize(f.values[row * f.fieldCount + yf]);
    return true;
  }

  /** The local player's predicted value of networked field `f` (schema order), or NaN. */
  localValue(f: number): number {
    return this.predictor.initialized ? this.predictor.value(f) : NaN;
  }

  private updateStats(nowMs: number): void {
    const s = this.stats;
    const conn = this.connection;
    const sc = this.serverClock;
    const ic = this.inputClock;
    s.state = conn.state;
    s.transport = conn.transport;
    s.rttMs = sc.rttMs;
    s.rttJitterMs = sc.rttJitterMs;
    s.jitterMs = sc.jitterMs;
    s.interpDelayMs = this.delayMs;
    const tickMs = 1000 / this.tickRateHz;
    s.serverTick = sc.serverTick(nowMs);
    s.renderTick = this.renderTick(nowMs);
    s.renderLagMs = (sc.arrivalTick(nowMs) - s.renderTick) * tickMs;
    s.renderMode = this.remote.mode;
    s.commandTick = ic.state === 'running' ? ic.command : NaN;
    s.inputWaitMs = ic.waitMs;
    s.targetWaitMs = ic.targetWaitMs;
    s.dilationPct = ic.dilation * 100;
    s.starvations = ic.starvations;
    s.skippedInputs = ic.skipped;
    s.snapshots = conn.counters.snapshots;
    s.inputsSent = conn.counters.inputsSent;
    s.corrections = this.predictor.stats.corrections;
    s.smoothingUnits = Math.sqrt(this.predictor.offsetX ** 2 + this.predictor.offsetY ** 2);
    if (!Number.isFinite(this.windowStartMs)) {
      this.windowStartMs = nowMs;
      this.windowBytesDown = conn.counters.bytesDown;
      this.windowBytesUp = conn.counters.bytesUp;
      return;
    }
    const span = nowMs - this.windowStartMs;
    if (span < 1000) return;
    const perSec = 1000 / span;
    s.bytesDownPerSec = (conn.counters.bytesDown - this.windowBytesDown) * perSec;
    s.bytesUpPerSec = (conn.counters.bytesUp - this.windowBytesUp) * perSec;
    s.snapshotRateHz = this.windowSnapshots * perSec;
    s.correctionsPerSec = this.windowCorrections * perSec;
    s.correctionMeanUnits = this.windowCorrections > 0 ? this.windowCorrectionUnits / this.windowCorrections : 0;
    s.correctionMaxUnits = this.windowMaxUnits;
    s.lossPct = this.lossRate * 100;
    this.windowStartMs = nowMs;
    this.windowBytesDown = conn.counters.bytesDown;
    this.windowBytesUp = conn.counters.bytesUp;
    this.windowSnapshots = 0;
    this.windowCorrections = 0;
    this.windowCorrectionUnits = 0;
    this.windowMaxUnits = 0;
  }
}
