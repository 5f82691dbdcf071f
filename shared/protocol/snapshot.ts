// Snapshot frames (the quantized replicated state at one tick) and their full (non-delta) wire form,
// plus snapshot acknowledgements. Delta encoding builds on the same frame.
import { BitReader, BitWriter, bitsFor } from './bits.ts';
import { DecodeError } from './errors.ts';
import { MsgType } from './ids.ts';
import type { NetSchema } from './schema.ts';

/**
 * The replicated state at one tick, as quantized integers: entities sorted by id, each with a mask
 * of the networked components it has and one value per networked field (0 where absent).
 */
export class SnapshotFrame {
  /** Simulation tick this state belongs to. */
  tick = 0;
  /** Number of entities. */
  count = 0;
  /** Entity ids, ascending. */
  readonly ids: Uint16Array;
  /** Networked-component presence bits per entity. */
  readonly masks: Uint32Array;
  /** Quantized values, row-major: values[i * fieldCount + f]. */
  readonly values: Uint32Array;
  readonly fieldCount: number;

  constructor(schema: NetSchema, capacity = schema.maxEntities) {
    this.fieldCount = schema.fields.length;
    this.ids = new Uint16Array(capacity);
    this.masks = new Uint32Array(capacity);
    this.values = new Uint32Array(capacity * this.fieldCount);
  }

  /** Entity capacity. */
  get capacity(): number {
    return this.ids.length;
  }

  /** Copies another frame of the same schema into this one. */
  copyFrom(o: SnapshotFrame): void {
    this.tick = o.tick;
    this.count = o.count;
    this.ids.set(o.ids.subarray(0, o.count));
    this.masks.set(o.masks.subarray(0, o.count));
    this.values.set(o.values.subarray(0, o.count * this.fieldCount));
  }

  /** Index of entity `id`, or -1 (binary search). */
  indexOf(id: number): number {
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.ids[mid];
      if (v === id) return mid;
      if (v < id) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** True when both frames hold the same entities with the same values (tick is not compared). */
  sameState(o: SnapshotFrame): boolean {
    if (this.count !== o.count) return false;
    for (let i = 0; i < this.count; i++) if (this.ids[i] !== o.ids[i] || this.masks[i] !== o.masks[i]) return false;
    const n = this.count * this.fieldCount;
    for (let i = 0; i < n; i++) if (this.values[i] !== o.values[i]) return false;
    return true;
  }
}

/** Snapshot encodings, in the byte after the type byte. */
export const SnapshotKind = { Full: 0, Delta: 1 } as const;

/** Header bytes of every snapshot: type u8, kind u8, tick u32, inputAck u16, flags u8 (bit0 = inputAck valid). */
export const SNAPSHOT_HEADER_BYTES = 9;

/** Per-client header fields. */
export interface SnapshotHeader {
  kind: number;
  tick: number;
  inputAck: number;
  hasInputAck: boolean;
}

/** Writes the byte-aligned per-client header into the first SNAPSHOT_HEADER_BYTES of `out`. */
export function writeSnapshotHeader(out: Uint8Array, kind: number, tick: number, inputAck: number, hasInputAck: boolean): void {
  out[0] = MsgType.Snapshot;
  out[1] = kind;
  out[2] = tick & 0xff;
  out[3] = (tick >>> 8) & 0xff;
  out[4] = (tick >>> 16) & 0xff;
  out[5] = (tick >>> 24) & 0xff;
  out[6] = inputAck & 0xff;
  out[7] = (inputAck >>> 8) & 0xff;
  out[8] = hasInputAck ? 1 : 0;
}

/** Reads the per-client header; throws DecodeError on a short or malformed header. */
export function readSnapshotHeader(bytes: Uint8Array, out: SnapshotHeader): SnapshotHeader {
  if (bytes.length < SNAPSHOT_HEADER_BYTES) throw new DecodeError('header', 0, `needs ${SNAPSHOT_HEADER_BYTES} bytes, got ${bytes.length}`);
  if (bytes[0] !== MsgType.Snapshot) throw new DecodeError('type', 0, 'not a snapshot');
  out.kind = bytes[1];
  out.tick = (bytes[2] | (bytes[3] << 8) | (bytes[4] << 16) | (bytes[5] << 24)) >>> 0;
  out.inputAck = bytes[6] | (bytes[7] << 8);
  if (bytes[8] > 1) throw new DecodeError('flags', 64, 'unknown flag bits');
  out.hasInputAck = bytes[8] === 1;
  return out;
}

/**
 * Writes the body of a full snapshot (every entity, every field) after the header. The body does
 * not depend on the client, so the server encodes it once per snapshot tick for all clients.
 *   count: bitsFor(maxEntities) bits; per entity: id (idBits), mask (components.length bits),
 *   then each present component's fields at their quantizer's width.
 */
export function writeFullBody(w: BitWriter, schema: NetSchema, frame: SnapshotFrame): void {
  const nc = schema.components.length;
  const nf = frame.fieldCount;
  w.writeBits(frame.count, bitsFor(schema.maxEntities));
  for (let i = 0; i < frame.count; i++) {
    const mask = frame.masks[i];
    w.writeBits(frame.ids[i], schema.idBits);
    w.writeBits(mask, nc);
    for (let ci = 0; ci < nc; ci++) {
      if ((mask & (1 << ci)) === 0) continue;
      const comp = schema.components[ci];
      for (let f = comp.firstField; f < comp.firstField + comp.fieldCount; f++) w.writeBits(frame.values[i * nf + f], schema.fields[f].q.bits);
    }
  }
}

/** Reads a full snapshot body into `frame`; ids must ascend; reads to exhaustion. */
export function readFullBody(r: BitReader, schema: NetSchema, frame: SnapshotFrame): void {
  const nc = schema.components.length;
  const nf = frame.fieldCount;
  const count = r.readRange(bitsFor(schema.maxEntities), 0, Math.min(schema.maxEntities, frame.capacity), 'count');
  let prev = -1;
  for (let i = 0; i < count; i++) {
    const id = r.readRange(schema.idBits, 0, schema.maxEntities - 1, 'entity.id');
    if (id <= prev) throw new DecodeError('entity.id', r.position(), 'ids must ascend');
    prev = id;
    const mask = r.readRange(nc, 0, 2 ** nc - 1, 'entity.mask');
    frame.ids[i] = id;
    frame.masks[i] = mask;
    for (let ci = 0; ci < nc; ci++) {
      const comp = schema.components[ci];
      const present = (mask & (1 << ci)) !== 0;
      for (let f = comp.firstField; f < comp.firstField + comp.fieldCount; f++) {
        const field = schema.fields[f];
        frame.values[i * nf + f] = present ? r.readRange(field.q.bits, 0, field.q.maxQ, field.field) : 0;
      }
    }
  }
  frame.count = count;
  r.expectEnd('end');
}

/** Bytes of a snapshot ack: type u8, newest received tick u32, bitfield u32 of the 32 snapshots before it. */
export const SNAPSHOT_ACK_BYTES = 9;

/** A decoded snapshot ack. Bit i of `bits` set = the snapshot `i + 1` snapshot intervals before `tick` arrived. */
export interface SnapshotAck {
  tick: number;
  bits: number;
}

/** Writes a snapshot ack into `out` (at least SNAPSHOT_ACK_BYTES long); returns the view written. */
export function writeSnapshotAck(out: Uint8Array, tick: number, bits: number): Uint8Array {
  out[0] = MsgType.SnapshotAck;
  out[1] = tick & 0xff;
  out[2] = (tick >>> 8) & 0xff;
  out[3] = (tick >>> 16) & 0xff;
  out[4] = (tick >>> 24) & 0xff;
  out[5] = bits & 0xff;
  out[6] = (bits >>> 8) & 0xff;
  out[7] = (bits >>> 16) & 0xff;
  out[8] = (bits >>> 24) & 0xff;
  return out.subarray(0, SNAPSHOT_ACK_BYTES);
}

/** Reads a snapshot ack from bytes [start, end); throws DecodeError unless exactly SNAPSHOT_ACK_BYTES long. */
export function readSnapshotAck(bytes: Uint8Array, out: SnapshotAck, start = 0, end = bytes.length): SnapshotAck {
  if (end - start !== SNAPSHOT_ACK_BYTES) throw new DecodeError('length', 0, `snapshot ack must be ${SNAPSHOT_ACK_BYTES} bytes, got ${end - start}`);
  const b = start;
  if (bytes[b] !== MsgType.SnapshotAck) throw new DecodeError('type', 0, 'not a snapshot ack');
  out.tick = (bytes[b + 1] | (bytes[b + 2] << 8) | (bytes[b + 3] << 16) | (bytes[b + 4] << 24)) >>> 0;
  out.bits = (bytes[b + 5] | (bytes[b + 6] << 8) | (bytes[b + 7] << 16) | (bytes[b + 8] << 24)) >>> 0;
  return out;
}

/** A reusable reader+writer pair sized for a schema's largest full snapshot. */
export function fullSnapshotCapacityBytes(schema: NetSchema): number {
  const perEntity = schema.idBits + schema.components.length + schema.fields.reduce((s, f) => s + f.q.bits, 0);
  return SNAPSHOT_HEADER_BYTES + Math.ceil((bitsFor(schema.maxEntities) + perEntity * schema.maxEntities) / 8) + 8;
}

export { BitReader, BitWriter };
