// Input packets (client -> server, unreliable): the inputs of the ticks since the previous packet
// plus a few before them, each with a wrapping 16-bit sequence, so a lost packet costs nothing
// while the next one arrives; optionally the client's snapshot ack, so a playing client needs no
// separate ack datagram.
import { BitReader, BitWriter } from './bits.ts';
import { DecodeError } from './errors.ts';
import { MsgType } from './ids.ts';
import type { NetSchema } from './schema.ts';

/** Most inputs one packet may carry. */
export const MAX_INPUTS_PER_PACKET = 16;

/** Header bytes before the bit-packed inputs (no ack): type u8, newestSeq u16, newestTick u32, count/flags u8. */
export const INPUT_HEADER_BYTES = 8;

/** Bytes the snapshot ack adds to an input packet that carries one (tick u32, bits u32). */
export const INPUT_ACK_BYTES = 8;

/** Bit of the count byte saying a snapshot ack follows the header. */
export const INPUT_FLAG_ACK = 0x80;

/** Bits of the count byte that hold the count (1..16). */
const COUNT_MASK = 0x1f;

/** A decoded input packet; `values` holds count x inputFields quantized values, newest first. */
export interface InputPacket {
  newestSeq: number;
  /** Server tick the client wants its newest input applied at. */
  newestTick: number;
  count: number;
  /** True when the packet carries a snapshot ack (ackTick, ackBits). */
  hasAck: boolean;
  /** The ack's newest complete snapshot tick (SNAPSHOT_ACK_NONE = none yet), as in a SnapshotAck message. */
  ackTick: number;
  /** The ack's window bits, as in a SnapshotAck message. */
  ackBits: number;
  /** Quantized field values, `count * schema.inputFields.length` long, newest input first. */
  readonly values: Uint32Array;
}

/** Allocates a reusable InputPacket for a schema. */
export function createInputPacket(schema: NetSchema): InputPacket {
  return { newestSeq: 0, newestTick: 0, count: 0, hasAck: false, ackTick: 0, ackBits: 0, values: new Uint32Array(MAX_INPUTS_PER_PACKET * schema.inputFields.length) };
}

/**
 * Encodes an input packet into `w` (reset first). `values` holds `count` inputs, newest first,
 * each `schema.inputFields.length` quantized values. With `hasAck`, the snapshot ack
 * (`ackTick`, `ackBits`) rides along.
 */
export function writeInputPacket(
  w: BitWriter, schema: NetSchema, newestSeq: number, newestTick: number, count: number, values: ArrayLike<number>,
  hasAck = false, ackTick = 0, ackBits = 0,
): Uint8Array {
  if (count < 1 || count > MAX_INPUTS_PER_PACKET) throw new RangeError(`input count ${count} outside 1..${MAX_INPUTS_PER_PACKET}`);
  w.reset();
  w.writeBits(MsgType.Input, 8);
  w.writeBits(newestSeq & 0xffff, 16);
  w.writeBits(newestTick >>> 0, 32);
  w.writeBits(count | (hasAck ? INPUT_FLAG_ACK : 0), 8);
  if (hasAck) {
    w.writeBits(ackTick >>> 0, 32);
    w.writeBits(ackBits >>> 0, 32);
  }
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
  const countByte = r.readBits(8, 'count');
  if ((countByte & ~(COUNT_MASK | INPUT_FLAG_ACK)) !== 0) throw new DecodeError('flags', 56, `reserved bits set in count byte 0x${countByte.toString(16)}`);
  const count = countByte & COUNT_MASK;
  if (count < 1 || count > MAX_INPUTS_PER_PACKET) throw new DecodeError('count', 56, `count ${count} outside 1..${MAX_INPUTS_PER_PACKET}`);
  out.count = count;
  out.hasAck = (countByte & INPUT_FLAG_ACK) !== 0;
  if (out.hasAck) {
    out.ackTick = r.readBits(32, 'ackTick');
    out.ackBits = r.readBits(32, 'ackBits');
  } else {
    out.ackTick = 0;
    out.ackBits = 0;
  }
  const nf = schema.inputFields.length;
  for (let i = 0; i < count; i++) {
    for (let f = 0; f < nf; f++) {
      const q = schema.inputFields[f].q;
      out.values[i * nf + f] = r.readRange(q.bits, 0, q.maxQ, schema.inputFields[f].name);
    }
  }
  r.expectEnd('end');
  return out;
}
