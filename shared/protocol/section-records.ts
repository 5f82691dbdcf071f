// The records of the snapshot entity section, each described once: the part header as one serializer
// that writes, reads or measures it; the removed, created and updated records and the slot codes as
// their bit cost, writer and reader side by side. PROTOCOL.md (## Snapshots) gives the same layout in prose.
import { bitsFor, unzigzag, zigzag, type BitReader, type BitWriter } from './bits.ts';
import { DecodeError } from './errors.ts';
import { egBits, readEG, writeEG } from './exp-golomb.ts';
import { Coding, fieldTables, type FieldTables } from './field-tables.ts';
import type { SnapshotFrame, SnapshotLayout } from './snapshot.ts';

/** Largest age (ticks since a rate change) a record can state. */
export const MAX_RATE_AGE = 63;
/** Bits of an adaptive Exp-Golomb order written in a part header. */
export const K_BITS = 3;
/** Adaptive Exp-Golomb orders a part header can state. */
export const K_CHOICES = 1 << K_BITS;

/** Bits of the age field for a delta spanning `dtTicks`. */
export function ageBits(dtTicks: number): number {
  return bitsFor(Math.min(dtTicks, MAX_RATE_AGE));
}

/** Worst Exp-Golomb length over the adaptive orders for values up to `maxU`. */
export function worstEG(maxU: number): number {
  let worst = 0;
  for (let k = 0; k < K_CHOICES; k++) worst = Math.max(worst, egBits(maxU, k));
  return worst;
}

/**
 * One of a part's three record lists, in wire order removed, created, updated: an Exp-Golomb count
 * (order countK), then each record led by its gap (order gapK; updates use the part's adaptive skipK).
 */
export interface RecordList {
  readonly countK: number;
  readonly gapK: number;
  /** Field names of the count and the gap, for DecodeError. */
  readonly count: string;
  readonly gap: string;
}

/** Removed baseline entities: gaps between their baseline rows. */
export const REMOVED: RecordList = { countK: 0, gapK: 2, count: 'removed.count', gap: 'removed.gap' };
/** Created entities: gaps between their ids, then record C. */
export const CREATED: RecordList = { countK: 0, gapK: 0, count: 'created.count', gap: 'created.id' };
/** Updated entities: run lengths of unchanged kept entities, then record U (the run lengths use the part's skipK: gapK -1). */
export const UPDATED: RecordList = { countK: 2, gapK: -1, count: 'updated.count', gap: 'updated.skip' };

/** Reads an Exp-Golomb value of order `k` and rejects it above `max`. */
function readBounded(r: BitReader, k: number, max: number, field: string): number {
  const at = r.position();
  const v = readEG(r, k, field);
  if (v > max) throw new DecodeError(field, at, `${v} exceeds ${Math.max(0, max)}`);
  return v;
}

/** Writes a record list's count. */
export function writeCount(w: BitWriter, list: RecordList, n: number): void {
  writeEG(w, n, list.countK);
}

/** Reads a record list's count, at most `max`. */
export function readCount(r: BitReader, list: RecordList, max: number): number {
  return readBounded(r, list.countK, max, list.count);
}

// ---- Part header: one serializer for writing, reading and measuring ----

/**
 * What the part header's serializer runs over (yojimbo's serialize-once): writing a field writes
 * `value` and returns it; reading returns the value read, rejected unless min <= value <= max;
 * measuring adds the width and returns `value`.
 */
export interface FieldStream {
  /** Writes, reads or measures one field of `bits` bits whose value lies in min..max; returns the value. */
  field(value: number, bits: number, min: number, max: number, name: string): number;
}

/** A FieldStream writing into a BitWriter; a value outside its range is our bug (RangeError). */
export class FieldWriter implements FieldStream {
  private w: BitWriter | null = null;

  /** Directs the following fields to `w`. */
  to(w: BitWriter): this {
    this.w = w;
    return this;
  }

  field(value: number, bits: number, min: number, max: number, name: string): number {
    if (!(value >= min && value <= max)) throw new RangeError(`${name} ${value} outside ${min}..${max}`);
    (this.w as BitWriter).writeBits(value, bits);
    return value;
  }
}

/** A FieldStream reading from a BitReader; out-of-range values raise DecodeError. */
export class FieldReader implements FieldStream {
  constructor(private readonly r: BitReader) {}

  field(_value: number, bits: number, min: number, max: number, name: string): number {
    return this.r.readRange(bits, min, max, name);
  }
}

/** A FieldStream that only adds up the bits. */
export class FieldCounter implements FieldStream {
  bits = 0;

  field(value: number, bits: number): number {
    this.bits += bits;
    return value;
  }
}

/** Where a part sits in the whole snapshot (the header's placement fields), plus the rows it decoded. */
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

/** The adaptive Exp-Golomb orders a part header states: of the update run lengths and of each rate slot. */
export class CodeOrders {
  skipK = 0;
  readonly rateK: Uint8Array;
  constructor(nr: number) {
    this.rateK = new Uint8Array(nr);
  }
}

/**
 * Serializes the placement fields of a part header: totalCount, rowStart, idLo, idHi, present only
 * when the snapshot has more than one part (one part covers every id). Resets `place.rows`.
 */
export function serializePlacement(s: FieldStream, layout: SnapshotLayout, partCount: number, place: PartPlacement): void {
  const { countBits, idBits } = layout;
  const maxEntities = layout.schema.maxEntities;
  if (partCount > 1) {
    place.totalCount = s.field(place.totalCount, countBits, 0, maxEntities, 'part.totalCount');
    place.rowStart = s.field(place.rowStart, countBits, 0, place.totalCount, 'part.rowStart');
    place.idLo = s.field(place.idLo, idBits, 0, maxEntities - 1, 'part.idLo');
    place.idHi = s.field(place.idHi, countBits, place.idLo + 1, maxEntities, 'part.idHi');
  } else {
    place.totalCount = -1;
    place.rowStart = 0;
    place.idLo = 0;
    place.idHi = maxEntities;
  }
  place.rows = 0;
}

/** Serializes the adaptive orders that follow the placement: skipK, then rateK of each rate slot. */
export function serializeOrders(s: FieldStream, layout: SnapshotLayout, orders: CodeOrders): void {
  orders.skipK = s.field(orders.skipK, K_BITS, 0, K_CHOICES - 1, 'part.skipK');
  for (let r = 0; r < layout.nr; r++) orders.rateK[r] = s.field(orders.rateK[r], K_BITS, 0, K_CHOICES - 1, 'part.rateK');
}

/** Upper bound of a part's bits besides its header and records: placement, orders and the three counts. */
export function partOverheadBits(layout: SnapshotLayout): number {
  const c = new FieldCounter();
  serializePlacement(c, layout, 2, newPartPlacement());
  serializeOrders(c, layout, new CodeOrders(layout.nr));
  return c.bits + 3 * worstEG(layout.schema.maxEntities);
}

// ---- Slot codes ----

/** Slot code modes: what the planner chose for a slot, and all the writer needs to write it. */
export const SlotMode = {
  /** Nothing is written (absent, or unchanged in record U). */
  None: 0,
  /** A rate: EG(rateK[r]) of zigzag(rate), the value held zigzagged. */
  Rate: 1,
  /** A flipped 1-bit value: nothing is written. */
  Flip: 2,
  /** The raw value at its width (record C; record U's 2..3-bit fields). */
  Raw: 3,
  /** Record U's general code, raw: a 1 bit, then the value at its width. */
  FlaggedRaw: 4,
  /** Record U's general code, residual: a 0 bit, then EG(kRes) of zigzag(residual) - 1, held as such. */
  Residual: 5,
} as const;

// Per-entity code reads module-local copies of shared constants: V8 loads an exported or imported
// binding through its module cell at every use, which costs several percent in these loops.
const { Rate: MODE_RATE, Flip: MODE_FLIP, Raw: MODE_RAW, FlaggedRaw: MODE_FLAGGED_RAW, Residual: MODE_RESIDUAL } = SlotMode;
const { Flip: CODING_FLIP, Raw: CODING_RAW } = Coding;
const { gapK: REMOVED_GAP_K, gap: REMOVED_GAP } = REMOVED;
const { gapK: CREATED_GAP_K, gap: CREATED_GAP } = CREATED;
const UPDATED_SKIP = UPDATED.gap;

// ---- The record formats of one layout ----

/**
 * The entity records of a layout's sections. Stateless (the orders of a part are passed in), so
 * one instance per layout serves every encoder and decoder; nothing here allocates.
 */
export class SectionRecords {
  readonly t: FieldTables;
  /** Bits of the record C mask. */
  readonly createdMaskBits: number;

  constructor(readonly layout: SnapshotLayout) {
    this.t = fieldTables(layout);
    this.createdMaskBits = layout.nc;
  }

  // -- removed record: the gap between baseline rows --

  /** Bits of a removed record. */
  removedBits(gap: number): number {
    return egBits(gap, REMOVED_GAP_K);
  }

  /** Writes a removed record. */
  writeRemoved(w: BitWriter, gap: number): void {
    writeEG(w, gap, REMOVED_GAP_K);
  }

  /** Reads a removed record's gap, at most `max`. */
  readRemoved(r: BitReader, max: number): number {
    return readBounded(r, REMOVED_GAP_K, max, REMOVED_GAP);
  }

  // -- slot codes --

  /**
   * The value record U predicts for a rated field: the baseline value `base` moved by its old rate
   * for dt - age ticks and by the new rate for the last `age` ticks (0: plain extrapolation).
   * Unflagged value slots take it; flagged ones code their difference from it.
   */
  predict(base: number, oldRate: number, newRate: number, dt: number, age: number): number {
    return base + oldRate * (dt - age) + newRate * age;
  }

  /** Bits of a rate slot's code for the zigzagged rate `u`. */
  rateBits(orders: CodeOrders, q: number, u: number): number {
    return egBits(u, orders.rateK[q]);
  }

  /** Reads a rate slot: the rate, rejected beyond the field's range. */
  readRate(r: BitReader, orders: CodeOrders, q: number, field: string): number {
    const at = r.position();
    const v = unzigzag(readEG(r, orders.rateK[q], field));
    const max = this.t.rateMax[q];
    if (!(v >= -max && v <= max)) throw new DecodeError(field, at, `rate ${v} outside +-${max}`);
    return v;
  }

  /**
   * Chooses the code of field `f`'s changed value in record U (predicted `pred`), stores its mode
   * and value at mode[s] and val[s], and returns its bits. flip: nothing; 2..3-bit: raw; general:
   * the cheaper of residual and raw.
   */
  chooseValue(f: number, actual: number, pred: number, mode: Uint8Array, val: Float64Array, s: number): number {
    const t = this.t;
    const coding = t.coding[f];
    if (coding === CODING_FLIP) {
      mode[s] = MODE_FLIP;
      return 0;
    }
    if (coding === CODING_RAW) {
      mode[s] = MODE_RAW;
      val[s] = actual;
      return t.bits[f];
    }
    const u = zigzagResidual(t, f, actual, pred);
    const eg = egBits(u, t.kRes[f]);
    if (eg < t.bits[f]) {
      mode[s] = MODE_RESIDUAL;
      val[s] = u;
      return 1 + eg;
    }
    mode[s] = MODE_FLAGGED_RAW;
    val[s] = actual;
    return 1 + t.bits[f];
  }

  /** Bits chooseValue would return, without storing the choice. */
  valueBits(f: number, actual: number, pred: number): number {
    const t = this.t;
    const coding = t.coding[f];
    if (coding === CODING_FLIP) return 0;
    if (coding === CODING_RAW) return t.bits[f];
    return 1 + Math.min(egBits(zigzagResidual(t, f, actual, pred), t.kRes[f]), t.bits[f]);
  }

  /** Writes slot `s`'s code as chosen (rate slots first, then value slots; None and Flip write nothing). */
  writeSlot(w: BitWriter, orders: CodeOrders, s: number, mode: number, val: number): void {
    const nr = this.layout.nr;
    switch (mode) {
      case MODE_RATE:
        writeEG(w, val, orders.rateK[s]);
        break;
      case MODE_RAW:
        w.writeBits(val, this.t.bits[s - nr]);
        break;
      case MODE_FLAGGED_RAW:
        w.writeBits(1, 1);
        w.writeBits(val, this.t.bits[s - nr]);
        break;
      case MODE_RESIDUAL:
        w.writeBits(0, 1);
        writeEG(w, val, this.t.kRes[s - nr]);
        break;
      default:
        break;
    }
  }

  /** Reads the code of field `f`'s changed value in record U and returns the value (not yet range-checked). */
  readValue(r: BitReader, f: number, pred: number): number {
    const t = this.t;
    const coding = t.coding[f];
    if (coding === CODING_FLIP) return 1 - pred;
    if (coding === CODING_RAW || r.readBits(1, 'updated.raw') === 1) return r.readBits(t.bits[f], t.names[f]);
    let v = pred + unzigzag(readEG(r, t.kRes[f], 'updated.residual') + 1);
    if (t.wraps[f]) {
      const m = t.maxQ[f] + 1;
      v %= m;
      if (v < 0) v += m;
    }
    return v;
  }

  // -- record C: id gap, mask, every present rate slot, every present value slot --

  /** Bits of a created record's id gap (its slots are costed by the planner as it chooses them). */
  createdGapBits(gap: number): number {
    return egBits(gap, CREATED_GAP_K);
  }

  /** Writes record C with the slot codes mode/val[sb..sb + ns). */
  writeCreated(w: BitWriter, orders: CodeOrders, gap: number, mask: number, mode: Uint8Array, val: Float64Array, sb: number): void {
    writeEG(w, gap, CREATED_GAP_K);
    w.writeBits(mask, this.layout.nc);
    for (let s = 0; s < this.layout.ns; s++) this.writeSlot(w, orders, s, mode[sb + s], val[sb + s]);
  }

  /** Reads record C after entity `lastId` (ids below `idHi`) into row `k` of `cr`; returns its id. */
  readCreated(r: BitReader, orders: CodeOrders, lastId: number, idHi: number, cr: SnapshotFrame, k: number): number {
    const { nr, nf, nc, slotComp } = this.layout;
    const t = this.t;
    const id = lastId + 1 + readBounded(r, CREATED_GAP_K, idHi - lastId - 2, CREATED_GAP);
    cr.ids[k] = id;
    const mask = r.readBits(nc, 'created.mask');
    cr.masks[k] = mask;
    for (let q = 0; q < nr; q++) cr.rates[k * nr + q] = (mask >>> slotComp[q]) & 1 ? this.readRate(r, orders, q, 'created.rate') : 0;
    for (let f = 0; f < nf; f++) cr.values[k * nf + f] = (mask >>> t.comp[f]) & 1 ? r.readRange(t.bits[f], 0, t.maxQ[f], t.names[f]) : 0;
    return id;
  }

  // -- record U: skip, header (or repeat), age, flagged slots --

  /** Bits of an update's skip (run of unchanged kept entities before it). */
  skipBits(orders: CodeOrders, kept: number): number {
    return egBits(kept, orders.skipK);
  }

  /** Writes an update's skip. */
  writeSkip(w: BitWriter, orders: CodeOrders, kept: number): void {
    writeEG(w, kept, orders.skipK);
  }

  /** Reads an update's skip. */
  readSkip(r: BitReader, orders: CodeOrders): number {
    return readEG(r, orders.skipK, UPDATED_SKIP);
  }

  /** Bits of a record U header that is not a repeat (a repeat is 1 bit). */
  updateHeaderBits(maskChanged: number, mask: number): number {
    const { ns, nc, slotComp } = this.layout;
    let bits = 2 + (maskChanged ? nc : 0);
    for (let s = 0; s < ns; s++) if ((mask >>> slotComp[s]) & 1) bits++;
    return bits;
  }

  /** Writes a record U header: the repeat bit, or mask-change bit, mask and flags[fo..fo + ns) of present slots. */
  writeUpdateHeader(w: BitWriter, repeat: boolean, maskChanged: number, mask: number, flags: Uint8Array, fo: number): void {
    const { ns, nc, slotComp } = this.layout;
    if (repeat) {
      w.writeBits(1, 1);
      return;
    }
    w.writeBits(0, 1);
    w.writeBits(maskChanged, 1);
    if (maskChanged) w.writeBits(mask, nc);
    for (let s = 0; s < ns; s++) if ((mask >>> slotComp[s]) & 1) w.writeBits(flags[fo + s], 1);
  }

  /**
   * Reads a record U header into `h` (which carries the previous header of the part, for repeats);
   * returns the entity's mask (`baseMask` unless the mask changed). h.flags then holds the flags.
   */
  readUpdateHeader(r: BitReader, baseMask: number, h: UpdateHeader): number {
    const { ns, nc, slotComp } = this.layout;
    if (r.readBits(1, 'updated.repeat') === 1) {
      if (!h.present) throw new DecodeError('updated.repeat', r.position() - 1, 'no previous record to repeat');
      return h.maskChanged ? h.mask : baseMask;
    }
    const maskChanged = r.readBits(1, 'updated.maskChanged') === 1;
    const mask = maskChanged ? r.readBits(nc, 'updated.mask') : baseMask;
    for (let s = 0; s < ns; s++) h.flags[s] = (mask >>> slotComp[s]) & 1 ? r.readBits(1, 'updated.flags') : 0;
    h.present = true;
    h.maskChanged = maskChanged;
    h.mask = mask;
    return mask;
  }

  /** Writes a record U body: the age when a rate slot is flagged, then the codes of mode/val[sb..sb + ns). */
  writeUpdateBody(w: BitWriter, orders: CodeOrders, aBits: number, hasRate: number, age: number, mode: Uint8Array, val: Float64Array, sb: number): void {
    if (hasRate) w.writeBits(age, aBits);
    for (let s = 0; s < this.layout.ns; s++) this.writeSlot(w, orders, s, mode[sb + s], val[sb + s]);
  }

  /**
   * Reads a record U body for baseline row `b` of `B` (dt ticks back; ages of `aBits` = ageBits(dt))
   * with the flags of `h` into row `o` of `out`: the age, the rates (flagged: decoded, else the
   * baseline's), then the values (flagged: decoded against the prediction, else the prediction),
   * each checked against its range.
   */
  readUpdateBody(r: BitReader, orders: CodeOrders, dt: number, aBits: number, h: UpdateHeader, mask: number, B: SnapshotFrame, b: number, out: SnapshotFrame, o: number): void {
    const { nr, nf, ns, slotComp, rateOfField } = this.layout;
    const t = this.t;
    const flags = h.flags;
    let anyRate = false;
    for (let s = 0; s < ns; s++) {
      if (!flags[s]) continue;
      if (!((mask >>> slotComp[s]) & 1)) throw new DecodeError('updated.flags', r.position(), 'change flag on an absent component');
      if (s < nr) anyRate = true;
    }
    const age = anyRate ? r.readRange(aBits, 0, Math.min(dt, MAX_RATE_AGE), 'updated.age') : 0;
    for (let q = 0; q < nr; q++) {
      out.rates[o * nr + q] = !((mask >>> slotComp[q]) & 1) ? 0 : flags[q] ? this.readRate(r, orders, q, 'updated.rate') : B.rates[b * nr + q];
    }
    for (let f = 0; f < nf; f++) {
      let v = 0;
      if ((mask >>> t.comp[f]) & 1) {
        const q = rateOfField[f];
        const pred = q >= 0 ? this.predict(B.values[b * nf + f], B.rates[b * nr + q], out.rates[o * nr + q], dt, age) : B.values[b * nf + f];
        v = flags[nr + f] ? this.readValue(r, f, pred) : pred;
        if (!(v >= 0 && v <= t.maxQ[f])) throw new DecodeError(t.names[f], r.position(), `value ${v} outside 0..${t.maxQ[f]}`);
      }
      out.values[o * nf + f] = v;
    }
    out.masks[o] = mask;
  }
}

/** The decoder's running record U header of a part: the last one read, which a repeat reuses. */
export class UpdateHeader {
  /** False until the part's first non-repeat header. */
  present = false;
  maskChanged = false;
  mask = 0;
  /** Change flag per slot. */
  readonly flags: Uint8Array;
  constructor(ns: number) {
    this.flags = new Uint8Array(ns);
  }
}

/** zigzag(residual) - 1 of a changed value: the residual is never 0, so the code starts at 1. */
function zigzagResidual(t: FieldTables, f: number, actual: number, pred: number): number {
  return zigzag(t.residual(f, actual, pred)) - 1;
}

const records = new WeakMap<SnapshotLayout, SectionRecords>();

/** The record formats of a layout (cached per layout object). */
export function sectionRecords(layout: SnapshotLayout): SectionRecords {
  let rec = records.get(layout);
  if (!rec) {
    rec = new SectionRecords(layout);
    records.set(layout, rec);
  }
  return rec;
}
