// Extrapolation of snapshot rows by their per-tick rates, with an explicit policy for a value that
// leaves its field's range: reject it (decoding a delta) or clamp it (filling a display frame).
import { DecodeError } from './errors.ts';
import { fieldTables } from './field-tables.ts';
import type { SnapshotFrame, SnapshotLayout } from './snapshot.ts';

/** What to do with an extrapolated value outside 0..maxQ. */
export const OutOfRange = {
  /** DecodeError: the baseline and its rates cannot have produced a valid state (a hostile or broken stream). */
  Throw: 0,
  /** Clamp to the range: display only, for state that was never received. */
  Clamp: 1,
} as const;
/** An OutOfRange policy. */
export type OutOfRangePolicy = (typeof OutOfRange)[keyof typeof OutOfRange];
// A module-local copy for the per-row test (an exported binding is loaded through its module cell at every use).
const THROW = OutOfRange.Throw;

/** Extrapolates rows of frames of one layout (one instance per layout; stateless). */
export class Extrapolator {
  private readonly maxQ: Float64Array;

  constructor(readonly layout: SnapshotLayout) {
    this.maxQ = fieldTables(layout).maxQ;
  }

  /**
   * Copies row `b` of `src` to row `o` of `out` (capacity is the caller's), moving each rated value
   * by rate * dt (dt 0 copies: a frame's values are in range); an out-of-range value is handled by
   * `policy` (Throw reports bit offset `at`).
   */
  row(src: SnapshotFrame, b: number, dt: number, out: SnapshotFrame, o: number, policy: OutOfRangePolicy, at: number): void {
    const { nr, nf, rateField } = this.layout;
    out.ids[o] = src.ids[b];
    out.masks[o] = src.masks[b];
    for (let f = 0; f < nf; f++) out.values[o * nf + f] = src.values[b * nf + f];
    for (let k = 0; k < nr; k++) {
      const rate = src.rates[b * nr + k];
      out.rates[o * nr + k] = rate;
      if (rate === 0) continue;
      const f = rateField[k];
      const v = src.values[b * nf + f] + rate * dt;
      if (v >= 0 && v <= this.maxQ[f]) out.values[o * nf + f] = v;
      else if (policy === THROW) throw new DecodeError('extrapolated', at, `entity ${src.ids[b]} extrapolates outside its field range`);
      else out.values[o * nf + f] = v < 0 ? 0 : this.maxQ[f];
    }
  }
}

const extrapolators = new WeakMap<SnapshotLayout, Extrapolator>();

/** The extrapolator of a layout (cached per layout object). */
export function extrapolator(layout: SnapshotLayout): Extrapolator {
  let x = extrapolators.get(layout);
  if (!x) {
    x = new Extrapolator(layout);
    extrapolators.set(layout, x);
  }
  return x;
}

/**
 * Extrapolates the rows of `src` with ids in [idLo, idHi) to `tick` into `out` from row `o` on,
 * clamping to each field's range (display only: used to fill parts of a snapshot that never
 * arrived; a tick at or before src.tick copies). Returns the next free row.
 */
export function extrapolateRange(layout: SnapshotLayout, src: SnapshotFrame, idLo: number, idHi: number, tick: number, out: SnapshotFrame, o: number): number {
  const x = extrapolator(layout);
  const dt = Math.max(0, tick - src.tick);
  const from = src.lowerBound(idLo);
  const to = src.lowerBound(idHi);
  out.ensureCapacity(o + (to - from));
  for (let b = from; b < to; b++, o++) x.row(src, b, dt, out, o, OutOfRange.Clamp, 0);
  return o;
}
