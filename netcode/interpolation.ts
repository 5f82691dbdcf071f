// Interpolation of remote entities: a timeline of recent snapshots, sampling between the two
// snapshots around a render tick (bounded extrapolation past the newest, then hold), an adaptive
// interpolation delay from the snapshot interval, measured jitter and loss, and a render clock
// that follows its target smoothly instead of jumping.
import type { NetSchema } from '../shared/protocol/schema.ts';
import { SnapshotFrame } from '../shared/protocol/snapshot.ts';

/** Settings of interpolation. */
export interface InterpolationOptions {
  /** Snapshots kept, newest first out. Default 16. */
  timelineLength: number;
  /** Longest extrapolation past the newest snapshot, ms; after it entities hold still. Default 100. */
  maxExtrapolationMs: number;
  /**
   * A fixed-point field that changes by more than this share of its range between two snapshots
   * is treated as a teleport (or a wrap-around) and steps instead of sweeping. Default 0.25.
   */
  teleportFraction: number;
  /** Delay per ms of measured snapshot jitter (mean absolute deviation). Default 3. */
  jitterFactor: number;
  /** Smallest delay beyond one snapshot interval, ticks (covers the server's own timing wobble). Default 0.5. */
  minMarginTicks: number;
  /** Snapshot loss at which one whole extra snapshot interval of delay is added (scaled below it), 0..1. Default 0.02. */
  lossForExtraInterval: number;
  /** Largest render clock speed change while catching up with its target (0.1 = 10%). Default 0.1. */
  maxWarp: number;
  /** Speed change per tick of render clock error. Default 0.05. */
  warpPerTick: number;
  /** Render clock errors beyond this many ticks are snapped. Default 30. */
  snapTicks: number;
}

/** Defaults of InterpolationOptions. */
export const DEFAULT_INTERPOLATION: InterpolationOptions = Object.freeze({
  timelineLength: 16, maxExtrapolationMs: 100, teleportFraction: 0.25, jitterFactor: 3, minMarginTicks: 0.5,
  lossForExtraInterval: 0.02, maxWarp: 0.1, warpPerTick: 0.05, snapTicks: 30,
});

/** How a sample was produced. */
export type SampleMode = 'empty' | 'interpolate' | 'extrapolate' | 'hold';

/**
 * Entities as drawn at one render tick: ids ascending, component masks and dequantized field
 * values (row-major, fieldCount per entity). Reused between samples.
 */
export class EntityView {
  count = 0;
  tick = NaN;
  mode: SampleMode = 'empty';
  /** Ticks extrapolated past the newest snapshot (0 unless mode is extrapolate or hold). */
  extrapolatedTicks = 0;
  /** Tick of the older and newer snapshot used (-1 when none). */
  fromTick = -1;
  toTick = -1;
  readonly ids: Uint16Array;
  readonly masks: Uint32Array;
  readonly values: Float64Array;
  readonly fieldCount: number;

  constructor(schema: NetSchema) {
    this.fieldCount = schema.fields.length;
    this.ids = new Uint16Array(schema.maxEntities);
    this.masks = new Uint32Array(schema.maxEntities);
    this.values = new Float64Array(schema.maxEntities * this.fieldCount);
  }

  /** Row of entity `id`, or -1 (binary search). */
  indexOf(id: number): number {
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.ids[mid];
      if (v === id) return mid;
      if (v < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }
}

/** The most recent snapshots, copied out of the receiver, kept sorted by tick. */
export class SnapshotTimeline {
  private readonly frames: SnapshotFrame[];
  private used = 0;
  /** Snapshots inserted, and ones refused (duplicate or older than everything kept). */
  inserted = 0;
  refused = 0;

  constructor(
    readonly schema: NetSchema,
    readonly length = DEFAULT_INTERPOLATION.timelineLength,
  ) {
    // Frames start small and grow on demand (SnapshotFrame.copyFrom).
    this.frames = Array.from({ length }, () => new SnapshotFrame(schema, 64));
  }

  /** Number of snapshots held. */
  get size(): number {
    return this.used;
  }

  /** The i-th oldest snapshot held. */
  at(i: number): SnapshotFrame {
    return this.frames[i];
  }

  /** Newest tick held, or -1. */
  get newestTick(): number {
    return this.used > 0 ? this.frames[this.used - 1].tick : -1;
  }

  /** Copies `frame` in, in tick order (late arrivals slot in between). Returns false when refused. */
  insert(frame: SnapshotFrame): boolean {
    const n = this.used;
    let pos = n;
    while (pos > 0 && this.frames[pos - 1].tick > frame.tick) pos--;
    if (pos > 0 && this.frames[pos - 1].tick === frame.tick) {
      this.refused++;
      return false;
    }
    if (n === this.frames.length) {
      if (pos === 0) {
        this.refused++;
        return false;
      }
      // Drop the oldest, reusing its storage for the new frame.
      const spare = this.frames[0];
      for (let i = 1; i < pos; i++) this.frames[i - 1] = this.frames[i];
      this.frames[pos - 1] = spare;
      spare.copyFrom(frame);
    } else {
      const spare = this.frames[n];
      for (let i = n; i > pos; i--) this.frames[i] = this.frames[i - 1];
      this.frames[pos] = spare;
      spare.copyFrom(frame);
      this.used++;
    }
    this.inserted++;
    return true;
  }

  /** Forgets everything. */
  clear(): void {
    this.used = 0;
  }

  /** Index of the newest snapshot with tick <= `tick`, or -1. */
  floorIndex(tick: number): number {
    for (let i = this.used - 1; i >= 0; i--) if (this.frames[i].tick <= tick) return i;
    return -1;
  }
}

/**
 * Samples a timeline at a render tick: between the two snapshots around it, or past the newest
 * one by at most maxExtrapolationMs (velocity from the newest two), then holding still.
 */
export class Interpolator {
  private readonly o: InterpolationOptions;
  private readonly nf: number;
  /** Per field: 0 step, 1 linear, 2 angle (shortest arc). */
  private readonly how: Uint8Array;
  private readonly teleport: Float64Array;
  private readonly period: Float64Array;

  constructor(
    readonly schema: NetSchema,
    /** Server tick rate, Hz (to turn the extrapolation cap into ticks). */
    readonly tickRateHz: number,
    opts: Partial<InterpolationOptions> = {},
  ) {
    this.o = { ...DEFAULT_INTERPOLATION, ...opts };
    this.nf = schema.fields.length;
    this.how = new Uint8Array(this.nf);
    this.teleport = new Float64Array(this.nf);
    this.period = new Float64Array(this.nf);
    schema.fields.forEach((f, i) => {
      const q = f.q;
      if (q.kind === 'fixed') this.how[i] = 1;
      else if (q.kind === 'angle') this.how[i] = 2;
      this.teleport[i] = (q.max - q.min) * this.o.teleportFraction;
      this.period[i] = q.kind === 'angle' ? 2 * Math.PI : 0;
    });
  }

  /** Longest extrapolation, ticks. */
  get maxExtrapolationTicks(): number {
    return (this.o.maxExtrapolationMs * this.tickRateHz) / 1000;
  }

  /** Fills `out` with every entity as drawn at `tick` (fractional). */
  sample(timeline: SnapshotTimeline, tick: number, out: EntityView): void {
    out.tick = tick;
    out.extrapolatedTicks = 0;
    const n = timeline.size;
    if (n === 0 || !Number.isFinite(tick)) {
      out.count = 0;
      out.mode = 'empty';
      out.fromTick = out.toTick = -1;
      return;
    }
    const i = timeline.floorIndex(tick);
    if (i < 0) {
      // Before everything held: hold the oldest.
      this.copy(timeline.at(0), out);
      out.mode = 'hold';
      return;
    }
    const from = timeline.at(i);
    if (i + 1 < n) {
      const to = timeline.at(i + 1);
      this.lerp(from, to, (tick - from.tick) / (to.tick - from.tick), out);
      out.mode = 'interpolate';
      out.fromTick = from.tick;
      out.toTick = to.tick;
      return;
    }
    // Past the newest snapshot.
    const ahead = tick - from.tick;
    const cap = this.maxExtrapolationTicks;
    if (ahead <= 0 || n < 2 || cap <= 0) {
      this.copy(from, out);
      out.mode = ahead <= 0 ? 'interpolate' : 'hold';
      return;
    }
    const prev = timeline.at(i - 1);
    const t = Math.min(ahead, cap);
    this.extrapolate(prev, from, t, out);
    out.mode = ahead > cap ? 'hold' : 'extrapolate';
    out.extrapolatedTicks = t;
    out.fromTick = from.tick;
    out.toTick = -1;
  }

  private copy(f: SnapshotFrame, out: EntityView): void {
    const nf = this.nf;
    const fields = this.schema.fields;
    out.count = f.count;
    out.fromTick = f.tick;
    out.toTick = -1;
    for (let k = 0; k < f.count; k++) {
      out.ids[k] = f.ids[k];
      out.masks[k] = f.masks[k];
      for (let j = 0; j < nf; j++) out.values[k * nf + j] = fields[j].q.dequantize(f.values[k * f.fieldCount + j]);
    }
  }

  /**
   * Entities of `a` at a + (b - a) * alpha (0 <= alpha < 1), per field kind. Entities missing from
   * `b` hold their `a` state; ones only in `b` are not drawn yet. Discrete fields take `a`'s value.
   */
  private lerp(a: SnapshotFrame, b: SnapshotFrame, alpha: number, out: EntityView): void {
    const nf = this.nf;
    const fields = this.schema.fields;
    const how = this.how;
    let jb = 0;
    for (let k = 0; k < a.count; k++) {
      const id = a.ids[k];
      while (jb < b.count && b.ids[jb] < id) jb++;
      const inB = jb < b.count && b.ids[jb] === id;
      out.ids[k] = id;
      out.masks[k] = a.masks[k];
      const ra = k * a.fieldCount;
      const rb = jb * b.fieldCount;
      const ro = k * nf;
      for (let f = 0; f < nf; f++) {
        const q = fields[f].q;
        const va = q.dequantize(a.values[ra + f]);
        const kind = how[f];
        if (!inB || kind === 0) {
          out.values[ro + f] = va;
          continue;
        }
        const vb = q.dequantize(b.values[rb + f]);
        if (kind === 1) out.values[ro + f] = Math.abs(vb - va) <= this.teleport[f] ? va + (vb - va) * alpha : va;
        else out.values[ro + f] = this.arc(f, va, vb, alpha);
      }
    }
    out.count = a.count;
  }

  /**
   * Entities of `b` (the newest snapshot) moved on by `t` ticks at the velocity between `a` and
   * `b`; angles and discrete fields keep `b`'s value; entities missing from `a` hold.
   */
  private extrapolate(a: SnapshotFrame, b: SnapshotFrame, t: number, out: EntityView): void {
    const nf = this.nf;
    const fields = this.schema.fields;
    const how = this.how;
    const k = t / (b.tick - a.tick);
    let ja = 0;
    for (let i = 0; i < b.count; i++) {
      const id = b.ids[i];
      while (ja < a.count && a.ids[ja] < id) ja++;
      const inA = ja < a.count && a.ids[ja] === id;
      out.ids[i] = id;
      out.masks[i] = b.masks[i];
      const rb = i * b.fieldCount;
      const ra = ja * a.fieldCount;
      const ro = i * nf;
      for (let f = 0; f < nf; f++) {
        const q = fields[f].q;
        const vb = q.dequantize(b.values[rb + f]);
        if (!inA || how[f] !== 1) {
          out.values[ro + f] = vb;
          continue;
        }
        const d = vb - q.dequantize(a.values[ra + f]);
        let v = Math.abs(d) <= this.teleport[f] ? vb + d * k : vb;
        if (v < q.min) v = q.min;
        else if (v > q.max) v = q.max;
        out.values[ro + f] = v;
      }
    }
    out.count = b.count;
  }

  /** Angle field `f` from `va` towards `vb` by `alpha` along the shorter arc, in [-PI, PI). */
  private arc(f: number, va: number, vb: number, alpha: number): number {
    const p = this.period[f];
    let d = (vb - va) % p;
    if (d > p / 2) d -= p;
    else if (d < -p / 2) d += p;
    let v = va + d * alpha;
    if (v >= p / 2) v -= p;
    else if (v < -p / 2) v += p;
    return v;
  }
}

/**
 * The interpolation delay, ms: one snapshot interval, plus a margin for jitter (jitterFactor x the
 * measured mean absolute deviation of snapshot arrivals, at least minMarginTicks), plus up to one
 * more interval as snapshot loss approaches lossForExtraInterval (so one lost snapshot is bridged
 * by interpolation rather than extrapolation).
 */
export function interpolationDelayMs(o: InterpolationOptions, tickMs: number, snapshotIntervalMs: number, jitterMs: number, lossRate: number): number {
  const margin = Math.max(o.minMarginTicks * tickMs, o.jitterFactor * jitterMs);
  const lossShare = o.lossForExtraInterval > 0 ? Math.min(1, Math.max(0, lossRate) / o.lossForExtraInterval) : 0;
  return snapshotIntervalMs * (1 + lossShare) + margin;
}

/**
 * The render clock: the tick remote entities are drawn at. It advances with real time and warps
 * by at most maxWarp towards its target (arrival clock - delay), snapping only after a big jump.
 */
export class RenderClock {
  /** Current render tick (fractional); NaN before the first target. */
  tick = NaN;
  /** Current speed change (0.05 = 5% faster than real time). */
  warp = 0;
  /** Times the clock snapped to its target. */
  snaps = 0;
  private lastNowMs = NaN;
  private readonly o: InterpolationOptions;

  constructor(
    /** Length of a tick, ms. */
    readonly tickMs: number,
    opts: Partial<InterpolationOptions> = {},
  ) {
    this.o = { ...DEFAULT_INTERPOLATION, ...opts };
  }

  /** Advances to `nowMs` towards `targetTick`; returns the render tick. */
  advance(nowMs: number, targetTick: number): number {
    if (!Number.isFinite(targetTick)) return this.tick;
    if (!Number.isFinite(this.tick)) {
      this.tick = targetTick;
      this.lastNowMs = nowMs;
      return this.tick;
    }
    const dt = Math.max(0, nowMs - this.lastNowMs) / this.tickMs;
    this.lastNowMs = nowMs;
    const err = targetTick - (this.tick + dt);
    if (Math.abs(err) > this.o.snapTicks) {
      this.tick = targetTick;
      this.warp = 0;
      this.snaps++;
      return this.tick;
    }
    this.warp = Math.max(-this.o.maxWarp, Math.min(this.o.maxWarp, this.o.warpPerTick * err));
    this.tick += dt * (1 + this.warp);
    return this.tick;
  }

  /** The render tick at `nowMs` without advancing (extrapolated from the last advance). */
  peek(nowMs: number): number {
    if (!Number.isFinite(this.tick)) return NaN;
    return this.tick + (Math.max(0, nowMs - this.lastNowMs) / this.tickMs) * (1 + this.warp);
  }

  /** Forgets the clock (reconnect). */
  reset(): void {
    this.tick = NaN;
    this.warp = 0;
  }
}
