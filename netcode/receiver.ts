// Client side of snapshots: decodes full and delta packets (whole or in parts) against the frames
// it keeps by tick, assembles split snapshots, builds display frames for incomplete ones on demand,
// and builds the ack (newest complete tick + bitfield of the 32 snapshot intervals before it).
import { DecodeError } from '../shared/protocol/errors.ts';
import { extrapolateRange, newPartPlacement, SectionDecoder, type PartPlacement } from '../shared/protocol/delta.ts';
import {
  MAX_SNAPSHOT_PARTS, newSnapshotHeader, readSnapshotPacketHeader, SNAPSHOT_ACK_BYTES, SNAPSHOT_ACK_NONE, SnapshotFrame, SnapshotKind, snapshotLayout,
  writeSnapshotAck, type SnapshotLayout, type SnapshotPacketHeader,
} from '../shared/protocol/snapshot.ts';
import type { NetSchema } from '../shared/protocol/schema.ts';

/** A ring slot's state: unused, some parts decoded, or complete (a baseline candidate). */
type SlotState = 'free' | 'assembling' | 'complete';

/** One snapshot tick being assembled or kept. */
class Slot {
  state: SlotState = 'free';
  tick = -1;
  kind = 0;
  baselineTick = -1;
  partCount = 0;
  partsGot = 0;
  /** Entities in the whole snapshot (known from any part of a split snapshot). */
  totalCount = -1;
  /** Rows of decoded parts at their final positions; the snapshot once complete. */
  readonly frame: SnapshotFrame;
  /** Display frame of an incomplete snapshot (allocated on first need, then reused). */
  display: SnapshotFrame | undefined;
  /** partsGot when the display frame was last built (-1 = stale). */
  displayParts = -1;
  readonly got = new Uint8Array(MAX_SNAPSHOT_PARTS);
  readonly idLo = new Int32Array(MAX_SNAPSHOT_PARTS);
  readonly idHi = new Int32Array(MAX_SNAPSHOT_PARTS);
  readonly rowStart = new Int32Array(MAX_SNAPSHOT_PARTS);
  readonly rows = new Int32Array(MAX_SNAPSHOT_PARTS);

  constructor(schema: NetSchema) {
    this.frame = new SnapshotFrame(schema, 64);
    this.frame.tick = -1;
  }

  reset(h: SnapshotPacketHeader): void {
    this.state = 'assembling';
    this.tick = h.tick;
    this.kind = h.kind;
    this.baselineTick = h.baselineTick;
    this.partCount = h.partCount;
    this.partsGot = 0;
    this.totalCount = -1;
    this.got.fill(0, 0, h.partCount);
    this.displayParts = -1;
    this.frame.tick = -1;
    this.frame.count = 0;
  }

  free(): void {
    this.state = 'free';
    this.tick = -1;
    this.frame.tick = -1;
  }
}

/** Counters of a receiver. */
export interface ReceiverCounters {
  /** Packets (parts) decoded. */
  received: number;
  /** Snapshots completed (every part decoded). */
  completed: number;
  /** Display frames built for incomplete split snapshots. */
  partial: number;
  /** Packets for a part or snapshot already decoded. */
  duplicates: number;
  /** Packets older than every frame kept, when the ring is full. */
  stale: number;
  /** Delta packets whose baseline this client does not hold (dropped; the server falls back). */
  missingBaseline: number;
}

/** Decoded snapshots by tick in a fixed ring; complete frames are the client's delta baselines. */
export class SnapshotReceiver {
  /** Header of the newest packet handled. */
  readonly header: SnapshotPacketHeader = newSnapshotHeader();
  /** Newest complete tick, or -1. */
  newestTick = -1;
  readonly counters: ReceiverCounters = { received: 0, completed: 0, partial: 0, duplicates: 0, stale: 0, missingBaseline: 0 };
  private readonly layout: SnapshotLayout;
  private readonly slots: Slot[];
  private readonly decoder: SectionDecoder;
  private readonly place: PartPlacement = newPartPlacement();
  private readonly order = new Int32Array(MAX_SNAPSHOT_PARTS);
  private readonly ackBytes = new Uint8Array(SNAPSHOT_ACK_BYTES);

  /**
   * @param schema the game's compiled schema
   * @param ticksPerSnapshot ticks between snapshots (tickRateHz / snapshotRateHz)
   * @param ringLength snapshots kept (default 32, the span of the ack bitfield)
   */
  constructor(
    readonly schema: NetSchema,
    readonly ticksPerSnapshot: number,
    ringLength = 32,
  ) {
    this.layout = snapshotLayout(schema);
    this.decoder = new SectionDecoder(schema);
    this.slots = Array.from({ length: Math.max(2, ringLength) }, () => new Slot(schema));
  }

  /** Packets decoded (parts). */
  get received(): number {
    return this.counters.received;
  }

  /** The complete frame of `tick`, or undefined. */
  get(tick: number): SnapshotFrame | undefined {
    const slots = this.slots;
    for (let i = 0; i < slots.length; i++) if (slots[i].state === 'complete' && slots[i].tick === tick) return slots[i].frame;
    return undefined;
  }

  /** The newest complete frame, or undefined. */
  latest(): SnapshotFrame | undefined {
    return this.newestTick < 0 ? undefined : this.get(this.newestTick);
  }

  /**
   * Decodes one snapshot packet (a whole snapshot or one part of it). Returns the frame of its tick
   * when this packet completed it; undefined for a part of a snapshot still incomplete (see
   * display()), a duplicate, a stale packet or a delta whose baseline is gone. Frames are owned by
   * the receiver and stay valid until their slot is reused (about ringLength snapshots later).
   * Throws DecodeError on malformed bytes (nothing is changed then).
   */
  receive(bytes: Uint8Array): SnapshotFrame | undefined {
    const h = readSnapshotPacketHeader(bytes, this.header);
    let slot = this.find(h.tick);
    if (slot && slot.state === 'complete') {
      this.counters.duplicates++;
      return undefined;
    }
    if (slot) {
      if (slot.kind !== h.kind || slot.baselineTick !== h.baselineTick || slot.partCount !== h.partCount) {
        throw new DecodeError('part', 64, `part of tick ${h.tick} disagrees with the parts before it`);
      }
      if (slot.got[h.partIndex]) {
        this.counters.duplicates++;
        return undefined;
      }
    }
    let base: SnapshotFrame | null = null;
    if (h.kind === SnapshotKind.Delta) {
      base = this.get(h.baselineTick) ?? null;
      if (!base) {
        this.counters.missingBaseline++;
        return undefined;
      }
    }
    const place = this.decoder.readPlacement(bytes, h, this.place);
    const fresh = !slot;
    if (!slot) {
      slot = this.claim(h.tick, base);
      if (!slot) {
        this.counters.stale++;
        return undefined;
      }
      slot.reset(h);
    }
    try {
      const limit = this.rowLimit(slot, place);
      this.decoder.decodePart(bytes, h, base, slot.frame, limit, place);
    } catch (err) {
      if (fresh) slot.free();
      throw err;
    }
    const p = h.partIndex;
    slot.got[p] = 1;
    slot.idLo[p] = place.idLo;
    slot.idHi[p] = place.idHi;
    slot.rowStart[p] = place.rowStart;
    slot.rows[p] = place.rows;
    slot.partsGot++;
    if (place.totalCount >= 0) slot.totalCount = place.totalCount;
    this.counters.received++;
    if (slot.partsGot === slot.partCount) return this.complete(slot);
    return undefined;
  }

  /**
   * The frame to show for `tick`: the complete frame, or for a snapshot still missing parts a
   * display frame (complete = false) holding the parts received, with the missing id ranges
   * extrapolated from its baseline (for a full snapshot, from the newest complete frame before it).
   * Display frames are never acknowledged or used as baselines. Undefined when nothing of `tick`
   * is held.
   */
  display(tick: number): SnapshotFrame | undefined {
    const slot = this.find(tick);
    if (!slot) return undefined;
    if (slot.state === 'complete') return slot.frame;
    if (slot.display && slot.displayParts === slot.partsGot) return slot.display;
    this.counters.partial++;
    return this.buildDisplay(slot);
  }

  /** The newest tick held, complete or not, or -1. */
  newestAnyTick(): number {
    let newest = -1;
    const slots = this.slots;
    for (let i = 0; i < slots.length; i++) if (slots[i].state !== 'free' && slots[i].tick > newest) newest = slots[i].tick;
    return newest;
  }

  /** display() of the newest tick held: the most recent state known, complete or not. */
  latestDisplay(): SnapshotFrame | undefined {
    const t = this.newestAnyTick();
    return t < 0 ? undefined : this.display(t);
  }

  /** Builds the ack for every complete snapshot held (the same buffer every call: valid until the next). */
  ack(): Uint8Array {
    if (this.newestTick < 0) {
      writeSnapshotAck(this.ackBytes, SNAPSHOT_ACK_NONE, 0);
      return this.ackBytes;
    }
    let bits = 0;
    for (let i = 0; i < 32; i++) {
      const t = this.newestTick - (i + 1) * this.ticksPerSnapshot;
      if (t >= 0 && this.get(t)) bits |= 1 << i;
    }
    writeSnapshotAck(this.ackBytes, this.newestTick, bits >>> 0);
    return this.ackBytes;
  }

  private find(tick: number): Slot | undefined {
    const slots = this.slots;
    for (let i = 0; i < slots.length; i++) if (slots[i].state !== 'free' && slots[i].tick === tick) return slots[i];
    return undefined;
  }

  /**
   * A slot for a new tick: a free one, else the oldest except the newest complete frame (the
   * baseline the server is most likely using) and `keep` (the baseline being decoded against).
   * Undefined when `tick` is older than all of them.
   */
  private claim(tick: number, keep: SnapshotFrame | null): Slot | undefined {
    const slots = this.slots;
    let oldest: Slot | undefined;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i];
      if (s.state === 'free') return s;
      if ((s.state === 'complete' && s.tick === this.newestTick) || s.frame === keep) continue;
      if (!oldest || s.tick < oldest.tick) oldest = s;
    }
    if (!oldest || oldest.tick > tick) return undefined;
    oldest.free();
    return oldest;
  }

  /**
   * Rows a new part may write: up to the first decoded part above it. Rejects a part whose rows or
   * ids overlap parts already decoded, or whose entity total disagrees with theirs.
   */
  private rowLimit(slot: Slot, place: PartPlacement): number {
    const maxEntities = this.schema.maxEntities;
    if (slot.partCount === 1) return maxEntities;
    if (slot.totalCount >= 0 && place.totalCount !== slot.totalCount) throw new DecodeError('part.totalCount', 0, 'disagrees with earlier parts');
    let limit = place.totalCount;
    for (let p = 0; p < slot.partCount; p++) {
      if (!slot.got[p]) continue;
      if (place.idLo < slot.idHi[p] && slot.idLo[p] < place.idHi) throw new DecodeError('part.idLo', 0, 'id range overlaps another part');
      const start = slot.rowStart[p];
      if (place.rowStart >= start && place.rowStart < start + slot.rows[p]) throw new DecodeError('part.rowStart', 0, 'rows overlap another part');
      if (start >= place.rowStart && start < limit) limit = start;
    }
    return limit;
  }

  private complete(slot: Slot): SnapshotFrame | undefined {
    const f = slot.frame;
    let count: number;
    if (slot.partCount === 1) count = slot.rows[0];
    else {
      let sum = 0;
      for (let p = 0; p < slot.partCount; p++) sum += slot.rows[p];
      count = slot.totalCount;
      let ok = sum === count;
      for (let i = 1; ok && i < count; i++) if (f.ids[i] <= f.ids[i - 1]) ok = false;
      if (!ok) {
        slot.free();
        throw new DecodeError('parts', 0, 'parts do not tile the snapshot');
      }
    }
    f.count = count;
    f.tick = slot.tick;
    f.complete = true;
    slot.state = 'complete';
    if (slot.tick > this.newestTick) this.newestTick = slot.tick;
    this.counters.completed++;
    return f;
  }

  /**
   * The display frame of an incomplete snapshot: decoded parts in id order, the id ranges of
   * missing parts extrapolated from the baseline (or, for a full snapshot, from the newest
   * complete frame before it).
   */
  private buildDisplay(slot: Slot): SnapshotFrame {
    let src: SnapshotFrame | undefined;
    if (slot.kind === SnapshotKind.Delta) src = this.get(slot.baselineTick);
    else {
      const slots = this.slots;
      for (let i = 0; i < slots.length; i++) {
        const s = slots[i];
        if (s.state === 'complete' && s.tick < slot.tick && (!src || s.tick > src.tick)) src = s.frame;
      }
    }
    const disp = slot.display ?? (slot.display = new SnapshotFrame(this.schema, slot.frame.capacity));
    let n = 0;
    for (let p = 0; p < slot.partCount; p++) {
      if (!slot.got[p]) continue;
      let k = n++;
      while (k > 0 && slot.idLo[this.order[k - 1]] > slot.idLo[p]) {
        this.order[k] = this.order[k - 1];
        k--;
      }
      this.order[k] = p;
    }
    const { nf, nr } = this.layout;
    const fr = slot.frame;
    let o = 0;
    let cursor = 0;
    for (let k = 0; k < n; k++) {
      const p = this.order[k];
      if (src && cursor < slot.idLo[p]) o = extrapolateRange(this.layout, src, cursor, slot.idLo[p], slot.tick, disp, o);
      const from = slot.rowStart[p];
      const rows = slot.rows[p];
      disp.ensureCapacity(o + rows);
      disp.ids.set(fr.ids.subarray(from, from + rows), o);
      disp.masks.set(fr.masks.subarray(from, from + rows), o);
      disp.values.set(fr.values.subarray(from * nf, (from + rows) * nf), o * nf);
      disp.rates.set(fr.rates.subarray(from * nr, (from + rows) * nr), o * nr);
      o += rows;
      cursor = slot.idHi[p];
    }
    if (src && cursor < this.schema.maxEntities) o = extrapolateRange(this.layout, src, cursor, this.schema.maxEntities, slot.tick, disp, o);
    disp.count = o;
    disp.tick = slot.tick;
    disp.complete = false;
    slot.displayParts = slot.partsGot;
    return disp;
  }
}
