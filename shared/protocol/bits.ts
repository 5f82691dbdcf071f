// Bit writer and reader over preallocated byte buffers: little-endian, LSB-first, bounds-checked reads.
import { DecodeError } from './errors.ts';

/**
 * Writes unsigned values of 1..32 bits into a preallocated buffer, least significant bit first.
 * Writing past the end or a value out of range is a bug of ours and throws a RangeError.
 */
export class BitWriter {
  /** The backing buffer; encoded bytes are `bytes.subarray(0, byteLength())`. */
  readonly bytes: Uint8Array;
  private bitPos = 0;

  constructor(capacityBytes: number) {
    this.bytes = new Uint8Array(capacityBytes);
  }

  /** Restarts writing at bit 0 (the old contents are overwritten as new bits are written). */
  reset(): void {
    this.bitPos = 0;
  }

  /** Bits written so far. */
  bitLength(): number {
    return this.bitPos;
  }

  /** Bytes needed to hold what was written (the last byte zero-padded). */
  byteLength(): number {
    return (this.bitPos + 7) >>> 3;
  }

  /** Bytes still free, counting a partly used byte as used. */
  remainingBytes(): number {
    return this.bytes.length - this.byteLength();
  }

  /** View of the encoded bytes (no copy). */
  view(): Uint8Array {
    return this.bytes.subarray(0, this.byteLength());
  }

  /** Writes the low `bits` bits of `value` (unsigned, 1..32 bits). */
  writeBits(value: number, bits: number): void {
    if (bits <= 24 && bits >= 1 && (bits | 0) === bits && value >>> 0 === value && value >>> bits === 0 && this.bitPos + bits <= this.bytes.length * 8) {
      // one 31-bit word: the bits already in the current byte, then the value; every byte it reaches is written whole
      const pos = this.bitPos;
      const i = pos >>> 3;
      const b = pos & 7;
      const bytes = this.bytes;
      const word = (b === 0 ? 0 : bytes[i] & ((1 << b) - 1)) | (value << b);
      const end = b + bits;
      bytes[i] = word;
      if (end > 8) bytes[i + 1] = word >>> 8;
      if (end > 16) bytes[i + 2] = word >>> 16;
      if (end > 24) bytes[i + 3] = word >>> 24;
      this.bitPos = pos + bits;
      return;
    }
    if (bits < 1 || bits > 32) throw new RangeError(`writeBits: bits ${bits} outside 1..32`);
    if (!(value >= 0) || value > 0xffffffff || (bits < 32 && value >= 2 ** bits) || value !== Math.floor(value)) {
      throw new RangeError(`writeBits: value ${value} does not fit ${bits} unsigned bits`);
    }
    if (this.bitPos + bits > this.bytes.length * 8) throw new RangeError('writeBits: buffer full');
    let v = value;
    let left = bits;
    while (left > 0) {
      const byteIndex = this.bitPos >>> 3;
      const bitIndex = this.bitPos & 7;
      const take = Math.min(8 - bitIndex, left);
      const mask = (1 << take) - 1;
      if (bitIndex === 0) this.bytes[byteIndex] = 0;
      this.bytes[byteIndex] |= (v & mask) << bitIndex;
      v = Math.floor(v / (1 << take));
      this.bitPos += take;
      left -= take;
    }
  }

  /** Writes one bit. */
  writeBool(value: boolean): void {
    this.writeBits(value ? 1 : 0, 1);
  }

  /** Writes a signed integer as zigzag in `bits` bits. */
  writeSigned(value: number, bits: number): void {
    this.writeBits(zigzag(value), bits);
  }

  /** Pads with zero bits to the next byte boundary. */
  alignToByte(): void {
    const pad = (8 - (this.bitPos & 7)) & 7;
    if (pad) this.writeBits(0, pad);
  }

  /** Writes whole bytes at a byte boundary. */
  writeBytes(src: Uint8Array): void {
    this.alignToByte();
    const at = this.bitPos >>> 3;
    if (at + src.length > this.bytes.length) throw new RangeError('writeBytes: buffer full');
    this.bytes.set(src, at);
    this.bitPos += src.length * 8;
  }

  /** Overwrites `bits` bits at an earlier bit offset (used to patch counts written after the fact). */
  patchBits(bitOffset: number, value: number, bits: number): void {
    if (bitOffset + bits > this.bitPos) throw new RangeError('patchBits: past written data');
    let v = value;
    for (let i = 0; i < bits; i++) {
      const p = bitOffset + i;
      if (v % 2 === 1) this.bytes[p >>> 3] |= 1 << (p & 7);
      else this.bytes[p >>> 3] &= ~(1 << (p & 7));
      v = Math.floor(v / 2);
    }
  }
}

/**
 * Reads what BitWriter wrote. Every read is bounds-checked and labelled: reading past the end
 * raises DecodeError with the field name and bit offset.
 */
export class BitReader {
  private bytes: Uint8Array = new Uint8Array(0);
  private bitPos = 0;
  private bitEnd = 0;

  private bitBase = 0;

  /** Points the reader at bytes [startByte, endByte) of `bytes` (no copy). */
  reset(bytes: Uint8Array, startByte = 0, endByte = bytes.length): this {
    this.bytes = bytes;
    this.bitBase = startByte * 8;
    this.bitPos = this.bitBase;
    this.bitEnd = endByte * 8;
    return this;
  }

  /** Current bit offset from the start of the message. */
  position(): number {
    return this.bitPos - this.bitBase;
  }

  /** Bits left to read. */
  remainingBits(): number {
    return this.bitEnd - this.bitPos;
  }

  /** Reads `bits` (1..32) unsigned bits; `field` names what is read, for error messages. */
  readBits(bits: number, field: string): number {
    if (this.bitPos + bits > this.bitEnd) throw new DecodeError(field, this.position(), `needs ${bits} bits, ${this.bitEnd - this.bitPos} left`);
    let value = 0;
    let shift = 1;
    let left = bits;
    while (left > 0) {
      const byteIndex = this.bitPos >>> 3;
      const bitIndex = this.bitPos & 7;
      const take = Math.min(8 - bitIndex, left);
      const chunk = (this.bytes[byteIndex] >>> bitIndex) & ((1 << take) - 1);
      value += chunk * shift;
      shift *= 1 << take;
      this.bitPos += take;
      left -= take;
    }
    return value;
  }

  /** Reads one bit as a boolean. */
  readBool(field: string): boolean {
    return this.readBits(1, field) === 1;
  }

  /** Reads a zigzag-encoded signed integer of `bits` bits. */
  readSigned(bits: number, field: string): number {
    return unzigzag(this.readBits(bits, field));
  }

  /** Reads an unsigned value and rejects it unless min <= value <= max. */
  readRange(bits: number, min: number, max: number, field: string): number {
    const at = this.position();
    const v = this.readBits(bits, field);
    if (v < min || v > max) throw new DecodeError(field, at, `value ${v} outside ${min}..${max}`);
    return v;
  }

  /** Skips to the next byte boundary; the padding must be zero. */
  alignToByte(field: string): void {
    const pad = (8 - (this.bitPos & 7)) & 7;
    if (pad && this.readBits(pad, field) !== 0) throw new DecodeError(field, this.position() - pad, 'non-zero padding');
  }

  /**
   * Asserts the message was read to exhaustion: only zero padding bits of the last byte may remain.
   */
  expectEnd(field: string): void {
    const left = this.bitEnd - this.bitPos;
    if (left >= 8) throw new DecodeError(field, this.position(), `${left} trailing bits`);
    if (left > 0 && this.readBits(left, field) !== 0) throw new DecodeError(field, this.position() - left, 'non-zero trailing bits');
  }
}

/** Maps signed to unsigned: 0,-1,1,-2,2 -> 0,1,2,3,4. */
export function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

/** Inverse of zigzag. */
export function unzigzag(u: number): number {
  return u % 2 === 0 ? u / 2 : -(u + 1) / 2;
}

/** Bits needed to store integers 0..maxValue (at least 1). */
export function bitsFor(maxValue: number): number {
  let bits = 1;
  while (2 ** bits <= maxValue) bits++;
  return bits;
}
