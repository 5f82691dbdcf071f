// Input packets (client -> server, unreliable): the newest input and the few before it, each with
// a wrapping 16-bit sequence, so a lost packet costs nothing while the next one arrives.
import { BitReader, BitWriter } from './bits.ts';
import { DecodeError } from './errors.ts';
import { MsgType } from './ids.ts';
import type { NetSchema } from './schema.ts';

/** Most inputs one packet may carry. */
export const MAX_INPUTS_PER_PACKET = 16;

/** Header bytes before the bit-packed inputs: type u8, newestSeq u16, newestTick u32, count u8. */
export const INPUT_HEADER_BYTES = 8;

/** A decoded input packet; `values` holds count x inputFields quantized values, newest first. */
export interface InputPacket {
  newestSeq: number;
  /** Server tick the client wants its newest input applied at. */
  newestTick: number;
  count: number;
  /** Quantized field values, `count * schema.inputFields.length` long, newest input first. */
  readonly values: Uint32Array;
}

/** Allocates a reusable InputPacket for a schema. */
export function createInputPacket(schema: NetSchema): InputPacket {
  return { newestSeq: 0, newestTick: 0, count: 0, values: new Uint32Array(MAX_INPUTS_PER_PACKET * schema.inputFields.length) };
}

/**
 * Encodes an input packet into `w` (reset first). `values` holds `count` inputs, newest first,
 * each `schema.inputFields.length` quantized values.
 */
export function writeInputPacket(w: BitWriter, schema: NetSchema, newestSeq: number, newestTick: number, count: number, values: ArrayLike<number>): Uint8Array {
  if (count < 1 || count > MAX_INPUTS_PER_PACKET) throw new RangeError(`input count ${count} outside 1..${MAX_INPUTS_PER_PACKET}`);
  w.reset();
  w.writeBits(MsgType.Input, 8);
  w.writeBits(newestSeq & 0xffff, 16);
  w.writeBits(newestTick >>> 0, 32);
  w.writeBits(count, 8);
  const nf = schema.inputFields.length;
  for (let i = 0; i < count; i++) {
    for (let f = 0; f < nf; f++) w.writeBits(values[i * nf + f], schema.inputFields[f].q.bits);
  }
  return w.view();
}

/** Decodes an input packet (bytes [startByte, endByte)) into `out`; throws DecodeError naming the field on malformed bytes. */
export function readInputPacket(r: BitReader, bytes: Uint8Array, schema: NetSchema, out: InputPacket, startByte = 0, endByte = bytes.length): InputPacket {
  r.reset(bytes, startByte, endByte);
  if (r.readBits(8, 'type') !== MsgType.Input) throw new DecodeError('type', 0, 'not an input packet');
  out.newestSeq = r.readBits(16, 'newestSeq');
  out.newestTick = r.readBits(32, 'newestTick');
  out.count = r.readRange(8, 1, MAX_INPUTS_PER_PACKET, 'count');
  const nf = schema.inputFields.length;
  for (let i = 0; i < out.count; i++) {
    for (let f = 0; f < nf; f++) {
      const q = schema.inputFields[f].q;
      out.values[i * nf + f] = r.readRange(q.bits, 0, q.maxQ, schema.inputFields[f].name);
    }
  }
  r.expectEnd('end');
  return out;
}
