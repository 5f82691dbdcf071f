// Client clock sync: a continuous estimate of the server's tick from snapshot arrivals and
// ping/pong (ServerClock), and the command clock that decides which tick each input targets and
// speeds up or slows down input production to keep the server's input buffer small and steady
// (InputClock, time dilation as in Overwatch's netcode).
import { seqDiff } from '../shared/sequence.ts';

/*
 * Server time. The server runs step k (the one turning state k into state k+1) at wall time k*T.
 * During that step it answers queued pings with tick k, applies one input per player, and sends
 * the snapshot tagged k+1. So a pong tagged P and a snapshot tagged P+1 leave the server at the
 * same moment, "server tick P". Every such arrival is one sample of the arrival clock
 * E(t) = t/T + offset: the snapshot tick that arrives, on average, at local time t. The server's
 * own tick now is then S(t) = E(t) - 1 + oneWayDelay/T.
 */

/** Settings of ServerClock. */
export interface ServerClockOptions {
  /** Weight of each new sample once warmed up (an EMA; the first samples are averaged). Default 0.05. */
  gain: number;
  /** A sample this many ticks away from the estimate is an outlier; three in a row reset the clock. Default 20. */
  resetTicks: number;
  /** Weight of each RTT sample in the smoothed RTT. Default 0.125. */
  rttGain: number;
}

/** Defaults of ServerClockOptions. */
export const DEFAULT_SERVER_CLOCK: ServerClockOptions = Object.freeze({ gain: 0.05, resetTicks: 20, rttGain: 0.125 });

/** Samples of a restarted timeline (about a second of snapshots and pongs) that leave the measured jitter as it was. */
const RESTART_JITTER_HOLD = 20;

/**
 * Estimates the server's tick continuously (never once at connect: the server's loop may stall,
 * skip ticks or drift, and the estimate must follow). Fed with snapshot arrivals and pongs.
 */
export class ServerClock {
  /** Length of a tick, ms. */
  readonly tickMs: number;
  private offsetTicks = 0;
  private samples = 0;
  private outliers = 0;
  private outlierSign = 0;
  private readonly o: ServerClockOptions;
  /** Mean absolute deviation of arrivals from the arrival clock (downstream jitter), ms. */
  jitterMs = 0;
  /** Smoothed round-trip time of pings, ms (-1 before the first pong). */
  rttMs = -1;
  /** Mean absolute deviation of RTT samples, ms. */
  rttJitterMs = 0;
  /** Smallest RTT seen, ms (Infinity before the first pong). */
  rttMinMs = Infinity;
  /** Times the estimate was reset by a jump of the server's clock. */
  resets = 0;
  /** Jitter samples taken (over every timeline). */
  private jitterSamples = 0;
  /** The timeline restarted with the jitter already measured: new samples adjust it slowly. */
  private jitterKnown = false;

  constructor(
    /** Server tick rate, Hz. */
    readonly tickRateHz: number,
    opts: Partial<ServerClockOptions> = {},
  ) {
    this.tickMs = 1000 / tickRateHz;
    this.o = { ...DEFAULT_SERVER_CLOCK, ...opts };
  }

  /** True once at least one arrival was seen. */
  get synced(): boolean {
    return this.samples > 0;
  }

  /**
   * Forgets where the server's ticks fall in time (the room moved to another server: its ticks
   * continue there, later than here), to learn it again from the next arrival or pong; keeps the
   * round trip and the jitter measured, which the path to the fleet shares.
   */
  restartTimeline(): void {
    this.samples = 0;
    this.outliers = 0;
    this.outlierSign = 0;
    this.jitterKnown = this.jitterSamples > 0;
  }

  /** Feeds the arrival of the newest snapshot, tagged `tick`, at local time `nowMs`. */
  onSnapshot(tick: number, nowMs: number): void {
    this.sample(tick - nowMs / this.tickMs);
  }

  /** Feeds a pong: its round trip (ms) and the server tick it carries (the step that answered it). */
  onPong(rttMs: number, serverTick: number, nowMs: number): void {
    if (!(rttMs >= 0)) return;
    if (this.rttMs < 0) {
      this.rttMs = rttMs;
      this.rttJitterMs = 0;
    } else {
      const d = rttMs - this.rttMs;
      this.rttMs += this.o.rttGain * d;
      this.rttJitterMs += 0.25 * (Math.abs(d) - this.rttJitterMs);
    }
    if (rttMs < this.rttMinMs) this.rttMinMs = rttMs;
    if (serverTick > 0) this.sample(serverTick + 1 - nowMs / this.tickMs);
  }

  /**
   * Round trip of the path itself, ms: the smoothed ping RTT less the half tick a ping waits on
   * average in the server's inbox before the next tick answers it. 0 before the first pong.
   */
  pathRttMs(): number {
    return this.rttMs < 0 ? 0 : Math.max(0, this.rttMs - this.tickMs / 2);
  }

  /** Estimated one-way delay server -> client, ms (half the path RTT). */
  oneWayMs(): number {
    return this.pathRttMs() / 2;
  }

  /** The snapshot tick that arrives, on average, at `nowMs` (fractional). NaN before sync. */
  arrivalTick(nowMs: number): number {
    return this.samples > 0 ? nowMs / this.tickMs + this.offsetTicks : NaN;
  }

  /** The server's current tick at `nowMs` (fractional), estimated. NaN before sync. */
  serverTick(nowMs: number): number {
    return this.arrivalTick(nowMs) - 1 + this.oneWayMs() / this.tickMs;
  }

  private sample(offset: number): void {
    if (this.samples === 0) {
      this.offsetTicks = offset;
      this.samples = 1;
      return;
    }
    const d = offset - this.offsetTicks;
    if (Math.abs(d) > this.o.resetTicks) {
      // A lone outlier is a stale packet; several in a row mean the server's clock jumped.
      const sign = Math.sign(d);
      this.outliers = sign === this.outlierSign ? this.outliers + 1 : 1;
      this.outlierSign = sign;
      if (this.outliers >= 3) {
        this.offsetTicks = offset;
        this.samples = 1;
        this.outliers = 0;
        this.jitterMs = 0;
        this.jitterKnown = false;
        this.resets++;
      }
      return;
    }
    this.outliers = 0;
    this.samples++;
    const g = Math.max(this.o.gain, 1 / this.samples);
    this.offsetTicks += g * d;
    // The first samples of a timeline learn the jitter fast. After a restart the jitter of the
    // path is known already, and the new timeline's first deviations measure the error of an
    // offset still learned from a few samples (around a full snapshot and a resume), not the
    // link: the jitter stays as measured for RESTART_JITTER_HOLD samples, then follows as usual.
    if (!this.jitterKnown || this.samples > RESTART_JITTER_HOLD) {
      this.jitterMs += Math.max(0.1, this.jitterKnown ? 0 : g) * (Math.abs(d) * this.tickMs - this.jitterMs);
    }
    this.jitterSamples++;
  }
}

/** Settings of InputClock. */
export interface InputClockOptions {
  /** Smallest wait an input should have in the server's buffer, ticks. Default 0.5. */
  minSafetyTicks: number;
  /** Largest target wait, ticks; keep it below the server's inputBufferMax. Default 6. */
  maxSafetyTicks: number;
  /** Target wait per ms of measured downstream jitter (upstream jitter is assumed alike). Default 3. */
  jitterFactor: number;
  /** Largest production speed change in steady state (0.05 = inputs 5% faster or slower). Default 0.05. */
  maxDilation: number;
  /** Largest speed change while the wait is more than catchUpTicks off. Default 0.15. */
  catchUpDilation: number;
  /** Wait error beyond which catchUpDilation applies, ticks. Default 3. */
  catchUpTicks: number;
  /** Speed change per tick of wait error. Default 0.02. */
  gainPerTick: number;
  /** Wait errors below this are ignored, ticks. Default 0.25. */
  deadbandTicks: number;
  /** Weight of each wait sample in the smoothed wait. Default 0.1. */
  waitGain: number;
  /**
   * Packet loss at which one whole tick is added to the target wait (scaled below it), 0..1: a
   * lost input packet is covered by the next one, a tick later. Default 0.02.
   */
  lossForExtraTick: number;
  /**
   * Extra target wait added when a snapshot reports starved steps, ticks (once per snapshot, not
   * per step: one stall starves several steps in a row). Default 0.5.
   */
  starvationBumpTicks: number;
  /** Largest total starvation bump, ticks. Default 3. */
  maxBumpTicks: number;
  /** How fast the bump decays, ticks per second. Default 0.1. */
  bumpDecayTicksPerSec: number;
  /** Most inputs produced in one call of advance(); beyond it the backlog is dropped (after a stall). Default 8. */
  maxInputsPerAdvance: number;
  /**
   * Extra wait given at start, ticks: the first clock estimates come from few samples, and a
   * buffer that starts a little deep drains gently while one that starts short starves. Default 1.
   */
  startMarginTicks: number;
  /**
   * The start margin when the clock restarts after a move, ticks: the new owner's first ticks
   * follow its restore of the room (and of the rooms moving with it), late and then in a burst;
   * a buffer a few inputs deep rides that out, where a short one runs dry and repeats inputs the
   * client never predicted (a correction each). The new owner keeps the excess (its window is
   * wide after a move) and the dilation drains it within a second or two. Default 3.
   */
  restartMarginTicks: number;
}

/** Defaults of InputClockOptions. */
export const DEFAULT_INPUT_CLOCK: InputClockOptions = Object.freeze({
  minSafetyTicks: 0.5, maxSafetyTicks: 6, jitterFactor: 3, maxDilation: 0.05, catchUpDilation: 0.15, catchUpTicks: 3,
  gainPerTick: 0.02, deadbandTicks: 0.25, waitGain: 0.1, lossForExtraTick: 0.02, starvationBumpTicks: 0.5, maxBumpTicks: 3, bumpDecayTicksPerSec: 0.1,
  maxInputsPerAdvance: 8, startMarginTicks: 1, restartMarginTicks: 3,
});

/** Command clock life cycle. */
export type InputClockState = 'idle' | 'running';

const RING = 1024;

/*
 * The command clock C(t) runs ahead of the server: when it crosses integer k the client produces
 * the input for tick k (applied by the server's step k). The server applies inputs strictly in
 * sequence, one per step, so which step applies which input is decided by the server's buffer,
 * not by the target written in the packet. The client learns it exactly from snapshot acks: when
 * the ack advanced by exactly one per tick since the previous snapshot, the acknowledged input was
 * applied by the step just before the snapshot (tick - 1). If the client's label differs by
 * `slip`, future labels shift by it (a relabel, not a change of timing). The timing is controlled
 * through the wait: how long the acknowledged input sat at the server, measured as
 * (snapshot arrival - input send time - path RTT). Production speeds up when the wait is below
 * the target (the buffer runs dry) and slows down when above (it overfills).
 */

/**
 * Decides when inputs are produced and which tick each targets, and dilates production time to
 * hold the server's input buffer at a target wait derived from measured jitter and starvations.
 */
export class InputClock {
  /** Length of a tick, ms. */
  readonly tickMs: number;
  state: InputClockState = 'idle';
  /** The command clock, ticks (fractional). Input k is produced when it crosses k. */
  command = 0;
  /** Target tick of the next input. */
  nextTarget = 0;
  /** Current production speed change (0.02 = 2% faster than the server's tick rate). */
  dilation = 0;
  /** Smoothed wait of acknowledged inputs at the server, ms (NaN before the first sample). */
  waitMs = NaN;
  /** Target wait, ms. */
  targetWaitMs = 0;
  /** Extra target wait after starvations, ticks. */
  bumpTicks = 0;
  /**
   * Ticks an input may wait at the client for its packet (input packets slower than the tick rate:
   * ticks per packet - 1). The measured wait counts from sampling, so the target grows by this
   * much to keep the oldest input of each packet as safe as a packet per tick would.
   */
  holdTicks = 0;
  /** Server steps that found no new input from this client (it repeated the last one). */
  starvations = 0;
  /** Inputs the server skipped (lost beyond redundancy, or dropped from an overfull buffer). */
  skipped = 0;
  /** Label shifts applied, and their total size in ticks. */
  relabels = 0;
  relabelTicks = 0;
  /** Times the backlog was dropped after a stall. */
  stalls = 0;
  /** Mean absolute deviation of production lag (frame timing), ms. */
  productionJitterMs = 0;
  private productionLagMs = 0;
  private lastNowMs = NaN;
  private readonly o: InputClockOptions;
  private readonly sendMs = new Float64Array(RING);
  private readonly targets = new Float64Array(RING);
  private readonly known = new Uint16Array(RING);
  private readonly knownValid = new Uint8Array(RING);
  private prevTick = -1;
  private prevAck = 0;
  private lossRate = 0;
  /** Restarted after a move and not yet at the target wait: advance() predicts the wait from the dilation. */
  private settling = false;

  constructor(
    /** Server tick rate, Hz. */
    readonly tickRateHz: number,
    opts: Partial<InputClockOptions> = {},
  ) {
    this.tickMs = 1000 / tickRateHz;
    this.o = { ...DEFAULT_INPUT_CLOCK, ...opts };
    this.targetWaitMs = this.o.minSafetyTicks * this.tickMs;
  }

  /**
   * Starts the clock at `nowMs`. `serverTick` is the server's estimated tick now and `oneWayMs`
   * the estimated upstream delay. Returns how many inputs to produce at once to prefill the
   * server's buffer up to the target wait (each takes the next label from takeTarget()).
   * `queued` inputs, sent now ahead of the new ones (the resend after a move), are applied first,
   * one a tick: they take the first labels and count toward the prefill, so the wait the server's
   * buffer holds is the target, not the target plus the resend (0 inputs are due while they cover it).
   * `afterMove`: the restart on a new owner, with restartMarginTicks instead of startMarginTicks.
   */
  start(nowMs: number, serverTick: number, oneWayMs: number, downJitterMs: number, lossRate = 0, queued = 0, afterMove = false): number {
    this.lossRate = lossRate;
    this.updateTarget(downJitterMs, 0);
    // Labels start where the server would apply an input sent now; the prefill then buys the wait.
    const arrive = serverTick + oneWayMs / this.tickMs;
    const ahead = Math.max(0, Math.floor(queued));
    this.nextTarget = Math.ceil(arrive) + ahead;
    const waitTicks = this.targetWaitMs / this.tickMs + (afterMove ? this.o.restartMarginTicks : this.o.startMarginTicks);
    const prefill = Math.max(ahead > 0 ? 0 : 1, Math.ceil(waitTicks) - ahead);
    this.command = arrive + waitTicks;
    this.state = 'running';
    this.lastNowMs = nowMs;
    this.prevTick = -1;
    this.dilation = 0;
    this.waitMs = NaN;
    this.settling = afterMove;
    // Inputs sent before this start (the resend after a move) were sent long ago and labelled on
    // another timeline: their acks measure neither the wait nor the labels' slip.
    this.knownValid.fill(0);
    return prefill;
  }

  /** Stops producing (the connection closed). */
  stop(): void {
    this.state = 'idle';
  }

  /**
   * Advances the command clock to `nowMs` at the dilated rate. Returns how many inputs are due;
   * take their labels with takeTarget(). After a stall longer than maxInputsPerAdvance ticks the
   * backlog is dropped and one input is due.
   */
  advance(nowMs: number): number {
    if (this.state !== 'running') return 0;
    const dtMs = Math.max(0, nowMs - this.lastNowMs);
    this.lastNowMs = nowMs;
    const before = this.command;
    this.command += (dtMs / this.tickMs) * (1 + this.dilation);
    // Settling after a move: inputs produced slower than the server applies them wait shorter by
    // the dilation's share of the time, and the smoothed wait follows at once, where the acks that
    // measure it lag a round trip and the smoothing behind (the drain of the deep buffer a restart
    // leaves overshot, ran dry and repeated inputs, a correction each).
    if (this.settling && !Number.isNaN(this.waitMs)) this.waitMs += this.dilation * dtMs;
    this.bumpTicks = Math.max(0, this.bumpTicks - (this.o.bumpDecayTicksPerSec * dtMs) / 1000);
    let due = Math.floor(this.command) - this.nextTarget + 1;
    if (due <= 0) return 0;
    if (due > this.o.maxInputsPerAdvance) {
      this.stalls++;
      this.nextTarget = Math.floor(this.command);
      due = 1;
    } else {
      // How late this call is relative to the moment the clock crossed the first due target.
      const crossedMs = nowMs - ((this.command - this.nextTarget) / Math.max(1e-9, this.command - before)) * dtMs;
      const lag = Math.max(0, nowMs - crossedMs);
      const d = lag - this.productionLagMs;
      this.productionLagMs += 0.05 * d;
      this.productionJitterMs += 0.05 * (Math.abs(d) - this.productionJitterMs);
    }
    return due;
  }

  /** The label of the next input (and advances it). */
  takeTarget(): number {
    return this.nextTarget++;
  }

  /** Records that input `seq` targeting `targetTick` was sent at `nowMs`. */
  recordSend(seq: number, targetTick: number, nowMs: number): void {
    const slot = seq & (RING - 1);
    this.sendMs[slot] = nowMs;
    this.targets[slot] = targetTick;
    this.known[slot] = seq;
    this.knownValid[slot] = 1;
  }

  /** The target tick input `seq` was labeled with (after relabels), or NaN when unknown. */
  targetOf(seq: number): number {
    const slot = seq & (RING - 1);
    return this.knownValid[slot] && this.known[slot] === seq ? this.targets[slot] : NaN;
  }

  /**
   * Feeds the newest snapshot's tick and input ack (sequence of the last input the server applied)
   * at `nowMs`, with the path RTT and downstream jitter from the ServerClock and the measured
   * packet loss (0..1; upstream loss is assumed alike). Counts starvations and skips, realigns
   * labels and takes a wait sample when the ack is fresh, and updates the production speed.
   */
  onAck(tick: number, ack: number, nowMs: number, pathRttMs: number, downJitterMs: number, lossRate = 0): void {
    this.lossRate = lossRate;
    const prevTick = this.prevTick;
    const prevAck = this.prevAck;
    if (tick <= prevTick) return;
    this.prevTick = tick;
    this.prevAck = ack;
    if (prevTick < 0) return this.updateTarget(downJitterMs, 0);
    const dT = tick - prevTick;
    const dA = seqDiff(ack, prevAck);
    let starved = 0;
    if (dA < dT) {
      starved = dT - Math.max(0, dA);
      this.starvations += starved;
    } else if (dA > dT) {
      this.skipped += dA - dT;
      // Skips with a deep buffer are overflow: the bump has done its job and more.
      if (this.waitMs > this.targetWaitMs) this.bumpTicks = 0;
    } else {
      const target = this.targetOf(ack);
      if (!Number.isNaN(target)) {
        const slip = tick - 1 - target;
        if (slip !== 0) this.relabel(slip);
        const wait = nowMs - this.sendMs[ack & (RING - 1)] - pathRttMs;
        this.waitMs = Number.isNaN(this.waitMs) ? wait : this.waitMs + this.o.waitGain * (wait - this.waitMs);
      }
    }
    this.updateTarget(downJitterMs, starved);
  }

  /** Shifts every label by `ticks` (the server applies our inputs that much later than labeled). */
  private relabel(ticks: number): void {
    this.relabels++;
    this.relabelTicks += ticks;
    this.command += ticks;
    this.nextTarget += ticks;
    for (let i = 0; i < RING; i++) if (this.knownValid[i]) this.targets[i] += ticks;
  }

  private updateTarget(downJitterMs: number, starved: number): void {
    const o = this.o;
    if (starved > 0 && this.state === 'running') this.bumpTicks = Math.min(o.maxBumpTicks, this.bumpTicks + o.starvationBumpTicks);
    const t = this.tickMs;
    // A lost packet's inputs come with the next one, a packet interval (1 + holdTicks ticks) later.
    const lossTicks = o.lossForExtraTick > 0 ? Math.min(1, this.lossRate / o.lossForExtraTick) * (1 + this.holdTicks) : 0;
    const want = (o.minSafetyTicks + lossTicks + this.bumpTicks) * t + o.jitterFactor * downJitterMs + 2 * this.productionJitterMs;
    // maxSafetyTicks bounds the whole target, the packet's hold included: the server's buffer
    // holds a packet's inputs on top of the wait, and one past its bound is an input dropped.
    this.targetWaitMs = Math.min(Math.max(o.maxSafetyTicks, o.minSafetyTicks + this.holdTicks) * t, want + this.holdTicks * t);
    if (Number.isNaN(this.waitMs)) {
      this.dilation = 0;
      return;
    }
    const err = (this.targetWaitMs - this.waitMs) / t;
    if (Math.abs(err) < o.deadbandTicks) {
      this.dilation = 0;
      this.settling = false;
      return;
    }
    const cap = Math.abs(err) > o.catchUpTicks ? o.catchUpDilation : o.maxDilation;
    this.dilation = Math.max(-cap, Math.min(cap, o.gainPerTick * err));
  }
}
