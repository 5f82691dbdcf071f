// Per-field coding tables of the snapshot entity section, derived once from a layout and read by the
// planner, the writer and the decoder alike: how a changed value is coded, its width, range and order.
import type { SnapshotLayout } from './snapshot.ts';

/** How a field's changed value is coded in record U. */
export const Coding = {
  /** A non-rated 1-bit field: nothing is sent, the value flips. */
  Flip: 0,
  /** A non-rated 2..3-bit field: the value, at its width. */
  Raw: 1,
  /** Any other field: a flag, then the raw value or an Exp-Golomb coded residual. */
  General: 2,
} as const;

/** Static Exp-Golomb order of a field's residuals, from its width. */
export function residualK(bits: number): number {
  return Math.min(6, Math.floor(bits / 3));
}

/** Per-field coding tables of a layout, as typed arrays indexed by field (rateMax: by rate slot). */
export class FieldTables {
  /** Coding.Flip, Coding.Raw or Coding.General. */
  readonly coding: Uint8Array;
  /** Exp-Golomb order of the field's residuals. */
  readonly kRes: Uint8Array;
  /** Width of the raw value. */
  readonly bits: Uint8Array;
  /** Largest quantized value. */
  readonly maxQ: Float64Array;
  /** 1 when values wrap around (residuals are taken modulo maxQ + 1). */
  readonly wraps: Uint8Array;
  /** Component index of the field (its bit in an entity mask). */
  readonly comp: Int32Array;
  /** Largest rate magnitude of each rate slot (its field's maxQ). */
  readonly rateMax: Float64Array;
  /** Field names, for DecodeError. */
  readonly names: readonly string[];

  constructor(readonly layout: SnapshotLayout) {
    const { nf, nr } = layout;
    this.coding = new Uint8Array(nf);
    this.kRes = new Uint8Array(nf);
    this.bits = new Uint8Array(nf);
    this.maxQ = new Float64Array(nf);
    this.wraps = new Uint8Array(nf);
    this.comp = new Int32Array(nf);
    this.rateMax = new Float64Array(nr);
    this.names = layout.schema.fields.map((f) => f.field);
    for (let f = 0; f < nf; f++) {
      const q = layout.q[f];
      const rated = layout.rateOfField[f] >= 0;
      this.coding[f] = !rated && q.maxQ === 1 ? Coding.Flip : !rated && q.bits <= 3 ? Coding.Raw : Coding.General;
      this.kRes[f] = residualK(q.bits);
      this.bits[f] = q.bits;
      this.maxQ[f] = q.maxQ;
      this.wraps[f] = q.wraps ? 1 : 0;
      this.comp[f] = layout.schema.fields[f].compIndex;
    }
    for (let r = 0; r < nr; r++) this.rateMax[r] = layout.q[layout.rateField[r]].maxQ;
  }

  /** Signed residual actual - pred, taken modulo the range for wrapping fields. */
  residual(f: number, actual: number, pred: number): number {
    const d = actual - pred;
    if (!this.wraps[f]) return d;
    const m = this.maxQ[f] + 1;
    let r = d % m;
    if (r < 0) r += m;
    return r >= m / 2 ? r - m : r;
  }
}

const tables = new WeakMap<SnapshotLayout, FieldTables>();

/** The field tables of a layout (cached per layout object). */
export function fieldTables(layout: SnapshotLayout): FieldTables {
  let t = tables.get(layout);
  if (!t) {
    t = new FieldTables(layout);
    tables.set(layout, t);
  }
  return t;
}
