// Wrap-safe 16-bit sequence arithmetic (yojimbo style): compare, distance and increment across 65535 -> 0.

/** Number of distinct 16-bit sequence values. */
export const SEQ_MODULO = 65536;

/** True when `a` is newer than `b`, treating the 16-bit space as a circle (half-range rule). */
export function seqGreaterThan(a: number, b: number): boolean {
  return ((a > b) && (a - b <= 32768)) || ((a < b) && (b - a > 32768));
}

/** Signed distance a - b in the circular 16-bit space, in [-32768, 32767]. */
export function seqDiff(a: number, b: number): number {
  const d = (a - b) & 0xffff;
  return d >= 32768 ? d - SEQ_MODULO : d;
}

/** a + n wrapped to 16 bits (n may be negative). */
export function seqAdd(a: number, n: number): number {
  return (a + n) & 0xffff;
}
