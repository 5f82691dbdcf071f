// The encoder's planning step: compares a target frame with its baseline, decides every entity's item
// kind and every slot's code, chooses the adaptive Exp-Golomb orders and splits the items into parts
// by their bit costs. It writes nothing; SectionEncoder writes the plan.
import { bitsFor, zigzag } from './bits.ts';
import { egBits } from './exp-golomb.ts';
import type { FieldTables } from './field-tables.ts';
import {
  CodeOrders, K_CHOICES, MAX_RATE_AGE, SlotMode, ageBits, partOverheadBits, sectionRecords, worstEG,
  type SectionRecords,
} from './section-records.ts';
import { MAX_SNAPSHOT_PARTS, SnapshotKind, snapshotHeaderBytes, type SnapshotFrame, type SnapshotLayout } from './snapshot.ts';

/** Kinds of the plan's items. */
export const ItemKind = {
  /** A kept entity whose record would say nothing (it extrapolates exactly): only counted in a skip. */
  Same: 0,
  /** A kept entity that changed: record U. */
  Updated: 1,
  /** An entity absent from the baseline: record C. */
  Created: 2,
  /** A baseline entity absent from the target: a removed record. */
  Removed: 3,
} as const;

// Per-entity code reads module-local copies of shared constants: V8 loads an exported or imported
// binding through its module cell at every use, which costs several percent in these loops.
const { Same: ITEM_SAME, Updated: ITEM_UPDATED, Created: ITEM_CREATED, Removed: ITEM_REMOVED } = ItemKind;
const { None: MODE_NONE, Rate: MODE_RATE, Raw: MODE_RAW } = SlotMode;
const ORDER_CHOICES = K_CHOICES;

/**
 * Plans the encoding of a target frame against a baseline (or the empty frame). The plan is a list of
 * items in id order (kind, ids, rows, per-slot flags, modes and values) and a list of parts (item
 * and id ranges, counts), read by the writer. All arrays are preallocated; plan() allocates nothing.
 */
export class SectionPlanner {
  readonly rec: SectionRecords;
  private readonly t: FieldTables;
  private readonly maxItems: number;
  /** Items of the current plan. */
  nItems = 0;
  /** Item kind (ItemKind), entity id, target row (-1 when removed), baseline row (-1 when created). */
  readonly iKind: Uint8Array;
  readonly iId: Int32Array;
  readonly iRow: Int32Array;
  readonly iBRow: Int32Array;
  /** Bits of an item's record body (its slot codes, mask or age), not counting gap, skip or record U header. */
  private readonly iBody: Float64Array;
  /** Record U: mask changed; some rate slot flagged; the age stated. */
  readonly iMaskChanged: Uint8Array;
  readonly iHasRate: Uint8Array;
  readonly iAge: Uint8Array;
  /** Per item and slot (item * ns + slot): record U change flag, slot code mode (SlotMode) and the value it codes. */
  readonly sFlag: Uint8Array;
  readonly sMode: Uint8Array;
  readonly sVal: Float64Array;
  /** Adaptive Exp-Golomb orders of the current plan (every part states the same). */
  readonly orders: CodeOrders;
  private readonly kCost: Float64Array;
  private readonly skipCost = new Float64Array(ORDER_CHOICES);
  /** Parts of the current plan. */
  partCount = 0;
  /** Per part: item range [pItemStart, pItemEnd), id range [pIdLo, pIdHi), first target row, rows, and list counts. */
  readonly pItemStart = new Int32Array(MAX_SNAPSHOT_PARTS + 1);
  readonly pItemEnd = new Int32Array(MAX_SNAPSHOT_PARTS + 1);
  readonly pIdLo = new Int32Array(MAX_SNAPSHOT_PARTS + 1);
  readonly pIdHi = new Int32Array(MAX_SNAPSHOT_PARTS + 1);
  readonly pRowStart = new Int32Array(MAX_SNAPSHOT_PARTS + 1);
  readonly pRows = new Int32Array(MAX_SNAPSHOT_PARTS + 1);
  readonly pRemoved = new Int32Array(MAX_SNAPSHOT_PARTS + 1);
  readonly pCreated = new Int32Array(MAX_SNAPSHOT_PARTS + 1);
  readonly pUpdated = new Int32Array(MAX_SNAPSHOT_PARTS + 1);
  /** Upper bound of a part's bits besides header and records (placement, orders, counts). */
  readonly overheadBits: number;
  /** Worst-case bits of one item (used to size buffers and check that any entity fits a packet). */
  readonly worstItemBits: number;
  private target: SnapshotFrame | null = null;

  /**
   * @param layout the snapshot layout of the game's schema
   * @param maxPacketBytes largest packet, header included; throws a RangeError when one entity cannot fit
   */
  constructor(readonly layout: SnapshotLayout, readonly maxPacketBytes: number) {
    this.rec = sectionRecords(layout);
    this.t = this.rec.t;
    const { ns, nr, nc, schema } = layout;
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
    this.orders = new CodeOrders(nr);
    this.kCost = new Float64Array(Math.max(1, nr) * ORDER_CHOICES);
    this.overheadBits = partOverheadBits(layout);
    let worstRates = 0;
    let worstValues = 0;
    for (let r = 0; r < nr; r++) worstRates += worstEG(2 * this.t.rateMax[r]);
    for (let f = 0; f < layout.nf; f++) worstValues += 1 + this.t.bits[f];
    const worstGap = worstEG(schema.maxEntities);
    const created = worstGap + nc + worstRates + worstValues;
    const updated = worstGap + 2 + nc + ns + bitsFor(MAX_RATE_AGE) + worstRates + worstValues;
    this.worstItemBits = Math.max(created, updated);
    const budget = (maxPacketBytes - snapshotHeaderBytes(SnapshotKind.Delta)) * 8 - this.overheadBits;
    if (this.worstItemBits > budget) {
      throw new RangeError(`maxPacketBytes ${maxPacketBytes} cannot hold one entity of this schema (worst case ${Math.ceil(this.worstItemBits / 8)} bytes plus headers)`);
    }
  }

  /** Most items a plan can hold (every baseline entity removed and every target entity created). */
  get capacityItems(): number {
    return this.maxItems;
  }

  /** Plans `target` against `base` (null: the empty frame), dt = target.tick - base.tick, for packets of `kind`. */
  plan(target: SnapshotFrame, base: SnapshotFrame | null, dt: number, kind: number): void {
    this.planItems(target, base, dt);
    this.partition(kind);
  }

  /**
   * Plans the items of `target` against `base` (kinds, slot codes, orders) without splitting them
   * into parts: for a caller that writes packets of its own from the items (the view encoder's
   * shared records, server/interest.ts). The part fields are left as they were.
   */
  planItems(target: SnapshotFrame, base: SnapshotFrame | null, dt: number): void {
    this.target = target;
    this.analyze(target, base, dt);
    this.chooseOrders();
  }

  /** True when update item `a`'s record U header would equal that of update `b` (so it is sent as a repeat). */
  repeatsHeader(a: number, b: number): boolean {
    if (this.iMaskChanged[a] !== this.iMaskChanged[b]) return false;
    const T = this.target as SnapshotFrame;
    if (this.iMaskChanged[a] && T.masks[this.iRow[a]] !== T.masks[this.iRow[b]]) return false;
    const ns = this.layout.ns;
    const sa = a * ns;
    const sb = b * ns;
    for (let s = 0; s < ns; s++) if (this.sFlag[sa + s] !== this.sFlag[sb + s]) return false;
    return true;
  }

  // ---- compare target with base, in id order ----

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
    const { nr, nf, ns, slotComp } = this.layout;
    const t = this.t;
    const mask = T.masks[j];
    this.iKind[it] = ITEM_CREATED;
    this.iId[it] = T.ids[j];
    this.iRow[it] = j;
    this.iBRow[it] = -1;
    const sb = it * ns;
    let body = this.rec.createdMaskBits;
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
    const { nr, nf, ns, slotComp, rateField, rateOfField } = this.layout;
    const t = this.t;
    const rec = this.rec;
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
          const pred = rec.predict(B.values[i * nf + f], B.rates[i * nr + r], T.rates[j * nr + r], dt, a);
          const actual = T.values[j * nf + f];
          if (actual !== pred) cost += rec.valueBits(f, actual, pred);
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
      const r = rateOfField[f];
      const pred = r >= 0 ? rec.predict(B.values[i * nf + f], B.rates[i * nr + r], T.rates[j * nr + r], dt, age) : B.values[i * nf + f];
      if (actual === pred) continue;
      changed = true;
      this.sFlag[s] = 1;
      body += rec.chooseValue(f, actual, pred, this.sMode, this.sVal, s);
    }
    if (rateChanged) changed = true;
    this.iKind[it] = changed ? ITEM_UPDATED : ITEM_SAME;
    this.iBody[it] = body;
  }

  private addRateCost(r: number, u: number): void {
    const base = r * ORDER_CHOICES;
    for (let k = 0; k < ORDER_CHOICES; k++) this.kCost[base + k] += egBits(u, k);
  }

  // ---- adaptive Exp-Golomb orders for rates and skips ----

  private chooseOrders(): void {
    const { nr, ns } = this.layout;
    const orders = this.orders;
    for (let r = 0; r < nr; r++) {
      let best = 0;
      for (let k = 1; k < ORDER_CHOICES; k++) if (this.kCost[r * ORDER_CHOICES + k] < this.kCost[r * ORDER_CHOICES + best]) best = k;
      orders.rateK[r] = best;
    }
    this.skipCost.fill(0);
    let kept = 0;
    for (let it = 0; it < this.nItems; it++) {
      const kind = this.iKind[it];
      if (kind === ITEM_SAME) kept++;
      else if (kind === ITEM_UPDATED) {
        for (let k = 0; k < ORDER_CHOICES; k++) this.skipCost[k] += egBits(kept, k);
        kept = 0;
      }
      if (kind === ITEM_CREATED || kind === ITEM_UPDATED) {
        const sb = it * ns;
        let add = 0;
        for (let r = 0; r < nr; r++) if (this.sMode[sb + r] === MODE_RATE) add += this.rec.rateBits(orders, r, this.sVal[sb + r]);
        this.iBody[it] += add;
      }
    }
    let best = 0;
    for (let k = 1; k < ORDER_CHOICES; k++) if (this.skipCost[k] < this.skipCost[best]) best = k;
    orders.skipK = best;
  }

  // ---- split into parts by bits ----

  /** Bits of an updated record's header: a repeat bit, or mask-change bit, mask and change flags. */
  private recordHeaderBits(it: number, prev: number): number {
    if (prev >= 0 && this.repeatsHeader(it, prev)) return 1;
    return this.rec.updateHeaderBits(this.iMaskChanged[it], (this.target as SnapshotFrame).masks[this.iRow[it]]);
  }

  private partition(kind: number): void {
    const budget = (this.maxPacketBytes - snapshotHeaderBytes(kind)) * 8;
    const fixed = this.overheadBits;
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
    this.openPart(0, 0, 0, 0);
    for (let it = 0; it < this.nItems; it++) {
      let cost = this.itemCost(it, kept, prevUpd, lastRemoved, lastCreatedId);
      if (bits + cost > budget && bits > fixed) {
        if (p + 1 >= MAX_SNAPSHOT_PARTS) throw new RangeError(`snapshot needs more than ${MAX_SNAPSHOT_PARTS} parts; raise maxPacketBytes`);
        this.closePart(p++, it, this.iId[it], rows);
        this.openPart(p, it, this.iId[it], totalRows);
        bits = fixed;
        kept = 0;
        prevUpd = -1;
        lastRemoved = totalBRows - 1;
        lastCreatedId = this.iId[it] - 1;
        rows = 0;
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
    this.closePart(p++, this.nItems, maxEntities, rows);
    this.partCount = p;
  }

  /** Starts part `p` at item `it`, id `idLo` and target row `rowStart`, its lists empty. */
  private openPart(p: number, it: number, idLo: number, rowStart: number): void {
    this.pItemStart[p] = it;
    this.pIdLo[p] = idLo;
    this.pRowStart[p] = rowStart;
    this.pRemoved[p] = 0;
    this.pCreated[p] = 0;
    this.pUpdated[p] = 0;
  }

  /** Ends part `p` before item `it`, covering ids below `idHi`, with `rows` entities. */
  private closePart(p: number, it: number, idHi: number, rows: number): void {
    this.pItemEnd[p] = it;
    this.pIdHi[p] = idHi;
    this.pRows[p] = rows;
  }

  private itemCost(it: number, kept: number, prevUpd: number, lastRemoved: number, lastCreatedId: number): number {
    switch (this.iKind[it]) {
      case ITEM_SAME:
        return 0;
      case ITEM_UPDATED:
        return this.rec.skipBits(this.orders, kept) + this.recordHeaderBits(it, prevUpd) + this.iBody[it];
      case ITEM_CREATED:
        return this.rec.createdGapBits(this.iId[it] - lastCreatedId - 1) + this.iBody[it];
      default:
        return this.rec.removedBits(this.iBRow[it] - lastRemoved - 1);
    }
  }
}
