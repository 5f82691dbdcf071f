// Typed decode failures: hostile or broken bytes raise DecodeError naming the field and bit offset.

/** Raised when bytes from the network do not decode; the message is dropped and counted, never rethrown. */
export class DecodeError extends Error {
  /** Name of the field being read when decoding failed. */
  readonly field: string;
  /** Bit offset into the message where it failed. */
  readonly bitOffset: number;
  constructor(field: string, bitOffset: number, reason: string) {
    super(`decode error at bit ${bitOffset} (${field}): ${reason}`);
    this.name = 'DecodeError';
    this.field = field;
    this.bitOffset = bitOffset;
  }
}
