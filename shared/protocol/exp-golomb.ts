// Exp-Golomb codes and raw values wider than 32 bits: the integer primitives of the snapshot entity section.
import type { BitReader, BitWriter } from './bits.ts';
import { DecodeError } from './errors.ts';

/** Most leading zeros an Exp-Golomb code may have; longer prefixes are rejected as hostile. */
export const MAX_EG_PREFIX = 40;

const POW2 = new Float64Array(64).map((_, i) => 2 ** i);
const TWO32 = 4294967296;

/** Writes `value` (unsigned integer < 2^bits) in `bits` bits, which may exceed 32 (low 32 bits first); 0 bits writes nothing. */
export function writeWide(w: BitWriter, value: number, bits: number): void {
  if (bits <= 0) return;
  if (bits <= 32) {
    w.writeBits(value, bits);
    return;
  }
  w.writeBits(value % TWO32, 32);
  w.writeBits(Math.floor(value / TWO32), bits - 32);
}

/** Reads what writeWide wrote: an unsigned value of `bits` bits (0 bits reads nothing and gives 0). */
export function readWide(r: BitReader, bits: number, field: string): number {
  if (bits <= 0) return 0;
  if (bits <= 32) return r.readBits(bits, field);
  const lo = r.readBits(32, field);
  return lo + r.readBits(bits - 32, field) * TWO32;
}

/** Bits of the Exp-Golomb code of order `k` for the unsigned integer `u`. */
export function egBits(u: number, k: number): number {
  const w = Math.floor(u / POW2[k]) + 1;
  const n = w < TWO32 ? 31 - Math.clz32(w) : 63 - Math.clz32(Math.floor(w / TWO32));
  return 2 * n + 1 + k;
}

/**
 * Writes `u` (unsigned integer < 2^40, what readEG accepts) as an Exp-Golomb code of order `k`, least significant bit
 * first: n zero bits, a one bit, the n bits below the leading one of w = floor(u / 2^k) + 1, then the
 * low k bits of u.
 */
export function writeEG(w: BitWriter, u: number, k: number): void {
  const q = Math.floor(u / POW2[k]) + 1;
  const n = q < TWO32 ? 31 - Math.clz32(q) : 63 - Math.clz32(Math.floor(q / TWO32));
  const len = 2 * n + 1 + k;
  if (len <= 32) {
    // The usual case in one write: bits go LSB first, so the three parts concatenate arithmetically.
    w.writeBits(POW2[n] + (q - POW2[n]) * POW2[n + 1] + (u % POW2[k]) * POW2[2 * n + 1], len);
    return;
  }
  if (n < 32) w.writeBits(POW2[n], n + 1);
  else {
    writeWide(w, 0, n);
    w.writeBits(1, 1);
  }
  writeWide(w, q - POW2[n], n);
  if (k > 0) w.writeBits(u % POW2[k], k);
}

/** Reads an Exp-Golomb code of order `k`; rejects a prefix longer than MAX_EG_PREFIX. */
export function readEG(r: BitReader, k: number, field: string): number {
  let n = 0;
  while (r.readBits(1, field) === 0) {
    if (++n > MAX_EG_PREFIX) throw new DecodeError(field, r.position(), 'Exp-Golomb prefix too long');
  }
  const q = POW2[n] + readWide(r, n, field);
  const low = k > 0 ? r.readBits(k, field) : 0;
  return (q - 1) * POW2[k] + low;
}
