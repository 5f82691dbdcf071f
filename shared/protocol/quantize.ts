// Field quantizers: how a networked number maps to a bounded unsigned integer of a fixed bit width.
import { bitsFor } from './bits.ts';

/** A networked field's wire form: values become integers 0..maxQ in `bits` bits. */
export interface Quantizer {
  /** Kind of quantizer, for docs and hashing. */
  readonly kind: 'uint' | 'int' | 'fixed' | 'angle' | 'bool';
  /** Bits on the wire. */
  readonly bits: number;
  /** Largest quantized value. */
  readonly maxQ: number;
  /** Smallest and largest representable values (after dequantize). */
  readonly min: number;
  readonly max: number;
  /** True when quantized values wrap around (angles): deltas are taken modulo maxQ + 1. */
  readonly wraps: boolean;
  /** Value -> integer in 0..maxQ, clamped (or wrapped) into range; NaN maps to the value of `min`. */
  quantize(value: number): number;
  /** Integer -> value. */
  dequantize(q: number): number;
  /** Stable description used in the config hash. */
  readonly signature: string;
  /**
   * Optional: sets `column[e] = dequantize(quantize(column[e]))` for every entity `e` of `eids` (the
   * per-tick snap to the grid, shared/sim/netgrid.ts), with this quantizer's own arithmetic in one
   * loop instead of two calls per value through a call site every field shares. The built-in
   * quantizers have it; a quantizer without it is snapped value by value.
   */
  snapColumn?(column: NumberColumn, eids: readonly number[]): void;
  /**
   * Optional: sets `out[at + i * stride] = quantize(store[eids[i]])` for every i < n (the capture of
   * a snapshot frame, server/history.ts), in one loop of this quantizer's own, as snapColumn. The
   * built-in quantizers have it; a quantizer without it is quantized value by value.
   */
  quantizeEach?(store: ArrayLike<number>, eids: ArrayLike<number>, n: number, out: NumberColumn, at: number, stride: number): void;
  /**
   * Optional: snapColumn and then quantizeEach in one loop: for every i < n, snaps
   * `store[eids[i]]` to the grid and sets `out[at + i * stride]` to the quantized value of what the
   * store then holds (the capture of a tick whose state is snapped as it is captured,
   * server/history.ts). The built-in quantizers have it; without it the two are done one after the other.
   */
  snapEach?(store: NumberColumn, eids: ArrayLike<number>, n: number, out: NumberColumn, at: number, stride: number): void;
}

/** A writable column of numbers indexed by entity (a component field's typed array). */
export interface NumberColumn {
  [index: number]: number;
}

// `+ 0` turns -0 into 0 so quantized values are plain non-negative integers.
const clamp = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v + 0);

/** Unsigned integer field, 0..2^bits-1. */
export function uint(bits: number): Quantizer {
  if (!Number.isInteger(bits) || bits < 1 || bits > 32) throw new RangeError(`uint(${bits}): bits must be 1..32`);
  const maxQ = 2 ** bits - 1;
  const quantize = (v: number): number => (v === v ? clamp(Math.round(v), 0, maxQ) : 0);
  const dequantize = (q: number): number => q;
  return {
    kind: 'uint', bits, maxQ, min: 0, max: maxQ, wraps: false, signature: `u${bits}`, quantize, dequantize,
    snapColumn(column, eids) {
      for (let i = 0; i < eids.length; i++) column[eids[i]] = dequantize(quantize(column[eids[i]]));
    },
    quantizeEach(store, eids, n, out, at, stride) {
      for (let i = 0; i < n; i++) out[at + i * stride] = quantize(store[eids[i]]);
    },
    snapEach(store, eids, n, out, at, stride) {
      for (let i = 0; i < n; i++) {
        const e = eids[i];
        store[e] = dequantize(quantize(store[e]));
        out[at + i * stride] = quantize(store[e]);
      }
    },
  };
}

/** Signed integer field in [min, max], sent as an offset from min. */
export function int(min: number, max: number): Quantizer {
  if (!Number.isInteger(min) || !Number.isInteger(max) || max <= min) throw new RangeError(`int(${min}, ${max}): need integers min < max`);
  const maxQ = max - min;
  const bits = bitsFor(maxQ);
  const quantize = (v: number): number => (v === v ? clamp(Math.round(v), min, max) - min : 0);
  const dequantize = (q: number): number => q + min;
  return {
    kind: 'int', bits, maxQ, min, max, wraps: false, signature: `i${min}:${max}`, quantize, dequantize,
    snapColumn(column, eids) {
      for (let i = 0; i < eids.length; i++) column[eids[i]] = dequantize(quantize(column[eids[i]]));
    },
    quantizeEach(store, eids, n, out, at, stride) {
      for (let i = 0; i < n; i++) out[at + i * stride] = quantize(store[eids[i]]);
    },
    snapEach(store, eids, n, out, at, stride) {
      for (let i = 0; i < n; i++) {
        const e = eids[i];
        store[e] = dequantize(quantize(store[e]));
        out[at + i * stride] = quantize(store[e]);
      }
    },
  };
}

/** Fixed-point field: values in [min, max] in steps of `step` (e.g. fixed(0, 2048, 1/16)). */
export function fixed(min: number, max: number, step: number): Quantizer {
  if (!(max > min) || !(step > 0)) throw new RangeError(`fixed(${min}, ${max}, ${step}): need min < max and step > 0`);
  const maxQ = Math.round((max - min) / step);
  const bits = bitsFor(maxQ);
  if (bits > 32) throw new RangeError(`fixed(${min}, ${max}, ${step}) needs ${bits} bits (max 32)`);
  const quantize = (v: number): number => (v === v ? clamp(Math.round((v - min) / step), 0, maxQ) : 0);
  const dequantize = (q: number): number => min + q * step;
  return {
    kind: 'fixed', bits, maxQ, min, max: min + maxQ * step, wraps: false, signature: `f${min}:${max}:${step}`, quantize, dequantize,
    snapColumn(column, eids) {
      for (let i = 0; i < eids.length; i++) column[eids[i]] = dequantize(quantize(column[eids[i]]));
    },
    quantizeEach(store, eids, n, out, at, stride) {
      for (let i = 0; i < n; i++) out[at + i * stride] = quantize(store[eids[i]]);
    },
    snapEach(store, eids, n, out, at, stride) {
      for (let i = 0; i < n; i++) {
        const e = eids[i];
        store[e] = dequantize(quantize(store[e]));
        out[at + i * stride] = quantize(store[e]);
      }
    },
  };
}

/** Angle in radians on a circle of 2^bits steps; dequantized into [-PI, PI). */
export function angle(bits: number): Quantizer {
  if (!Number.isInteger(bits) || bits < 2 || bits > 24) throw new RangeError(`angle(${bits}): bits must be 2..24`);
  const n = 2 ** bits;
  const stepRad = (2 * Math.PI) / n;
  const quantize = (v: number): number => {
    if (!Number.isFinite(v)) return 0;
    const q = Math.round(v / stepRad) % n;
    return q < 0 ? q + n : q + 0;
  };
  const dequantize = (q: number): number => (q >= n / 2 ? q - n : q) * stepRad;
  return {
    kind: 'angle', bits, maxQ: n - 1, min: -Math.PI, max: Math.PI - stepRad, wraps: true, signature: `a${bits}`, quantize, dequantize,
    snapColumn(column, eids) {
      for (let i = 0; i < eids.length; i++) column[eids[i]] = dequantize(quantize(column[eids[i]]));
    },
    quantizeEach(store, eids, n, out, at, stride) {
      for (let i = 0; i < n; i++) out[at + i * stride] = quantize(store[eids[i]]);
    },
    snapEach(store, eids, n, out, at, stride) {
      for (let i = 0; i < n; i++) {
        const e = eids[i];
        store[e] = dequantize(quantize(store[e]));
        out[at + i * stride] = quantize(store[e]);
      }
    },
  };
}

/** Boolean field, one bit. */
export function bool(): Quantizer {
  const quantize = (v: number): number => (v ? 1 : 0);
  return {
    kind: 'bool', bits: 1, maxQ: 1, min: 0, max: 1, wraps: false, signature: 'b', quantize,
    dequantize: (q) => q,
    snapColumn(column, eids) {
      for (let i = 0; i < eids.length; i++) column[eids[i]] = quantize(column[eids[i]]);
    },
    quantizeEach(store, eids, n, out, at, stride) {
      for (let i = 0; i < n; i++) out[at + i * stride] = quantize(store[eids[i]]);
    },
    snapEach(store, eids, n, out, at, stride) {
      for (let i = 0; i < n; i++) {
        const e = eids[i];
        store[e] = quantize(store[e]);
        out[at + i * stride] = quantize(store[e]);
      }
    },
  };
}
