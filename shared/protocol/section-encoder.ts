// The snapshot entity-section writer: plans a frame against a baseline (SectionPlanner), then writes
// each planned part as a packet, header and records, into one preallocated BitWriter.
import type { BitWriter } from './bits.ts';
import type { NetSchema } from './schema.ts';
import { ItemKind, SectionPlanner } from './section-planner.ts';
import {
  FieldWriter, REMOVED, CREATED, UPDATED, ageBits, newPartPlacement, serializeOrders, serializePlacement, writeCount,
} from './section-records.ts';
import {
  MAX_BASELINE_AGE_TICKS, MAX_SNAPSHOT_PARTS, SnapshotKind, snapshotHeaderBytes, snapshotLayout, writeSnapshotHeader,
  type SnapshotFrame, type SnapshotLayout,
} from './snapshot.ts';

// The per-entity loops read module-local copies (an imported binding is loaded through its module cell at every use).
const { Same: ITEM_SAME, Updated: ITEM_UPDATED, Created: ITEM_CREATED, Removed: ITEM_REMOVED } = ItemKind;

/** Where an encoded section's packets are: byte ranges of the section writer's buffer. */
export class SectionParts {
  /** Parts in this section. */
  count = 0;
  /** Snapshot kind of every part. */
  kind: number = SnapshotKind.Full;
  /** Tick of the frame encoded. */
  tick = 0;
  /** Baseline tick (-1 for a full snapshot). */
  baselineTick = -1;
  /** Byte offset of each packet (its header) in the writer's buffer. */
  readonly start = new Uint32Array(MAX_SNAPSHOT_PARTS);
  /** Byte offset just past each packet. */
  readonly end = new Uint32Array(MAX_SNAPSHOT_PARTS);
  /** Entities per part (rows of the target frame), for statistics. */
  readonly rows = new Uint32Array(MAX_SNAPSHOT_PARTS);
  /** Total packet bytes of the section. */
  bytes = 0;
}

/**
 * Encodes a target frame against a baseline (or against the empty frame: a full snapshot) into
 * packets of at most `maxPacketBytes`, headers included (per-client header fields left to patch).
 * All scratch is preallocated; encode() allocates nothing.
 */
export class SectionEncoder {
  readonly layout: SnapshotLayout;
  private readonly plan: SectionPlanner;
  private readonly fields = new FieldWriter();
  private readonly place = newPartPlacement();
  private readonly zeroHeader: Uint8Array;

  /**
   * @param schema the game's compiled schema
   * @param maxPacketBytes largest packet, header included (NetConfig.maxPacketBytes; default 1200)
   */
  constructor(schema: NetSchema, readonly maxPacketBytes = 1200) {
    this.layout = snapshotLayout(schema);
    this.plan = new SectionPlanner(this.layout, maxPacketBytes);
    this.zeroHeader = new Uint8Array(snapshotHeaderBytes(SnapshotKind.Delta));
  }

  /** Worst-case bits of one item (used to size buffers and check that any entity fits a packet). */
  get worstItemBits(): number {
    return this.plan.worstItemBits;
  }

  /** Bytes a section writer needs for the worst case of this schema. */
  sectionCapacityBytes(): number {
    const hdr = snapshotHeaderBytes(SnapshotKind.Delta);
    const overhead = this.plan.overheadBits;
    const worst = this.plan.worstItemBits;
    const budgetBits = (this.maxPacketBytes - hdr) * 8 - overhead;
    const totalBits = worst * this.plan.capacityItems;
    const parts = Math.min(MAX_SNAPSHOT_PARTS, Math.ceil(totalBits / Math.max(1, budgetBits - worst)) + 1);
    return Math.min(parts * this.maxPacketBytes, Math.ceil(totalBits / 8) + parts * (hdr + Math.ceil(overhead / 8) + 1)) + this.maxPacketBytes;
  }

  /**
   * Encodes `target` against `base` (null = full snapshot) into `w` (reset first) and records the
   * packets in `out`. Packet headers are complete except the per-client fields (input ack), which
   * the caller patches per client (patchSnapshotClientFields) before sending.
   */
  encode(target: SnapshotFrame, base: SnapshotFrame | null, w: BitWriter, out: SectionParts): void {
    const kind = base ? SnapshotKind.Delta : SnapshotKind.Full;
    const dt = base ? target.tick - base.tick : 0;
    if (base && (dt <= 0 || dt > MAX_BASELINE_AGE_TICKS)) throw new RangeError(`baseline tick ${base.tick} unusable for tick ${target.tick}`);
    const plan = this.plan;
    plan.plan(target, base, dt, kind);
    w.reset();
    out.count = plan.partCount;
    out.kind = kind;
    out.tick = target.tick;
    out.baselineTick = base ? base.tick : -1;
    out.bytes = 0;
    for (let p = 0; p < plan.partCount; p++) {
      const start = w.byteLength();
      this.writePart(p, kind, target, base, dt, w);
      const end = w.byteLength();
      if (end - start > this.maxPacketBytes) throw new RangeError(`snapshot part of ${end - start} bytes exceeds maxPacketBytes ${this.maxPacketBytes}`);
      out.start[p] = start;
      out.end[p] = end;
      out.rows[p] = plan.pRows[p];
      out.bytes += end - start;
    }
  }

  /** Writes planned part `p`: packet header, part header, then the removed, created and updated lists. */
  private writePart(p: number, kind: number, T: SnapshotFrame, B: SnapshotFrame | null, dt: number, w: BitWriter): void {
    this.writeHeaders(p, kind, T, B, w);
    const plan = this.plan;
    const from = plan.pItemStart[p];
    const to = plan.pItemEnd[p];
    writeCount(w, REMOVED, plan.pRemoved[p]);
    if (plan.pRemoved[p] > 0) this.writeRemovals(from, to, B ? B.lowerBound(plan.pIdLo[p]) - 1 : -1, w);
    writeCount(w, CREATED, plan.pCreated[p]);
    if (plan.pCreated[p] > 0) this.writeCreations(from, to, plan.pIdLo[p] - 1, T, w);
    writeCount(w, UPDATED, plan.pUpdated[p]);
    if (plan.pUpdated[p] > 0) this.writeUpdates(from, to, dt, T, w);
    w.alignToByte();
  }

  /** The packet header (per-client fields zero) and the part header: placement and orders. */
  private writeHeaders(p: number, kind: number, T: SnapshotFrame, B: SnapshotFrame | null, w: BitWriter): void {
    const plan = this.plan;
    const at = w.byteLength();
    w.writeBytes(this.zeroHeader.subarray(0, snapshotHeaderBytes(kind)));
    writeSnapshotHeader(w.bytes, kind, T.tick, 0, false, p, plan.partCount, B ? B.tick : -1, at);
    const place = this.place;
    place.totalCount = T.count;
    place.rowStart = plan.pRowStart[p];
    place.idLo = plan.pIdLo[p];
    place.idHi = plan.pIdHi[p];
    serializePlacement(this.fields.to(w), this.layout, plan.partCount, place);
    serializeOrders(this.fields, this.layout, plan.orders);
  }

  /** Removed records of items [from, to): baseline rows as gaps, from row `last` + 1. */
  private writeRemovals(from: number, to: number, last: number, w: BitWriter): void {
    const plan = this.plan;
    const rec = plan.rec;
    for (let it = from; it < to; it++) {
      if (plan.iKind[it] !== ITEM_REMOVED) continue;
      rec.writeRemoved(w, plan.iBRow[it] - last - 1);
      last = plan.iBRow[it];
    }
  }

  /** Created records of items [from, to): id gaps from `lastId` + 1, then every present slot. */
  private writeCreations(from: number, to: number, lastId: number, T: SnapshotFrame, w: BitWriter): void {
    const plan = this.plan;
    const rec = plan.rec;
    const ns = this.layout.ns;
    for (let it = from; it < to; it++) {
      if (plan.iKind[it] !== ITEM_CREATED) continue;
      rec.writeCreated(w, plan.orders, plan.iId[it] - lastId - 1, T.masks[plan.iRow[it]], plan.sMode, plan.sVal, it * ns);
      lastId = plan.iId[it];
    }
  }

  /** Updated records of items [from, to): run lengths of unchanged kept entities, then each changed record. */
  private writeUpdates(from: number, to: number, dt: number, T: SnapshotFrame, w: BitWriter): void {
    const plan = this.plan;
    const rec = plan.rec;
    const orders = plan.orders;
    const ns = this.layout.ns;
    const aBits = ageBits(dt);
    let kept = 0;
    let prev = -1;
    for (let it = from; it < to; it++) {
      const kindIt = plan.iKind[it];
      if (kindIt === ITEM_SAME) {
        kept++;
        continue;
      }
      if (kindIt !== ITEM_UPDATED) continue;
      rec.writeSkip(w, orders, kept);
      kept = 0;
      const sb = it * ns;
      rec.writeUpdateHeader(w, prev >= 0 && plan.repeatsHeader(it, prev), plan.iMaskChanged[it], T.masks[plan.iRow[it]], plan.sFlag, sb);
      prev = it;
      rec.writeUpdateBody(w, orders, aBits, plan.iHasRate[it], plan.iAge[it], plan.sMode, plan.sVal, sb);
    }
  }
}
