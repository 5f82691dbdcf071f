// Render-error probe for full bots: compares the positions a client renders for remote entities at
// a snapshot tick T with the server's exact (quantized) positions at T, carried by snapshot T.
import type { NetSchema } from '../../shared/protocol/schema.ts';
import { SnapshotFrame } from '../../shared/protocol/snapshot.ts';
import { LogHistogram } from './stats.ts';

/** Calls visit(eid, x, y) for every remote entity the client would draw at render tick `tick`. */
export type RenderSampler = (tick: number, visit: (eid: number, x: number, y: number) => void) => void;

/** Counters of the probe. */
export interface RenderErrorCounts {
  /** Snapshot ticks the render clock passed. */
  ticksRendered: number;
  /** Of those, compared with the server's state (the snapshot of that tick arrived in time to check). */
  ticksCompared: number;
  /** Entity positions compared. */
  samples: number;
  /** Rendered ticks whose snapshot never arrived (lost, or older than the pending window). */
  ticksUnverified: number;
}

/** Snapshot ticks kept waiting for their snapshot after being rendered. */
const PENDING_SLOTS = 16;

/**
 * The method: whenever the client's render tick passes a snapshot tick T (a multiple of the
 * snapshot interval), the probe asks the client for the rendered position of every remote entity
 * at exactly render tick T. Snapshots carry the server's state losslessly with respect to its
 * quantized state (the server snaps every networked field to the wire grid each tick), so the
 * snapshot of tick T holds the exact server positions at T. If it has arrived (at this client, or
 * at another full bot of the same process: see SharedTruth), the positions are compared at once;
 * otherwise the rendered positions wait (up to 16 snapshot intervals) for it. A snapshot this
 * client lost is thus still checked when another client got it, so interpolation across a loss is
 * measured too.
 * Each compared entity adds one sample |rendered - server| in world units. Entities present on
 * one side only (spawned or removed around T) and the bot's own (predicted) entity are skipped.
 */
export class RenderErrorProbe {
  /** Distribution of per-entity errors, world units. */
  readonly errors = new LogHistogram(0.001, 0.01);
  readonly counts: RenderErrorCounts = { ticksRendered: 0, ticksCompared: 0, samples: 0, ticksUnverified: 0 };
  private lastRenderTick = -Infinity;
  private readonly xField: number;
  private readonly yField: number;
  private readonly posComp: number;
  private readonly pendingTick: Int32Array;
  private readonly pendingCount: Int32Array;
  private readonly pendingIds: Uint16Array[];
  private readonly pendingXY: Float64Array[];

  constructor(
    readonly schema: NetSchema,
    /** Ticks between snapshots. */
    readonly ticksPerSnapshot: number,
    /** The game's declared position fields, "Component.field" (netcode/prediction.ts gamePositionFields). */
    positionFields: readonly [string, string],
  ) {
    const find = (name: string): number => {
      const i = schema.fields.findIndex((f) => `${f.component}.${f.field}` === name);
      if (i < 0) throw new RangeError(`render-error probe: no networked field ${name}`);
      return i;
    };
    this.xField = find(positionFields[0]);
    this.yField = find(positionFields[1]);
    this.posComp = schema.fields[this.xField].compIndex;
    this.pendingTick = new Int32Array(PENDING_SLOTS).fill(-1);
    this.pendingCount = new Int32Array(PENDING_SLOTS);
    this.pendingIds = Array.from({ length: PENDING_SLOTS }, () => new Uint16Array(schema.maxEntities));
    this.pendingXY = Array.from({ length: PENDING_SLOTS }, () => new Float64Array(schema.maxEntities * 2));
  }

  /**
   * Call once per rendered frame with the frame's render tick (fractional). For each snapshot tick
   * passed since the previous frame, samples the client's rendered state at exactly that tick.
   * `truth(T)` returns the decoded snapshot of tick T if the client has it.
   */
  onRender(renderTick: number, sample: RenderSampler, truth: (tick: number) => SnapshotFrame | undefined, selfEid: number): void {
    if (!Number.isFinite(renderTick)) return;
    const tps = this.ticksPerSnapshot;
    let t = this.lastRenderTick === -Infinity ? Math.ceil(renderTick / tps) * tps : Math.floor(this.lastRenderTick / tps) * tps + tps;
    // never replay a long stall tick by tick
    if (renderTick - t > PENDING_SLOTS * tps) t = Math.ceil((renderTick - PENDING_SLOTS * tps) / tps) * tps;
    if (renderTick < this.lastRenderTick) {
      this.lastRenderTick = renderTick; // the clock stepped back: resume from here
      return;
    }
    for (; t <= renderTick; t += tps) {
      if (t < 0) continue;
      this.counts.ticksRendered++;
      const slot = (t / tps) % PENDING_SLOTS;
      if (this.pendingTick[slot] >= 0) this.counts.ticksUnverified++;
      this.pendingTick[slot] = t;
      let n = 0;
      const ids = this.pendingIds[slot];
      const xy = this.pendingXY[slot];
      sample(t, (eid, x, y) => {
        if (eid === selfEid || n >= ids.length) return;
        ids[n] = eid;
        xy[2 * n] = x;
        xy[2 * n + 1] = y;
        n++;
      });
      this.pendingCount[slot] = n;
      const f = truth(t);
      if (f) this.compare(slot, f);
    }
    this.lastRenderTick = renderTick;
  }

  /** Completes waiting comparisons whose snapshot `truth` now has (e.g. another bot received it). */
  settle(truth: (tick: number) => SnapshotFrame | undefined): void {
    for (let slot = 0; slot < PENDING_SLOTS; slot++) {
      const t = this.pendingTick[slot];
      if (t < 0) continue;
      const f = truth(t);
      if (f) this.compare(slot, f);
    }
  }

  /** Call for every snapshot received: completes a comparison that was waiting for it. */
  onSnapshot(frame: SnapshotFrame): void {
    if (!frame.complete || frame.tick % this.ticksPerSnapshot !== 0) return;
    const slot = (frame.tick / this.ticksPerSnapshot) % PENDING_SLOTS;
    if (this.pendingTick[slot] === frame.tick) this.compare(slot, frame);
  }

  private compare(slot: number, f: SnapshotFrame): void {
    const ids = this.pendingIds[slot];
    const xy = this.pendingXY[slot];
    const n = this.pendingCount[slot];
    const nf = f.fieldCount;
    const qx = this.schema.fields[this.xField].q;
    const qy = this.schema.fields[this.yField].q;
    const bit = 1 << this.posComp;
    for (let i = 0; i < n; i++) {
      const k = f.indexOf(ids[i]);
      if (k < 0 || (f.masks[k] & bit) === 0) continue;
      const dx = xy[2 * i] - qx.dequantize(f.values[k * nf + this.xField]);
      const dy = xy[2 * i + 1] - qy.dequantize(f.values[k * nf + this.yField]);
      this.errors.observe(Math.sqrt(dx * dx + dy * dy));
      this.counts.samples++;
    }
    this.counts.ticksCompared++;
    this.pendingTick[slot] = -1;
  }
}

/**
 * Complete snapshots received by any full bot of one process, kept by tick (the last `length`
 * snapshot ticks): the server's exact state at those ticks, for probes whose own client lost them.
 */
export class SharedTruth {
  private readonly frames: SnapshotFrame[];

  constructor(
    readonly schema: NetSchema,
    readonly ticksPerSnapshot: number,
    readonly length = 64,
  ) {
    this.frames = Array.from({ length }, () => {
      const f = new SnapshotFrame(schema, 64);
      f.tick = -1;
      return f;
    });
  }

  /** Keeps a copy of a complete snapshot frame (once per tick). */
  offer(frame: SnapshotFrame): void {
    if (!frame.complete || frame.tick < 0 || frame.tick % this.ticksPerSnapshot !== 0) return;
    const f = this.frames[(frame.tick / this.ticksPerSnapshot) % this.length];
    if (f.tick !== frame.tick) f.copyFrom(frame);
  }

  /** The server's state at snapshot tick `tick`, if some bot received it. */
  get(tick: number): SnapshotFrame | undefined {
    if (tick < 0 || tick % this.ticksPerSnapshot !== 0) return undefined;
    const f = this.frames[(tick / this.ticksPerSnapshot) % this.length];
    return f.tick === tick ? f : undefined;
  }
}
