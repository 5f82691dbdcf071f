// Snapshot history: the replicated state captured at each snapshot tick, in a fixed ring, so delta
// encoding can find the baseline a client acknowledged; plus the per-tick rates of rated fields.
import { SnapshotFrame, snapshotLayout, type SnapshotLayout } from '../shared/protocol/snapshot.ts';
import type { NetSchema } from '../shared/protocol/schema.ts';
import type { Store } from '../shared/sim/game.ts';

/**
 * Remembers the quantized values of the rated fields one tick before each snapshot, so a captured
 * frame can carry each rated field's rate: its change over the last simulation tick. Indexed by
 * entity id; nothing is allocated after construction.
 */
export class RateTracker {
  private readonly layout: SnapshotLayout;
  /** Quantized value per entity id and rate slot; -1 when the component was absent. */
  private readonly prev: Float64Array;
  /** Tick each entity's values were recorded at; -1 when never. */
  private readonly stamp: Float64Array;

  constructor(schema: NetSchema) {
    this.layout = snapshotLayout(schema);
    this.prev = new Float64Array(schema.maxEntities * Math.max(1, this.layout.nr));
    this.stamp = new Float64Array(schema.maxEntities).fill(-1);
  }

  /** Records the rated fields of every entity in `list` as their values at `tick`. */
  capture(tick: number, list: readonly number[], stores: readonly Store[], hasComponent: (eid: number, compIndex: number) => boolean): void {
    const { nr, rateField, slotComp, q } = this.layout;
    if (nr === 0) return;
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      this.stamp[e] = tick;
      for (let r = 0; r < nr; r++) {
        const f = rateField[r];
        this.prev[e * nr + r] = hasComponent(e, slotComp[r]) ? q[f].quantize(stores[f][e]) : -1;
      }
    }
  }

  /**
   * Sets the rates of a captured frame (frame.rates: each rated field's change since the record
   * of tick - 1, 0 without one or when absent), then records the frame's values as those of its
   * tick, in one pass (the record the next tick's rates are taken against).
   */
  rateAndRecord(frame: SnapshotFrame): void {
    const { nr, nf, rateField, slotComp } = this.layout;
    if (nr === 0) return;
    const { ids, masks, values, rates: out } = frame;
    const { prev, stamp } = this;
    const tick = frame.tick;
    for (let i = 0; i < frame.count; i++) {
      const e = ids[i];
      const mask = masks[i];
      const fresh = stamp[e] === tick - 1;
      stamp[e] = tick;
      for (let r = 0; r < nr; r++) {
        const k = e * nr + r;
        if ((mask >>> slotComp[r]) & 1) {
          const v = values[i * nf + rateField[r]];
          const p = prev[k];
          out[i * nr + r] = fresh && p >= 0 ? v - p : 0;
          prev[k] = v;
        } else {
          out[i * nr + r] = 0;
          prev[k] = -1;
        }
      }
    }
  }
}

/**
 * Entities a history frame holds before it first grows. Frames start small so a new room costs
 * little (a hello that creates a room is one client message); each frame grows by doubling to the
 * room's entity count over its first captures, then never allocates again.
 */
export const HISTORY_FRAME_INITIAL_CAPACITY = 64;

/** Fixed ring of frames; `get(tick)` finds a stored tick or returns undefined when evicted. */
export class SnapshotHistory {
  private readonly frames: SnapshotFrame[];
  private readonly valid: Uint8Array;
  private next = 0;
  /** Slot of each stored tick by tick % its length (-1: none): get() in one probe; a collision falls back to the scan. */
  private readonly byTick: Int32Array;
  /** Rates of the rated fields (see RateTracker). */
  readonly rates: RateTracker;

  constructor(schema: NetSchema, readonly length: number) {
    this.frames = Array.from({ length }, () => new SnapshotFrame(schema, HISTORY_FRAME_INITIAL_CAPACITY));
    this.valid = new Uint8Array(length);
    this.byTick = new Int32Array(4 * length).fill(-1);
    this.rates = new RateTracker(schema);
  }

  /** The frame the next capture should fill (the oldest slot is overwritten). */
  claim(tick: number): SnapshotFrame {
    const slot = this.next;
    this.next = (this.next + 1) % this.length;
    const f = this.frames[slot];
    const by = this.byTick;
    if (this.valid[slot] && f.tick >= 0 && by[f.tick % by.length] === slot) by[f.tick % by.length] = -1;
    this.valid[slot] = 1;
    if (tick >= 0) by[tick % by.length] = slot;
    f.tick = tick;
    f.count = 0;
    return f;
  }

  /** The stored frame of `tick`, or undefined when never captured or evicted. */
  get(tick: number): SnapshotFrame | undefined {
    if (tick >= 0 && Number.isInteger(tick)) {
      const slot = this.byTick[tick % this.byTick.length];
      if (slot >= 0 && this.frames[slot].tick === tick) return this.frames[slot];
    }
    for (let i = 0; i < this.length; i++) if (this.valid[i] && this.frames[i].tick === tick) return this.frames[i];
    return undefined;
  }

  /** The most recently captured frame. */
  latest(): SnapshotFrame | undefined {
    const slot = (this.next - 1 + this.length) % this.length;
    return this.valid[slot] ? this.frames[slot] : undefined;
  }
}

/**
 * Captures the replicated state of a world into `frame`: every entity with a networked component,
 * sorted by id, quantized, absent components as 0. `presence` is scratch of maxEntities bytes;
 * `stores` the field stores in schema order. With `rates`, each rated field gets its change over
 * the last tick (0 when the tracker has no record of tick - 1), and the frame is recorded as the
 * tracker's newest values. With `snap`, the stores are snapped to the wire grid as they are
 * captured (Quantizer.snapEach), which is snapAllToNetGrid and then the capture in one pass: the
 * tick of a room that captures skips its own snap.
 */
export function captureFrame(
  schema: NetSchema,
  replicated: () => readonly number[],
  hasComponent: (eid: number, compIndex: number) => boolean,
  stores: readonly Store[],
  presence: Uint8Array,
  frame: SnapshotFrame,
  rates?: RateTracker,
  snap = false,
): void {
  const list = replicated();
  frame.ensureCapacity(list.length);
  let maxId = -1;
  for (let i = 0; i < list.length; i++) {
    const e = list[i];
    presence[e] = 1;
    if (e > maxId) maxId = e;
  }
  const layout = snapshotLayout(schema);
  const { nf, nc, nr } = layout;
  const fields = schema.fields;
  const ids = frame.ids;
  const masks = frame.masks;
  let n = 0;
  let every = 0xffffffff;
  for (let e = 0; e <= maxId; e++) {
    if (!presence[e]) continue;
    presence[e] = 0;
    let mask = 0;
    for (let ci = 0; ci < nc; ci++) if (hasComponent(e, ci)) mask |= 1 << ci;
    ids[n] = e;
    masks[n] = mask >>> 0;
    every &= mask;
    n++;
  }
  // Field by field: one call per field, none per entity (Quantizer.quantizeEach); absent components as 0.
  const values = frame.values;
  for (let f = 0; f < nf; f++) {
    const q = fields[f].q;
    const store = stores[f];
    if (snap && q.snapEach) q.snapEach(store, ids, n, values, f, nf);
    else {
      if (snap) for (let i = 0; i < n; i++) store[ids[i]] = q.dequantize(q.quantize(store[ids[i]]));
      if (q.quantizeEach) q.quantizeEach(store, ids, n, values, f, nf);
      else for (let i = 0; i < n; i++) values[i * nf + f] = q.quantize(store[ids[i]]);
    }
    const bit = 1 << fields[f].compIndex;
    if ((every & bit) === 0) for (let i = 0; i < n; i++) if ((masks[i] & bit) === 0) values[i * nf + f] = 0;
  }
  frame.count = n;
  if (rates) {
    rates.rateAndRecord(frame);
    return;
  }
  if (nr > 0) frame.rates.fill(0, 0, n * nr);
}
