// Seeded mutation engine of the fuzzer: stacked byte-level mutations of corpus entries (bit flips,
// byte set/insert/delete, interesting integers, arithmetic, length-field tweaks, dictionary tokens,
// splicing, truncation), fully determined by the seed.
import { Rng } from '../../shared/sim/rng.ts';

/** Every mutation the engine applies; `counts` on the Mutator tallies them. */
export const MUTATIONS = [
  'bitFlip', 'byteSet', 'byteInsert', 'byteDelete', 'interesting', 'arith', 'lengthTweak',
  'dictOverwrite', 'dictInsert', 'splice', 'truncate', 'chunkCopy', 'chunkErase', 'append',
] as const;
/** One mutation of MUTATIONS. */
export type MutationKind = (typeof MUTATIONS)[number];

/** Options of a Mutator. */
export interface MutatorOptions {
  /** Seed of the PRNG: the same seed, corpus and call sequence give the same outputs. */
  seed: number;
  /** Largest output in bytes; longer results are cut. Default 4096. */
  maxBytes?: number;
  /** Most mutations stacked on one input (1..maxStack, skewed towards few). Default 6. */
  maxStack?: number;
  /** Tokens the target's format is built from (field names, tags, header lines) for dictionary mutations. Default none. */
  dictionary?: readonly Uint8Array[];
}

/** Values that sit on boundaries (0, signs, powers of two, max of each width). */
const INTERESTING_8 = [0, 1, 2, 7, 8, 15, 16, 17, 31, 32, 63, 64, 100, 127, 128, 129, 192, 254, 255];
const INTERESTING_16 = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x3ff, 0x400, 0x1000, 0x7fff, 0x8000, 0xfffe, 0xffff];
const INTERESTING_32 = [0, 1, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x3fffffff, 0x40000000, 1_000_000];

/**
 * Mutates corpus entries deterministically. `mutate` returns a view of an internal buffer that the
 * next call overwrites: copy it (`slice()`) to keep it.
 */
export class Mutator {
  /** The PRNG every choice is drawn from. */
  readonly rng: Rng;
  /** Largest output in bytes. */
  readonly maxBytes: number;
  /** How often each mutation was applied since construction. */
  readonly counts: Record<MutationKind, number>;
  private readonly maxStack: number;
  private readonly dictionary: readonly Uint8Array[];
  private buf: Uint8Array;
  private tmp: Uint8Array;
  private len = 0;

  constructor(o: MutatorOptions) {
    this.rng = new Rng(o.seed);
    this.maxBytes = o.maxBytes ?? 4096;
    this.maxStack = Math.max(1, o.maxStack ?? 6);
    this.dictionary = o.dictionary ?? [];
    this.buf = new Uint8Array(this.maxBytes);
    this.tmp = new Uint8Array(this.maxBytes);
    this.counts = Object.fromEntries(MUTATIONS.map((m) => [m, 0])) as Record<MutationKind, number>;
  }

  /** Returns `input` with 1..maxStack stacked mutations; `corpus` supplies splice partners. */
  mutate(input: Uint8Array, corpus: readonly Uint8Array[] = []): Uint8Array {
    this.len = Math.min(input.length, this.maxBytes);
    this.buf.set(input.subarray(0, this.len));
    const stack = 1 + this.rng.int(1 + this.rng.int(this.maxStack));
    for (let i = 0; i < stack; i++) this.apply(this.pick(), corpus);
    // a stack that cancelled out (or found nothing to do on an empty input) still yields a change
    if (this.len === input.length && this.len <= this.maxBytes && sameBytes(this.buf, input, this.len)) this.apply(this.len === 0 ? 'byteInsert' : 'bitFlip', corpus);
    return this.buf.subarray(0, this.len);
  }

  /** Draws an integer in [0, n). */
  int(n: number): number {
    return this.rng.int(n);
  }

  /** Draws one element of a non-empty list. */
  choose<T>(list: readonly T[]): T {
    return list[this.rng.int(list.length)];
  }

  private pick(): MutationKind {
    // Small local changes dominate; structural ones (splice, truncate) are rarer, as in AFL's havoc stage.
    const r = this.rng.int(100);
    if (r < 14) return 'bitFlip';
    if (r < 24) return 'byteSet';
    if (r < 32) return 'byteInsert';
    if (r < 40) return 'byteDelete';
    if (r < 52) return 'interesting';
    if (r < 60) return 'arith';
    if (r < 70) return 'lengthTweak';
    if (r < 76) return this.dictionary.length ? 'dictOverwrite' : 'bitFlip';
    if (r < 82) return this.dictionary.length ? 'dictInsert' : 'byteInsert';
    if (r < 87) return 'splice';
    if (r < 91) return 'truncate';
    if (r < 95) return 'chunkCopy';
    if (r < 98) return 'chunkErase';
    return 'append';
  }

  private apply(kind: MutationKind, corpus: readonly Uint8Array[]): void {
    this.counts[kind]++;
    const rng = this.rng;
    const b = this.buf;
    switch (kind) {
      case 'bitFlip': {
        if (this.len === 0) return this.insertBytes(0, 1);
        const bit = rng.int(this.len * 8);
        b[bit >>> 3] ^= 1 << (bit & 7);
        return;
      }
      case 'byteSet': {
        if (this.len === 0) return this.insertBytes(0, 1);
        b[rng.int(this.len)] = rng.int(256);
        return;
      }
      case 'byteInsert': {
        const n = 1 + (rng.int(4) === 0 ? rng.int(16) : 0);
        const at = rng.int(this.len + 1);
        this.insertBytes(at, n);
        const fill = rng.int(2) === 0 ? rng.int(256) : -1;
        for (let i = at; i < Math.min(at + n, this.len); i++) b[i] = fill < 0 ? rng.int(256) : fill;
        return;
      }
      case 'byteDelete': {
        if (this.len === 0) return;
        const at = rng.int(this.len);
        this.deleteBytes(at, 1 + (rng.int(4) === 0 ? rng.int(Math.min(16, this.len - at)) : 0));
        return;
      }
      case 'interesting': {
        const width = this.choose([1, 2, 4]);
        const list = width === 1 ? INTERESTING_8 : width === 2 ? INTERESTING_16 : INTERESTING_32;
        const at = this.offsetFor(width);
        if (at < 0) return;
        this.writeInt(at, width, this.choose(list), rng.int(2) === 0);
        return;
      }
      case 'arith': {
        const width = this.choose([1, 1, 2, 4]);
        const at = this.offsetFor(width);
        if (at < 0) return;
        const le = rng.int(2) === 0;
        const delta = (1 + rng.int(35)) * (rng.int(2) === 0 ? 1 : -1);
        this.writeInt(at, width, this.readInt(at, width, le) + delta, le);
        return;
      }
      case 'lengthTweak':
        return this.lengthTweak();
      case 'dictOverwrite': {
        const tok = this.choose(this.dictionary);
        const at = rng.int(this.len + 1);
        const n = Math.min(tok.length, this.maxBytes - at);
        if (at + n > this.len) this.len = at + n;
        b.set(tok.subarray(0, n), at);
        return;
      }
      case 'dictInsert': {
        const tok = this.choose(this.dictionary);
        const at = rng.int(this.len + 1);
        this.insertBytes(at, tok.length);
        b.set(tok.subarray(0, Math.max(0, Math.min(tok.length, this.len - at))), at);
        return;
      }
      case 'splice': {
        if (corpus.length === 0) return;
        const other = this.choose(corpus);
        const cut = rng.int(this.len + 1);
        const from = rng.int(other.length + 1);
        const n = Math.min(other.length - from, this.maxBytes - cut);
        b.set(other.subarray(from, from + n), cut);
        this.len = cut + n;
        return;
      }
      case 'truncate':
        this.len = rng.int(this.len + 1);
        return;
      case 'chunkCopy': {
        if (this.len === 0) return;
        const from = rng.int(this.len);
        const n = 1 + rng.int(Math.min(32, this.len - from));
        const at = rng.int(this.len + 1);
        this.tmp.set(b.subarray(from, from + n));
        this.insertBytes(at, n);
        b.set(this.tmp.subarray(0, Math.max(0, Math.min(n, this.len - at))), at);
        return;
      }
      case 'chunkErase': {
        if (this.len === 0) return;
        const from = rng.int(this.len);
        this.deleteBytes(from, 1 + rng.int(this.len - from));
        return;
      }
      case 'append': {
        const n = 1 + rng.int(rng.int(2) === 0 ? 8 : 256);
        const at = this.len;
        this.insertBytes(at, n);
        for (let i = at; i < this.len; i++) b[i] = rng.int(256);
        return;
      }
    }
  }

  /**
   * Finds something that looks like a length or count (a u8/u16/u32 in either byte order whose
   * value is at most the message length, or a msgpack fixstr/fixarray/fixmap header) and nudges it
   * by a small amount or sets it to a boundary (0, length, length +- 1, max).
   */
  private lengthTweak(): void {
    const rng = this.rng;
    const b = this.buf;
    if (this.len === 0) return;
    for (let attempt = 0; attempt < 8; attempt++) {
      const at = rng.int(this.len);
      const tag = b[at];
      // msgpack fix headers carry their count in the low bits
      if (tag >= 0x80 && tag <= 0xbf && rng.int(2) === 0) {
        const mask = tag >= 0xa0 ? 0x1f : 0x0f;
        const count = (tag & mask) + this.choose([-2, -1, 1, 2, 3]);
        b[at] = (tag & ~mask) | (count & mask);
        return;
      }
      const width = this.choose([1, 2, 4]);
      if (at + width > this.len) continue;
      const le = rng.int(2) === 0;
      const v = this.readInt(at, width, le);
      if (v === 0 || v > this.len * 2) continue;
      const max = width === 4 ? 0xffffffff : (1 << (width * 8)) - 1;
      const choices = [v - 1, v + 1, v - 2, v + 2, v * 2, 0, this.len, this.len - at, this.len + 1, max];
      this.writeInt(at, width, this.choose(choices), le);
      return;
    }
    // nothing length-like found: flip a count-sized byte instead
    b[rng.int(this.len)] = this.choose(INTERESTING_8);
  }

  /** An offset for a `width`-byte field: aligned to the width half the time, anywhere otherwise; -1 if none fits. */
  private offsetFor(width: number): number {
    if (this.len < width) return -1;
    const slots = this.len - width + 1;
    if (width > 1 && this.rng.int(2) === 0) return Math.floor(this.rng.int(slots) / width) * width;
    return this.rng.int(slots);
  }

  private readInt(at: number, width: number, le: boolean): number {
    let v = 0;
    for (let i = 0; i < width; i++) v = v * 256 + this.buf[le ? at + width - 1 - i : at + i];
    return v;
  }

  private writeInt(at: number, width: number, value: number, le: boolean): void {
    let v = ((value % 2 ** (width * 8)) + 2 ** (width * 8)) % 2 ** (width * 8);
    for (let i = 0; i < width; i++) {
      this.buf[le ? at + i : at + width - 1 - i] = v & 0xff;
      v = Math.floor(v / 256);
    }
  }

  /** Opens a gap of n bytes at `at` (contents undefined), cutting the tail at maxBytes. */
  private insertBytes(at: number, n: number): void {
    const newLen = Math.min(this.len + n, this.maxBytes);
    if (at + n < newLen) this.buf.copyWithin(at + n, at, newLen - n);
    this.len = newLen;
  }

  private deleteBytes(at: number, n: number): void {
    this.buf.copyWithin(at, at + n, this.len);
    this.len -= n;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Short stable name of an input (FNV-1a 64 as 16 hex digits), used for crash-<hash>.bin files. */
export function inputHash(bytes: Uint8Array): string {
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ bytes.length;
  for (let i = 0; i < bytes.length; i++) {
    h1 = Math.imul(h1 ^ bytes[i], 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ bytes[i] ^ (h1 >>> 7), 0x0100019d) >>> 0;
  }
  return h1.toString(16).padStart(8, '0') + h2.toString(16).padStart(8, '0');
}
