// The snapshot entity-section codec: encodes a frame against a baseline frame (or the empty frame,
// for a full snapshot) with extrapolation by per-tick rates, run-length coded unchanged entities and
// explicit creations and removals, split into MTU-sized parts that each decode alone.
// The layout is documented bit by bit in PROTOCOL.md (## Snapshots).
import { BitReader, BitWriter, bitsFor, unzigzag, zigzag } from './bits.ts';
import { DecodeError } from './errors.ts';
import { egBits, readEG, writeEG } from './exp-golomb.ts';
import { Coding, FieldTables } from './field-tables.ts';
import type { NetSchema } from './schema.ts';
import {
  MAX_BASELINE_AGE_TICKS, MAX_SNAPSHOT_PARTS, SNAPSHOT_HEADER, SnapshotFrame, SnapshotKind, snapshotHeaderBytes, snapshotLayout, writeSnapshotHeader,
  type SnapshotLayout, type SnapshotPacketHeader,
} from './snapshot.ts';

export { MAX_EG_PREFIX, egBits, readEG, writeEG } from './exp-golomb.ts';
export { residualK } from './field-tables.ts';

/** Largest age (ticks since a rate change) a record can state. */
export const MAX_RATE_AGE = 63;
/** Bits of an adaptive Exp-Golomb order written in a part header. */
const K_BITS = 3;
const K_CHOICES = 1 << K_BITS;
/** Fixed Exp-Golomb orders of counts and gaps. */
const K_COUNT_REMOVED = 0;
const K_COUNT_CREATED = 0;
const K_COUNT_UPDATED = 2;
const K_GAP_REMOVED = 2;
const K_GAP_CREATED = 0;

// Hot loops read module-local copies (an imported binding is loaded through its module cell at every use).
const { Flip: CODING_FLIP, Raw: CODING_RAW } = Coding;

/** Bits of the age field for a delta spanning `dtTicks`. */
export function ageBits(dtTicks: number): number {
  return bitsFor(Math.min(dtTicks, MAX_RATE_AGE));
}

/** Item kinds of the encoder's plan, in id order. */
const ITEM_SAME = 0;
const ITEM_UPDATED = 1;
const ITEM_CREATED = 2;
const ITEM_REMOVED = 3;

/** Slot code modes. */
const MODE_NONE = 0;
const MODE_RAW = 1;
const MODE_RES = 2;
const MODE_RATE = 3;
const MODE_FLIP = 4;

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
  private readonly t: FieldTables;
  private readonly maxItems: number;
  private nItems = 0;
  private readonly iKind: Uint8Array;
  private readonly iId: Int32Array;
  private readonly iRow: Int32Array;
  private readonly iBRow: Int32Array;
  private readonly iBody: Float64Array;
  private readonly iMaskChanged: Uint8Array;
  private readonly iHasRate: Uint8Array;
  private readonly iAge: Uint8Array;
  private readonly sFlag: Uint8Array;
  private readonly sMode: Uint8Array;
  private readonly sVal: Float64Array;
  private readonly rateK: Uint8Array;
  private skipK = 0;
  private readonly kCost: Float64Array;
  private readonly skipCost = new Float64Array(K_CHOICES);
  // Parts of the current plan.
  private partCount = 0;
  private readonly pItemStart = new Int32Array(MAX_SNAPSHOT_PARTS + 1);
  private readonly pItemEnd = new Int32Array(MAX_SNAPSHOT_PARTS + 1);
  private readonly pIdLo = new Int32Array(MAX_SNAPSHOT_PARTS + 1);
  private readonly pIdHi = new Int32Array(MAX_SNAPSHOT_PARTS + 1);
  private readonly pRowStart = new Int32Array(MAX_SNAPSHOT_PARTS + 1);
  private readonly pRows = new Int32Array(MAX_SNAPSHOT_PARTS + 1);
  private readonly pRemoved = new Int32Array(MAX_SNAPSHOT_PARTS + 1);
  private readonly pCreated = new Int32Array(MAX_SNAPSHOT_PARTS + 1);
  private readonly pUpdated = new Int32Array(MAX_SNAPSHOT_PARTS + 1);
  private readonly zeroHeader: Uint8Array;
  /** Worst-case bits of one item (used to size buffers and check that any entity fits a packet). */
  readonly worstItemBits: number;

  /**
   * @param schema the game's compiled schema
   * @param maxPacketBytes largest packet, header included (NetConfig.maxPacketBytes; default 1200)
   */
  constructor(schema: NetSchema, readonly maxPacketBytes = 1200) {
    this.layout = snapshotLayout(schema);
    this.t = new FieldTables(this.layout);
    const { ns, nr, nc } = this.layout;
    this.maxItems = 2 * schema.maxEntities;
    const n = this.maxItems;
    this.iKind = new Uint8Array(n);
    this.iId = new Int32Array(n);
    this.iRow = new Int32Array(n);
    this.iBRow = new Int32Array(n);
    this.iBody = new Float64Array(n);
    this.iMaskChanged = new Uint8Array(n);
    this.iHasRate = new Uint8Array(n);
    this.iAge = new Uint8Array(n);
    this.sFlag = new Uint8Array(n * ns);
    this.sMode = new Uint8Array(n * ns);
    this.sVal = new Float64Array(n * ns);
    this.rateK = new Uint8Array(nr);
    this.kCost = new Float64Array(Math.max(1, nr) * K_CHOICES);
    this.zeroHeader = new Uint8Array(snapshotHeaderBytes(SnapshotKind.Delta));
    let worstRates = 0;
    let worstValues = 0;
    for (let r = 0; r < nr; r++) worstRates += worstEG(2 * this.layout.q[this.layout.rateField[r]].maxQ);
    for (let f = 0; f < this.layout.nf; f++) worstValues += 1 + this.t.bits[f];
    const worstGap = worstEG(schema.maxEntities);
    const created = worstGap + nc + worstRates + worstValues;
    const updated = worstGap + 2 + nc + ns + bitsFor(MAX_RATE_AGE) + worstRates + worstValues;
    this.worstItemBits = Math.max(created, updated);
    const budget = (maxPacketBytes - snapshotHeaderBytes(SnapshotKind.Delta)) * 8 - this.fixedPartBits();
    if (this.worstItemBits > budget) {
      throw new RangeError(`maxPacketBytes ${maxPacketBytes} cannot hold one entity of this schema (worst case ${Math.ceil(this.worstItemBits / 8)} bytes plus headers)`);
    }
  }

  /** Bytes a section writer needs for the worst case of this schema. */
  sectionCapacityBytes(): number {
    const hdr = snapshotHeaderBytes(SnapshotKind.Delta);
    const budgetBits = (this.maxPacketBytes - hdr) * 8 - this.fixedPartBits();
    const totalBits = this.worstItemBits * this.maxItems;
    const parts = Math.min(MAX_SNAPSHOT_PARTS, Math.ceil(totalBits / Math.max(1, budgetBits - this.worstItemBits)) + 1);
    return Math.min(parts * this.maxPacketBytes, Math.ceil(totalBits / 8) + parts * (hdr + Math.ceil(this.fixedPartBits() / 8) + 1)) + this.maxPacketBytes;
  }

  /** Part overhead besides the header, upper bound: meta, Exp-Golomb orders, three counts. */
  private fixedPartBits(): number {
    const { countBits, idBits, nr } = this.layout;
    const maxCount = this.layout.schema.maxEntities;
    return 3 * countBits + idBits + K_BITS * (1 + nr) + worstEG(maxCount) * 3;
  }

  /**
   * Encodes `target` against `base` (null = full snapshot) into `w` (reset first) and records the
   * packets in `out`. Packet headers are complete except the per-client fields (input ack), which
   * the caller patches per client (patchSnapshotClientFields) before sending.
   */
  encode(target: SnapshotFrame, base: SnapshotFrame | null, w: BitWriter, out: SectionParts): void {
    const kind = base ? SnapshotKind.Delta : SnapshotKind.Full;
    const dt = base ? target.tick - base.tick : 0;
    this.target = target;
    if (base && (dt <= 0 || dt > MAX_BASELINE_AGE_TICKS)) throw new RangeError(`baseline tick ${base.tick} unusable for tick ${target.tick}`);
    this.analyze(target, base, dt);
    this.chooseOrders();
    this.partition(kind);
    w.reset();
    out.count = this.partCount;
    out.kind = kind;
    out.tick = target.tick;
    out.baselineTick = base ? base.tick : -1;
    out.bytes = 0;
    for (let p = 0; p < this.partCount; p++) {
      const start = w.byteLength();
      this.writePart(p, kind, target, base, dt, w);
      const end = w.byteLength();
      if (end - start > this.maxPacketBytes) throw new RangeError(`snapshot part of ${end - start} bytes exceeds maxPacketBytes ${this.maxPacketBytes}`);
      out.start[p] = start;
      out.end[p] = end;
      out.rows[p] = this.pRows[p];
      out.bytes += end - start;
    }
  }

  // ---- phase 1: compare target with base, in id order ----

  private analyze(T: SnapshotFrame, B: SnapshotFrame | null, dt: number): void {
    this.kCost.fill(0);
    let n = 0;
    let i = 0;
    let j = 0;
    const bc = B ? B.count : 0;
    const tc = T.count;
    while (i < bc || j < tc) {
      const idB = i < bc ? (B as SnapshotFrame).ids[i] : 0x7fffffff;
      const idT = j < tc ? T.ids[j] : 0x7fffffff;
      if (idB < idT) {
        this.iKind[n] = ITEM_REMOVED;
        this.iId[n] = idB;
        this.iBRow[n] = i;
        this.iRow[n] = -1;
        this.iBody[n] = 0;
        i++;
      } else if (idT < idB) {
        this.analyzeCreated(T, j, n);
        j++;
      } else {
        this.analyzeKept(T, j, B as SnapshotFrame, i, dt, n);
        i++;
        j++;
      }
      n++;
    }
    // Rate codes are added to iBody once their Exp-Golomb orders are known (chooseOrders).
    this.nItems = n;
  }

  private analyzeCreated(T: SnapshotFrame, j: number, it: number): void {
    const { nr, nf, ns, nc, slotComp } = this.layout;
    const t = this.t;
    const mask = T.masks[j];
    this.iKind[it] = ITEM_CREATED;
    this.iId[it] = T.ids[j];
    this.iRow[it] = j;
    this.iBRow[it] = -1;
    const sb = it * ns;
    let body = nc;
    for (let r = 0; r < nr; r++) {
      if ((mask >>> slotComp[r]) & 1) {
        const u = zigzag(T.rates[j * nr + r]);
        this.sMode[sb + r] = MODE_RATE;
        this.sVal[sb + r] = u;
        this.addRateCost(r, u);
      } else this.sMode[sb + r] = MODE_NONE;
    }
    for (let f = 0; f < nf; f++) {
      if ((mask >>> t.comp[f]) & 1) {
        this.sMode[sb + nr + f] = MODE_RAW;
        this.sVal[sb + nr + f] = T.values[j * nf + f];
        body += t.bits[f];
      } else this.sMode[sb + nr + f] = MODE_NONE;
    }
    this.iBody[it] = body;
  }

  private analyzeKept(T: SnapshotFrame, j: number, B: SnapshotFrame, i: number, dt: number, it: number): void {
    const { nr, nf, ns, slotComp, rateField } = this.layout;
    const t = this.t;
    const maskB = B.masks[i];
    const maskT = T.masks[j];
    this.iId[it] = T.ids[j];
    this.iRow[it] = j;
    this.iBRow[it] = i;
    const sb = it * ns;
    let changed = maskB !== maskT;
    this.iMaskChanged[it] = changed ? 1 : 0;
    let rateChanged = false;
    for (let r = 0; r < nr; r++) {
      const present = (maskT >>> slotComp[r]) & 1;
      const rt = T.rates[j * nr + r];
      if (present && rt !== B.rates[i * nr + r]) {
        this.sFlag[sb + r] = 1;
        rateChanged = true;
      } else this.sFlag[sb + r] = 0;
    }
    let age = 0;
    if (rateChanged) {
      // Pick the age (ticks the new rate has applied) that makes the rated values cheapest.
      const maxAge = Math.min(dt, MAX_RATE_AGE);
      let best = Infinity;
      for (let a = 0; a <= maxAge && best > 0; a++) {
        let cost = 0;
        for (let r = 0; r < nr; r++) {
          const f = rateField[r];
          if (!((maskT >>> slotComp[r]) & 1)) continue;
          const pred = B.values[i * nf + f] + B.rates[i * nr + r] * (dt - a) + T.rates[j * nr + r] * a;
          const actual = T.values[j * nf + f];
          if (actual !== pred) cost += this.valueBits(f, actual, pred);
        }
        if (cost < best) {
          best = cost;
          age = a;
        }
      }
    }
    this.iHasRate[it] = rateChanged ? 1 : 0;
    this.iAge[it] = age;
    let body = rateChanged ? ageBits(dt) : 0;
    for (let r = 0; r < nr; r++) {
      if (this.sFlag[sb + r]) {
        const u = zigzag(T.rates[j * nr + r]);
        this.sMode[sb + r] = MODE_RATE;
        this.sVal[sb + r] = u;
        this.addRateCost(r, u);
      } else this.sMode[sb + r] = MODE_NONE;
    }
    for (let f = 0; f < nf; f++) {
      const s = sb + nr + f;
      this.sFlag[s] = 0;
      this.sMode[s] = MODE_NONE;
      if (!((maskT >>> t.comp[f]) & 1)) continue;
      const actual = T.values[j * nf + f];
      const r = this.layout.rateOfField[f];
      const pred = r >= 0
        ? B.values[i * nf + f] + B.rates[i * nr + r] * (dt - age) + T.rates[j * nr + r] * age
        : B.values[i * nf + f];
      if (actual === pred) continue;
      changed = true;
      this.sFlag[s] = 1;
      const coding = t.coding[f];
      if (coding === CODING_FLIP) {
        this.sMode[s] = MODE_FLIP;
      } else if (coding === CODING_RAW) {
        this.sMode[s] = MODE_RAW;
        this.sVal[s] = actual;
        body += t.bits[f];
      } else {
        const u = zigzag(t.residual(f, actual, pred)) - 1;
        const eg = egBits(u, t.kRes[f]);
        if (eg < t.bits[f]) {
          this.sMode[s] = MODE_RES;
          this.sVal[s] = u;
          body += 1 + eg;
        } else {
          this.sMode[s] = MODE_RAW;
          this.sVal[s] = actual;
          body += 1 + t.bits[f];
        }
      }
    }
    if (rateChanged) changed = true;
    this.iKind[it] = changed ? ITEM_UPDATED : ITEM_SAME;
    this.iBody[it] = body;
  }

  /** Bits of a changed value field (excluding its change flag). */
  private valueBits(f: number, actual: number, pred: number): number {
    const t = this.t;
    const coding = t.coding[f];
    if (coding === CODING_FLIP) return 0;
    if (coding === CODING_RAW) return t.bits[f];
    const u = zigzag(t.residual(f, actual, pred)) - 1;
    return 1 + Math.min(egBits(u, t.kRes[f]), t.bits[f]);
  }

  private addRateCost(r: number, u: number): void {
    const base = r * K_CHOICES;
    for (let k = 0; k < K_CHOICES; k++) this.kCost[base + k] += egBits(u, k);
  }

  // ---- phase 1b: adaptive Exp-Golomb orders for rates and skips ----

  private chooseOrders(): void {
    const { nr, ns } = this.layout;
    for (let r = 0; r < nr; r++) {
      let best = 0;
      for (let k = 1; k < K_CHOICES; k++) if (this.kCost[r * K_CHOICES + k] < this.kCost[r * K_CHOICES + best]) best = k;
      this.rateK[r] = best;
    }
    this.skipCost.fill(0);
    let kept = 0;
    for (let it = 0; it < this.nItems; it++) {
      const kind = this.iKind[it];
      if (kind === ITEM_SAME) kept++;
      else if (kind === ITEM_UPDATED) {
        for (let k = 0; k < K_CHOICES; k++) this.skipCost[k] += egBits(kept, k);
        kept = 0;
      }
      if (kind === ITEM_CREATED || kind === ITEM_UPDATED) {
        const sb = it * ns;
        let add = 0;
        for (let r = 0; r < nr; r++) if (this.sMode[sb + r] === MODE_RATE) add += egBits(this.sVal[sb + r], this.rateK[r]);
        this.iBody[it] += add;
      }
    }
    let best = 0;
    for (let k = 1; k < K_CHOICES; k++) if (this.skipCost[k] < this.skipCost[best]) best = k;
    this.skipK = best;
  }

  // ---- phase 2: split into parts by bytes ----

  /** Bits of an updated record's header: repeat bit, or mask-change bit, mask and change flags. */
  private recordHeaderBits(it: number, prev: number): number {
    if (prev >= 0 && this.sameHeader(it, prev)) return 1;
    const { ns, nc, slotComp } = this.layout;
    const mask = (this.target as SnapshotFrame).masks[this.iRow[it]];
    let bits = 2 + (this.iMaskChanged[it] ? nc : 0);
    for (let s = 0; s < ns; s++) if ((mask >>> slotComp[s]) & 1) bits++;
    return bits;
  }

  private target: SnapshotFrame | null = null;

  private sameHeader(a: number, b: number): boolean {
    if (this.iMaskChanged[a] !== this.iMaskChanged[b]) return false;
    const T = this.target as SnapshotFrame;
    if (this.iMaskChanged[a] && T.masks[this.iRow[a]] !== T.masks[this.iRow[b]]) return false;
    const ns = this.layout.ns;
    const sa = a * ns;
    const sb = b * ns;
    for (let s = 0; s < ns; s++) if (this.sFlag[sa + s] !== this.sFlag[sb + s]) return false;
    return true;
  }

  private partition(kind: number): void {
    const budget = (this.maxPacketBytes - snapshotHeaderBytes(kind)) * 8;
    const fixed = this.fixedPartBits();
    const maxEntities = this.layout.schema.maxEntities;
    let p = 0;
    let bits = fixed;
    let kept = 0;
    let prevUpd = -1;
    let lastRemoved = -1;
    let lastCreatedId = -1;
    let rows = 0;
    let totalRows = 0;
    let totalBRows = 0;
    const open = (it: number, idLo: number): void => {
      this.pItemStart[p] = it;
      this.pIdLo[p] = idLo;
      this.pRowStart[p] = totalRows;
      this.pRemoved[p] = 0;
      this.pCreated[p] = 0;
      this.pUpdated[p] = 0;
      bits = fixed;
      kept = 0;
      prevUpd = -1;
      lastRemoved = totalBRows - 1;
      lastCreatedId = idLo - 1;
      rows = 0;
    };
    const close = (it: number, idHi: number): void => {
      this.pItemEnd[p] = it;
      this.pIdHi[p] = idHi;
      this.pRows[p] = rows;
      p++;
    };
    open(0, 0);
    for (let it = 0; it < this.nItems; it++) {
      let cost = this.itemCost(it, kept, prevUpd, lastRemoved, lastCreatedId);
      if (bits + cost > budget && bits > fixed) {
        if (p + 1 >= MAX_SNAPSHOT_PARTS) throw new RangeError(`snapshot needs more than ${MAX_SNAPSHOT_PARTS} parts; raise maxPacketBytes`);
        close(it, this.iId[it]);
        open(it, this.iId[it]);
        cost = this.itemCost(it, kept, prevUpd, lastRemoved, lastCreatedId);
      }
      bits += cost;
      const kindIt = this.iKind[it];
      if (kindIt === ITEM_SAME) {
        kept++;
        rows++;
      } else if (kindIt === ITEM_UPDATED) {
        kept = 0;
        prevUpd = it;
        this.pUpdated[p]++;
        rows++;
      } else if (kindIt === ITEM_CREATED) {
        lastCreatedId = this.iId[it];
        this.pCreated[p]++;
        rows++;
      } else {
        lastRemoved = this.iBRow[it];
        this.pRemoved[p]++;
      }
      if (kindIt !== ITEM_REMOVED) totalRows++;
      if (kindIt !== ITEM_CREATED) totalBRows++;
    }
    close(this.nItems, maxEntities);
    this.partCount = p;
  }

  private itemCost(it: number, kept: number, prevUpd: number, lastRemoved: number, lastCreatedId: number): number {
    switch (this.iKind[it]) {
      case ITEM_SAME:
        return 0;
      case ITEM_UPDATED:
        return egBits(kept, this.skipK) + this.recordHeaderBits(it, prevUpd) + this.iBody[it];
      case ITEM_CREATED:
        return egBits(this.iId[it] - lastCreatedId - 1, K_GAP_CREATED) + this.iBody[it];
      default:
        return egBits(this.iBRow[it] - lastRemoved - 1, K_GAP_REMOVED);
    }
  }

  // ---- phase 3: write the parts ----

  private writePart(p: number, kind: number, T: SnapshotFrame, B: SnapshotFrame | null, dt: number, w: BitWriter): void {
    const { nr, ns, nc, slotComp, countBits, idBits } = this.layout;
    const t = this.t;
    const hdrBytes = snapshotHeaderBytes(kind);
    const at = w.byteLength();
    w.writeBytes(this.zeroHeader.subarray(0, hdrBytes));
    writeSnapshotHeader(w.bytes, kind, T.tick, 0, false, p, this.partCount, B ? B.tick : -1, at);
    if (this.partCount > 1) {
      w.writeBits(T.count, countBits);
      w.writeBits(this.pRowStart[p], countBits);
      w.writeBits(this.pIdLo[p], idBits);
      w.writeBits(this.pIdHi[p], countBits);
    }
    w.writeBits(this.skipK, K_BITS);
    for (let r = 0; r < nr; r++) w.writeBits(this.rateK[r], K_BITS);
    const from = this.pItemStart[p];
    const to = this.pItemEnd[p];
    // Removals: B rows, as gaps.
    writeEG(w, this.pRemoved[p], K_COUNT_REMOVED);
    let last = -1;
    for (let it = from; it < to; it++) {
      if (this.iKind[it] !== ITEM_REMOVED) continue;
      if (last < 0) last = B ? B.lowerBound(this.pIdLo[p]) - 1 : -1;
      writeEG(w, this.iBRow[it] - last - 1, K_GAP_REMOVED);
      last = this.iBRow[it];
    }
    // Creations: ids as gaps, then every present slot.
    writeEG(w, this.pCreated[p], K_COUNT_CREATED);
    let lastId = this.pIdLo[p] - 1;
    for (let it = from; it < to; it++) {
      if (this.iKind[it] !== ITEM_CREATED) continue;
      writeEG(w, this.iId[it] - lastId - 1, K_GAP_CREATED);
      lastId = this.iId[it];
      const mask = T.masks[this.iRow[it]];
      w.writeBits(mask, nc);
      const sb = it * ns;
      for (let s = 0; s < ns; s++) {
        const mode = this.sMode[sb + s];
        if (mode === MODE_RATE) writeEG(w, this.sVal[sb + s], this.rateK[s]);
        else if (mode === MODE_RAW) w.writeBits(this.sVal[sb + s], t.bits[s - nr]);
      }
    }
    // Updates: run lengths of unchanged kept entities, then each changed record.
    writeEG(w, this.pUpdated[p], K_COUNT_UPDATED);
    let kept = 0;
    let prev = -1;
    const aBits = ageBits(dt);
    for (let it = from; it < to; it++) {
      const kindIt = this.iKind[it];
      if (kindIt === ITEM_SAME) {
        kept++;
        continue;
      }
      if (kindIt !== ITEM_UPDATED) continue;
      writeEG(w, kept, this.skipK);
      kept = 0;
      const sb = it * ns;
      if (prev >= 0 && this.sameHeader(it, prev)) w.writeBits(1, 1);
      else {
        w.writeBits(0, 1);
        const mask = T.masks[this.iRow[it]];
        w.writeBits(this.iMaskChanged[it], 1);
        if (this.iMaskChanged[it]) w.writeBits(mask, nc);
        for (let s = 0; s < ns; s++) if ((mask >>> slotComp[s]) & 1) w.writeBits(this.sFlag[sb + s], 1);
      }
      prev = it;
      if (this.iHasRate[it]) w.writeBits(this.iAge[it], aBits);
      for (let s = 0; s < ns; s++) {
        if (!this.sFlag[sb + s]) continue;
        const mode = this.sMode[sb + s];
        if (mode === MODE_RATE) writeEG(w, this.sVal[sb + s], this.rateK[s]);
        else if (mode === MODE_FLIP) continue;
        else if (t.coding[s - nr] === CODING_RAW) w.writeBits(this.sVal[sb + s], t.bits[s - nr]);
        else if (mode === MODE_RES) {
          w.writeBits(0, 1);
          writeEG(w, this.sVal[sb + s], t.kRes[s - nr]);
        } else {
          w.writeBits(1, 1);
          w.writeBits(this.sVal[sb + s], t.bits[s - nr]);
        }
      }
    }
    w.alignToByte();
  }
}

/** Worst Exp-Golomb length over the adaptive orders for values up to `maxU`. */
function worstEG(maxU: number): number {
  let worst = 0;
  for (let k = 0; k < K_CHOICES; k++) worst = Math.max(worst, egBits(maxU, k));
  return worst;
}

/** What decodePart learned about a part's place in the whole snapshot. */
export interface PartPlacement {
  /** Entities in the whole snapshot (-1 for a single-part snapshot: equal to rows). */
  totalCount: number;
  /** Row of the target frame where this part's entities start. */
  rowStart: number;
  /** Entity ids this part covers: [idLo, idHi). */
  idLo: number;
  idHi: number;
  /** Entities decoded (rows written). */
  rows: number;
}

/** Fresh placement record. */
export function newPartPlacement(): PartPlacement {
  return { totalCount: -1, rowStart: 0, idLo: 0, idHi: 0, rows: 0 };
}

/**
 * Decodes snapshot parts into frames. Scratch is preallocated and grows with the largest part
 * seen; a decode allocates nothing in steady state. Hostile bytes raise DecodeError naming the field.
 */
export class SectionDecoder {
  readonly layout: SnapshotLayout;
  private readonly t: FieldTables;
  private readonly r = new BitReader();
  private readonly created: SnapshotFrame;
  private removed: Int32Array;
  private readonly prevFlags: Uint8Array;
  private readonly rateK: Uint8Array;
  private readonly rateMax: Float64Array;

  constructor(schema: NetSchema) {
    this.layout = snapshotLayout(schema);
    this.t = new FieldTables(this.layout);
    this.created = new SnapshotFrame(schema, 64);
    this.removed = new Int32Array(64);
    this.prevFlags = new Uint8Array(this.layout.ns);
    this.rateK = new Uint8Array(this.layout.nr);
    this.rateMax = new Float64Array(this.layout.nr);
    for (let r = 0; r < this.layout.nr; r++) this.rateMax[r] = this.layout.q[this.layout.rateField[r]].maxQ;
  }

  /**
   * Reads just the placement of a part (multi-part meta; a single part covers everything) without
   * decoding entities. Throws DecodeError when malformed.
   */
  readPlacement(bytes: Uint8Array, h: SnapshotPacketHeader, out: PartPlacement): PartPlacement {
    const r = this.r.reset(bytes, h.bodyOffset);
    this.readMeta(r, h, out);
    return out;
  }

  private readMeta(r: BitReader, h: SnapshotPacketHeader, out: PartPlacement): void {
    const { countBits, idBits } = this.layout;
    const maxEntities = this.layout.schema.maxEntities;
    if (h.partCount > 1) {
      out.totalCount = r.readRange(countBits, 0, maxEntities, 'part.totalCount');
      out.rowStart = r.readRange(countBits, 0, out.totalCount, 'part.rowStart');
      out.idLo = r.readRange(idBits, 0, maxEntities - 1, 'part.idLo');
      out.idHi = r.readRange(countBits, out.idLo + 1, maxEntities, 'part.idHi');
    } else {
      out.totalCount = -1;
      out.rowStart = 0;
      out.idLo = 0;
      out.idHi = maxEntities;
    }
    out.rows = 0;
  }

  /**
   * Decodes one part into rows [rowStart, rowStart + rows) of `out`, against `base` (null for a
   * full snapshot; a delta's base must be the frame of h.baselineTick). `rowLimit` bounds the rows
   * this part may write (so a hostile part cannot overwrite rows of parts already decoded). Does
   * not set out.count or out.tick. Reads to exhaustion.
   */
  decodePart(bytes: Uint8Array, h: SnapshotPacketHeader, base: SnapshotFrame | null, out: SnapshotFrame, rowLimit: number, place: PartPlacement): void {
    const { nr, nf, nc, ns, slotComp } = this.layout;
    const t = this.t;
    const r = this.r.reset(bytes, h.bodyOffset);
    if ((h.kind === SnapshotKind.Delta) !== (base !== null)) throw new DecodeError('kind', SNAPSHOT_HEADER.kind.offset, 'baseline does not match the snapshot kind');
    if (base && base.tick !== h.baselineTick) throw new DecodeError('baselineAge', SNAPSHOT_HEADER.baselineAge.offset, 'wrong baseline frame');
    const dt = base ? h.tick - base.tick : 0;
    this.readMeta(r, h, place);
    const { idLo, idHi, rowStart } = place;
    const skipK = r.readBits(K_BITS, 'part.skipK');
    for (let k = 0; k < nr; k++) this.rateK[k] = r.readBits(K_BITS, 'part.rateK');
    const bLo = base ? base.lowerBound(idLo) : 0;
    const bHi = base ? base.lowerBound(idHi) : 0;
    // Removals.
    const nRem = readCount(r, K_COUNT_REMOVED, bHi - bLo, 'removed.count');
    if (this.removed.length < nRem) this.removed = new Int32Array(Math.max(nRem, this.removed.length * 2));
    let last = bLo - 1;
    for (let k = 0; k < nRem; k++) {
      const row = last + 1 + readCount(r, K_GAP_REMOVED, bHi - last - 2, 'removed.gap');
      this.removed[k] = row;
      last = row;
    }
    // Creations.
    const nCre = readCount(r, K_COUNT_CREATED, idHi - idLo, 'created.count');
    const cr = this.created;
    cr.ensureCapacity(nCre);
    let lastId = idLo - 1;
    for (let k = 0; k < nCre; k++) {
      const id = lastId + 1 + readCount(r, K_GAP_CREATED, idHi - lastId - 2, 'created.id');
      lastId = id;
      cr.ids[k] = id;
      const mask = r.readBits(nc, 'created.mask');
      cr.masks[k] = mask;
      for (let q = 0; q < nr; q++) {
        cr.rates[k * nr + q] = (mask >>> slotComp[q]) & 1 ? this.readRate(r, q, 'created.rate') : 0;
      }
      for (let f = 0; f < nf; f++) {
        cr.values[k * nf + f] = (mask >>> t.comp[f]) & 1 ? r.readRange(t.bits[f], 0, t.maxQ[f], this.layout.schema.fields[f].field) : 0;
      }
    }
    const kept = bHi - bLo - nRem;
    const rows = kept + nCre;
    if (rowStart + rows > rowLimit) throw new DecodeError('part.rows', r.position(), `${rows} entities from row ${rowStart} overrun the snapshot (limit ${rowLimit})`);
    if (place.totalCount >= 0 && rowStart + rows > place.totalCount) throw new DecodeError('part.rows', r.position(), 'more entities than the snapshot holds');
    out.ensureCapacity(rowStart + rows);
    // Updates, merged with kept and created entities in id order.
    const nUpd = readCount(r, K_COUNT_UPDATED, kept, 'updated.count');
    let updLeft = nUpd;
    let skip = updLeft > 0 ? readEG(r, skipK, 'updated.skip') : -1;
    let havePrev = false;
    let prevMaskChanged = false;
    let prevMask = 0;
    const aBits = ageBits(dt);
    const maxAge = Math.min(dt, MAX_RATE_AGE);
    let o = rowStart;
    let ci = 0;
    let ri = 0;
    for (let b = bLo; b < bHi; b++) {
      if (ri < nRem && this.removed[ri] === b) {
        ri++;
        continue;
      }
      const B = base as SnapshotFrame;
      const id = B.ids[b];
      while (ci < nCre && cr.ids[ci] < id) this.copyCreated(ci++, out, o++);
      if (ci < nCre && cr.ids[ci] === id) throw new DecodeError('created.id', r.position(), `entity ${id} already exists in the baseline`);
      if (skip === 0) {
        // A changed entity: header (or repeat of the previous one), age, then flagged slots.
        let mask: number;
        let maskChanged: boolean;
        if (r.readBits(1, 'updated.repeat') === 1) {
          if (!havePrev) throw new DecodeError('updated.repeat', r.position() - 1, 'no previous record to repeat');
          maskChanged = prevMaskChanged;
          mask = maskChanged ? prevMask : B.masks[b];
        } else {
          maskChanged = r.readBits(1, 'updated.maskChanged') === 1;
          mask = maskChanged ? r.readBits(nc, 'updated.mask') : B.masks[b];
          for (let s = 0; s < ns; s++) this.prevFlags[s] = (mask >>> slotComp[s]) & 1 ? r.readBits(1, 'updated.flags') : 0;
          havePrev = true;
          prevMaskChanged = maskChanged;
          prevMask = mask;
        }
        const flags = this.prevFlags;
        let anyRate = false;
        for (let s = 0; s < ns; s++) {
          if (!flags[s]) continue;
          if (!((mask >>> slotComp[s]) & 1)) throw new DecodeError('updated.flags', r.position(), 'change flag on an absent component');
          if (s < nr) anyRate = true;
        }
        const age = anyRate ? r.readRange(aBits, 0, maxAge, 'updated.age') : 0;
        for (let q = 0; q < nr; q++) {
          out.rates[o * nr + q] = !((mask >>> slotComp[q]) & 1) ? 0 : flags[q] ? this.readRate(r, q, 'updated.rate') : B.rates[b * nr + q];
        }
        for (let f = 0; f < nf; f++) {
          let v = 0;
          if ((mask >>> t.comp[f]) & 1) {
            const q = this.layout.rateOfField[f];
            const pred = q >= 0 ? B.values[b * nf + f] + B.rates[b * nr + q] * (dt - age) + out.rates[o * nr + q] * age : B.values[b * nf + f];
            if (!flags[nr + f]) v = pred;
            else {
              const coding = t.coding[f];
              if (coding === CODING_FLIP) v = 1 - pred;
              else if (coding === CODING_RAW || r.readBits(1, 'updated.raw') === 1) v = r.readBits(t.bits[f], this.layout.schema.fields[f].field);
              else {
                const res = unzigzag(readEG(r, t.kRes[f], 'updated.residual') + 1);
                v = pred + res;
                if (t.wraps[f]) {
                  const m = t.maxQ[f] + 1;
                  v %= m;
                  if (v < 0) v += m;
                }
              }
            }
            if (!(v >= 0 && v <= t.maxQ[f])) throw new DecodeError(this.layout.schema.fields[f].field, r.position(), `value ${v} outside 0..${t.maxQ[f]}`);
          }
          out.values[o * nf + f] = v;
        }
        out.ids[o] = id;
        out.masks[o] = mask;
        updLeft--;
        skip = updLeft > 0 ? readEG(r, skipK, 'updated.skip') : -1;
      } else {
        this.extrapolate(B, b, dt, out, o, r);
        if (skip > 0) skip--;
      }
      o++;
    }
    while (ci < nCre) this.copyCreated(ci++, out, o++);
    if (updLeft > 0) throw new DecodeError('updated.skip', r.position(), `${updLeft} changed entities past the end of the part`);
    r.expectEnd('end');
    place.rows = o - rowStart;
  }

  private readRate(r: BitReader, q: number, field: string): number {
    const at = r.position();
    const v = unzigzag(readEG(r, this.rateK[q], field));
    if (!(v >= -this.rateMax[q] && v <= this.rateMax[q])) throw new DecodeError(field, at, `rate ${v} outside +-${this.rateMax[q]}`);
    return v;
  }

  private copyCreated(k: number, out: SnapshotFrame, o: number): void {
    const { nr, nf } = this.layout;
    const cr = this.created;
    out.ids[o] = cr.ids[k];
    out.masks[o] = cr.masks[k];
    for (let f = 0; f < nf; f++) out.values[o * nf + f] = cr.values[k * nf + f];
    for (let q = 0; q < nr; q++) out.rates[o * nr + q] = cr.rates[k * nr + q];
  }

  private extrapolate(B: SnapshotFrame, b: number, dt: number, out: SnapshotFrame, o: number, r: BitReader): void {
    const { nr, nf, rateField } = this.layout;
    out.ids[o] = B.ids[b];
    out.masks[o] = B.masks[b];
    for (let f = 0; f < nf; f++) out.values[o * nf + f] = B.values[b * nf + f];
    for (let q = 0; q < nr; q++) {
      const rate = B.rates[b * nr + q];
      out.rates[o * nr + q] = rate;
      if (rate === 0) continue;
      const f = rateField[q];
      const v = B.values[b * nf + f] + rate * dt;
      if (!(v >= 0 && v <= this.t.maxQ[f])) throw new DecodeError('extrapolated', r.position(), `entity ${B.ids[b]} extrapolates outside its field range`);
      out.values[o * nf + f] = v;
    }
  }
}

function readCount(r: BitReader, k: number, max: number, field: string): number {
  const at = r.position();
  const v = readEG(r, k, field);
  if (v > max) throw new DecodeError(field, at, `${v} exceeds ${Math.max(0, max)}`);
  return v;
}

/**
 * Extrapolates the rows of `src` with ids in [idLo, idHi) to `tick` into `out` from row `o` on,
 * clamping to each field's range (display only: used to fill parts of a snapshot that never
 * arrived). Returns the next free row.
 */
export function extrapolateRange(layout: SnapshotLayout, src: SnapshotFrame, idLo: number, idHi: number, tick: number, out: SnapshotFrame, o: number): number {
  const { nr, nf, rateField, q } = layout;
  const dt = tick - src.tick;
  const from = src.lowerBound(idLo);
  const to = src.lowerBound(idHi);
  out.ensureCapacity(o + (to - from));
  for (let b = from; b < to; b++, o++) {
    out.ids[o] = src.ids[b];
    out.masks[o] = src.masks[b];
    for (let f = 0; f < nf; f++) out.values[o * nf + f] = src.values[b * nf + f];
    for (let k = 0; k < nr; k++) {
      const rate = src.rates[b * nr + k];
      out.rates[o * nr + k] = rate;
      if (rate === 0 || dt <= 0) continue;
      const f = rateField[k];
      const v = src.values[b * nf + f] + rate * dt;
      out.values[o * nf + f] = v < 0 ? 0 : v > q[f].maxQ ? q[f].maxQ : v;
    }
  }
  return o;
}
