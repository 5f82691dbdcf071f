// Client side of snapshots: decodes full and delta packets (whole or in parts) against the frames
// it keeps by tick, assembles split snapshots, builds display frames for incomplete ones on demand,
// and builds the ack (newest complete tick + bitfield of the 32 snapshot intervals before it).
import { DecodeError } from '../shared/protocol/errors.ts';
import { extrapolateRange, newPartPlacement, SectionDecoder, type PartPlacement } from '../shared/protocol/delta.ts';
import {
  MAX_SNAPSHOT_PARTS, newSnapshotHeader, readSnapshotPacketHeader, SnapshotFrame, SnapshotKind, snapshotLayout, type SnapshotLayout, type SnapshotPacketHeader,
} from '../shared/protocol/snapshot.ts';
import type { NetSchema } from '../shared/protocol/schema.ts';
import { SLOT_COMPLETE, SnapshotSlots } from './snapshot-slots.ts';

/**
 * What the receiver keeps per ring slot besides SnapshotSlots' metadata: the decoded rows and
 * where each part's rows and ids went.
 */
class Slot {
  /** Entities in the whole snapshot (known from any part of a split snapshot). */
  totalCount = -1;
  /** Rows of decoded parts at their final positions; the snapshot once complete. */
  readonly frame: SnapshotFrame;
  /** Display frame of an incomplete snapshot (allocated on first need, then reused). */
  display: SnapshotFrame | undefined;
  /** Parts received when the display frame was last built (-1 = stale). */
  displayParts = -1;
  readonly idLo = new Int32Array(MAX_SNAPSHOT_PARTS);
  readonly idHi = new Int32Array(MAX_SNAPSHOT_PARTS);
  readonly rowStart = new Int32Array(MAX_SNAPSHOT_PARTS);
  readonly rows = new Int32Array(MAX_SNAPSHOT_PARTS);

  constructor(schema: NetSchema) {
    this.frame = new SnapshotFrame(schema, 64);
    this.frame.tick = -1;
  }

  /** A new tick in this slot. */
  reset(): void {
    this.totalCount = -1;
    this.displayParts = -1;
    this.frame.tick = -1;
    this.frame.count = 0;
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

/**
 * Decoded snapshots by tick in a fixed ring; complete frames are the client's delta baselines.
 *
 * Which packets are used, which slot a tick gets and what is acknowledged are SnapshotSlots'
 * rules, shared with the thin bots' header-only tracker; this class adds the decoding. The rules
 * are a separate component rather than a header-only mode of this class so that neither pays for
 * the other: the thin bots hold no frame ring (about 4 MB for arena-v1) and this hot path has no
 * mode branches. Slots are indices into typed arrays, so a packet costs the same scans as before
 * and allocates nothing.
 */
export class SnapshotReceiver {
  /** Header of the newest packet handled. */
  readonly header: SnapshotPacketHeader = newSnapshotHeader();
  readonly counters: ReceiverCounters = { received: 0, completed: 0, partial: 0, duplicates: 0, stale: 0, missingBaseline: 0 };
  private readonly layout: SnapshotLayout;
  private readonly ring: SnapshotSlots;
  private readonly slots: Slot[];
  private readonly decoder: SectionDecoder;
  private readonly place: PartPlacement = newPartPlacement();
  private readonly order = new Int32Array(MAX_SNAPSHOT_PARTS);

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
    this.ring = new SnapshotSlots(ticksPerSnapshot, ringLength);
    this.slots = Array.from({ length: this.ring.length }, () => new Slot(schema));
  }

  /** Newest complete tick, or -1. */
  get newestTick(): number {
    return this.ring.newestTick;
  }

  /** Packets decoded (parts). */
  get received(): number {
    return this.counters.received;
  }

  /** The complete frame of `tick`, or undefined. */
  get(tick: number): SnapshotFrame | undefined {
    const i = this.ring.findComplete(tick);
    return i < 0 ? undefined : this.slots[i].frame;
  }

  /** The newest complete frame, or undefined. */
  latest(): SnapshotFrame | undefined {
    return this.ring.newestTick < 0 ? undefined : this.get(this.ring.newestTick);
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
    const ring = this.ring;
    const admitted = ring.admit(h);
    if (admitted !== 'ok') {
      if (admitted === 'duplicate') this.counters.duplicates++;
      else this.counters.missingBaseline++;
      return undefined;
    }
    const base = ring.baseSlot >= 0 ? this.slots[ring.baseSlot].frame : null;
    // read before a slot is claimed: a malformed placement must not evict anything
    const place = this.decoder.readPlacement(bytes, h, this.place);
    const i = ring.open(h);
    if (i < 0) {
      this.counters.stale++;
      return undefined;
    }
    const slot = this.slots[i];
    const fresh = ring.fresh;
    if (fresh) slot.reset();
    try {
      const limit = this.rowLimit(i, place);
      this.decoder.decodePart(bytes, h, base, slot.frame, limit, place);
    } catch (err) {
      if (fresh) this.free(i);
      throw err;
    }
    const p = h.partIndex;
    slot.idLo[p] = place.idLo;
    slot.idHi[p] = place.idHi;
    slot.rowStart[p] = place.rowStart;
    slot.rows[p] = place.rows;
    if (place.totalCount >= 0) slot.totalCount = place.totalCount;
    this.counters.received++;
    if (ring.addPart(i, p)) return this.complete(i);
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
    const i = this.ring.find(tick);
    if (i < 0) return undefined;
    const slot = this.slots[i];
    if (this.ring.state(i) === SLOT_COMPLETE) return slot.frame;
    if (slot.display && slot.displayParts === this.ring.partsReceived(i)) return slot.display;
    this.counters.partial++;
    return this.buildDisplay(i);
  }

  /** The newest tick held, complete or not, or -1. */
  newestAnyTick(): number {
    return this.ring.newestAnyTick();
  }

  /** display() of the newest tick held: the most recent state known, complete or not. */
  latestDisplay(): SnapshotFrame | undefined {
    const t = this.ring.newestAnyTick();
    return t < 0 ? undefined : this.display(t);
  }

  /** Builds the ack for every complete snapshot held (the same buffer every call: valid until the next). */
  ack(): Uint8Array {
    return this.ring.ack();
  }

  private free(i: number): void {
    this.ring.free(i);
    this.slots[i].frame.tick = -1;
  }

  /**
   * Rows a new part may write: up to the first decoded part above it. Rejects a part whose rows or
   * ids overlap parts already decoded, or whose entity total disagrees with theirs.
   */
  private rowLimit(i: number, place: PartPlacement): number {
    const maxEntities = this.schema.maxEntities;
    const ring = this.ring;
    const partCount = ring.partCount(i);
    if (partCount === 1) return maxEntities;
    const slot = this.slots[i];
    if (slot.totalCount >= 0 && place.totalCount !== slot.totalCount) throw new DecodeError('part.totalCount', 0, 'disagrees with earlier parts');
    let limit = place.totalCount;
    for (let p = 0; p < partCount; p++) {
      if (!ring.hasPart(i, p)) continue;
      if (place.idLo < slot.idHi[p] && slot.idLo[p] < place.idHi) throw new DecodeError('part.idLo', 0, 'id range overlaps another part');
      const start = slot.rowStart[p];
      if (place.rowStart >= start && place.rowStart < start + slot.rows[p]) throw new DecodeError('part.rowStart', 0, 'rows overlap another part');
      if (start >= place.rowStart && start < limit) limit = start;
    }
    return limit;
  }

  private complete(i: number): SnapshotFrame | undefined {
    const slot = this.slots[i];
    const partCount = this.ring.partCount(i);
    const f = slot.frame;
    let count: number;
    if (partCount === 1) count = slot.rows[0];
    else {
      let sum = 0;
      for (let p = 0; p < partCount; p++) sum += slot.rows[p];
      count = slot.totalCount;
      let ok = sum === count;
      for (let k = 1; ok && k < count; k++) if (f.ids[k] <= f.ids[k - 1]) ok = false;
      if (!ok) {
        this.free(i);
        throw new DecodeError('parts', 0, 'parts do not tile the snapshot');
      }
    }
    f.count = count;
    f.tick = this.ring.tick(i);
    f.complete = true;
    this.ring.complete(i);
    this.counters.completed++;
    return f;
  }

  /**
   * The display frame of an incomplete snapshot: decoded parts in id order, the id ranges of
   * missing parts extrapolated from the baseline (or, for a full snapshot, from the newest
   * complete frame before it).
   */
  private buildDisplay(i: number): SnapshotFrame {
    const ring = this.ring;
    const slot = this.slots[i];
    const tick = ring.tick(i);
    let src: SnapshotFrame | undefined;
    if (ring.kind(i) === SnapshotKind.Delta) src = this.get(ring.baselineTick(i));
    else {
      const b = ring.newestCompleteBefore(tick);
      if (b >= 0) src = this.slots[b].frame;
    }
    const disp = slot.display ?? (slot.display = new SnapshotFrame(this.schema, slot.frame.capacity));
    const partCount = ring.partCount(i);
    let n = 0;
    for (let p = 0; p < partCount; p++) {
      if (!ring.hasPart(i, p)) continue;
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
      if (src && cursor < slot.idLo[p]) o = extrapolateRange(this.layout, src, cursor, slot.idLo[p], tick, disp, o);
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
    if (src && cursor < this.schema.maxEntities) o = extrapolateRange(this.layout, src, cursor, this.schema.maxEntities, tick, disp, o);
    disp.count = o;
    disp.tick = tick;
    disp.complete = false;
    slot.displayParts = ring.partsReceived(i);
    return disp;
  }
}
