// Snapshot frames (the quantized replicated state at one tick, with per-tick rates of the
// extrapolated fields), the snapshot packet header, and snapshot acknowledgements.
import { bitsFor } from './bits.ts';
import { DecodeError } from './errors.ts';
import { MsgType } from './ids.ts';
import type { NetSchema } from './schema.ts';
import type { Quantizer } from './quantize.ts';

/**
 * The wire layout a schema implies, computed once per schema: which fields carry a rate (are
 * extrapolated), the order of a record's slots, and the widths the snapshot codec uses.
 */
export interface SnapshotLayout {
  readonly schema: NetSchema;
  /** Networked components. */
  readonly nc: number;
  /** Networked fields. */
  readonly nf: number;
  /** Rated (extrapolated) fields. */
  readonly nr: number;
  /** Slots per record: nr rate slots first, then nf value slots. */
  readonly ns: number;
  /** Field index of each rate slot. */
  readonly rateField: Int32Array;
  /** Rate index of each field, or -1 when the field has no rate. */
  readonly rateOfField: Int32Array;
  /** Component index of each slot (rate slots, then value slots). */
  readonly slotComp: Int32Array;
  /** Quantizer of each field. */
  readonly q: readonly Quantizer[];
  /** Bits of an entity count or row index: bitsFor(maxEntities). */
  readonly countBits: number;
  /** Bits of an entity id. */
  readonly idBits: number;
}

const layouts = new WeakMap<NetSchema, SnapshotLayout>();

/**
 * True when a field is extrapolated with a per-tick rate: fixed-point fields of 2..30 bits, which
 * are continuous quantities such as positions. Step-like fields (angles, counters, flags) are not.
 */
export function isRatedQuantizer(q: Quantizer): boolean {
  return q.kind === 'fixed' && q.bits >= 2 && q.bits <= 30;
}

/** The snapshot layout of a schema (cached per schema object). */
export function snapshotLayout(schema: NetSchema): SnapshotLayout {
  const cached = layouts.get(schema);
  if (cached) return cached;
  const nf = schema.fields.length;
  const rated: number[] = [];
  const rateOfField = new Int32Array(nf).fill(-1);
  for (let f = 0; f < nf; f++) {
    if (isRatedQuantizer(schema.fields[f].q)) {
      rateOfField[f] = rated.length;
      rated.push(f);
    }
  }
  const nr = rated.length;
  const slotComp = new Int32Array(nr + nf);
  for (let r = 0; r < nr; r++) slotComp[r] = schema.fields[rated[r]].compIndex;
  for (let f = 0; f < nf; f++) slotComp[nr + f] = schema.fields[f].compIndex;
  const countBits = bitsFor(schema.maxEntities);
  if (schema.maxEntities > 65536) throw new RangeError(`snapshots support at most 65536 entities (got ${schema.maxEntities})`);
  const layout: SnapshotLayout = {
    schema, nc: schema.components.length, nf, nr, ns: nr + nf, rateField: Int32Array.from(rated), rateOfField, slotComp,
    q: schema.fields.map((f) => f.q), countBits, idBits: schema.idBits,
  };
  layouts.set(schema, layout);
  return layout;
}

/**
 * The replicated state at one tick, as quantized integers: entities sorted by id, each with a mask
 * of the networked components it has, one value per networked field (0 where absent) and, for
 * each rated field, its rate: the change of the quantized value over the last simulation tick
 * (0 where absent). Rates are part of the state both sides hold, so either side can extrapolate.
 */
export class SnapshotFrame {
  /** Simulation tick this state belongs to. */
  tick = 0;
  /** Number of entities. */
  count = 0;
  /**
   * False for a display-only frame assembled from some parts of a split snapshot, with the missing
   * entities extrapolated from an older frame; such a frame is never acknowledged or used as a baseline.
   */
  complete = true;
  /** Entity ids, ascending. */
  ids: Uint16Array;
  /** Networked-component presence bits per entity. */
  masks: Uint32Array;
  /** Quantized values, row-major: values[i * fieldCount + f]. */
  values: Uint32Array;
  /** Per-tick rates of the rated fields, row-major: rates[i * rateCount + r]. */
  rates: Int32Array;
  readonly fieldCount: number;
  readonly rateCount: number;
  /** Largest capacity this frame may grow to (the schema's maxEntities). */
  readonly maxCapacity: number;

  /** Allocates a frame for `capacity` entities (default the schema's maxEntities); it grows on demand. */
  constructor(schema: NetSchema, capacity = schema.maxEntities) {
    const layout = snapshotLayout(schema);
    this.fieldCount = layout.nf;
    this.rateCount = layout.nr;
    this.maxCapacity = schema.maxEntities;
    const cap = Math.max(1, Math.min(capacity, schema.maxEntities));
    this.ids = new Uint16Array(cap);
    this.masks = new Uint32Array(cap);
    this.values = new Uint32Array(cap * this.fieldCount);
    this.rates = new Int32Array(cap * this.rateCount);
  }

  /** Entity capacity. */
  get capacity(): number {
    return this.ids.length;
  }

  /**
   * Makes room for `n` entities, keeping the content; grows by doubling (so it allocates rarely,
   * never in steady state). Throws a RangeError beyond maxCapacity (callers validate first).
   */
  ensureCapacity(n: number): void {
    if (n <= this.ids.length) return;
    if (n > this.maxCapacity) throw new RangeError(`frame capacity ${n} exceeds maxEntities ${this.maxCapacity}`);
    const cap = Math.min(this.maxCapacity, Math.max(n, this.ids.length * 2));
    const ids = new Uint16Array(cap);
    ids.set(this.ids);
    const masks = new Uint32Array(cap);
    masks.set(this.masks);
    const values = new Uint32Array(cap * this.fieldCount);
    values.set(this.values);
    const rates = new Int32Array(cap * this.rateCount);
    rates.set(this.rates);
    this.ids = ids;
    this.masks = masks;
    this.values = values;
    this.rates = rates;
  }

  /** Copies another frame of the same schema into this one (growing if needed). */
  copyFrom(o: SnapshotFrame): void {
    this.ensureCapacity(o.count);
    this.tick = o.tick;
    this.count = o.count;
    this.complete = o.complete;
    this.ids.set(o.ids.subarray(0, o.count));
    this.masks.set(o.masks.subarray(0, o.count));
    this.values.set(o.values.subarray(0, o.count * this.fieldCount));
    this.rates.set(o.rates.subarray(0, o.count * this.rateCount));
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

  /** Index of the first entity whose id is >= `id` (count when none). */
  lowerBound(id: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.ids[mid] < id) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** True when both frames hold the same entities with the same values (tick and rates are not compared). */
  sameState(o: SnapshotFrame): boolean {
    if (this.count !== o.count) return false;
    for (let i = 0; i < this.count; i++) if (this.ids[i] !== o.ids[i] || this.masks[i] !== o.masks[i]) return false;
    const n = this.count * this.fieldCount;
    for (let i = 0; i < n; i++) if (this.values[i] !== o.values[i]) return false;
    return true;
  }

  /** True when both frames hold the same state and the same rates (what a delta baseline must match). */
  sameFrame(o: SnapshotFrame): boolean {
    if (!this.sameState(o)) return false;
    const n = this.count * this.rateCount;
    for (let i = 0; i < n; i++) if (this.rates[i] !== o.rates[i]) return false;
    return true;
  }
}

/** Snapshot encodings (low two bits of the flags byte). Full = entity section against the empty frame. */
export const SnapshotKind = { Full: 0, Delta: 1 } as const;

/** Header bytes of a full snapshot packet. */
export const SNAPSHOT_FULL_HEADER_BYTES = 10;
/** Header bytes of a delta snapshot packet (a full header plus the u16 baseline age). */
export const SNAPSHOT_DELTA_HEADER_BYTES = 12;
/** Largest snapshot header, in bytes. */
export const SNAPSHOT_HEADER_BYTES = SNAPSHOT_DELTA_HEADER_BYTES;
/** Most parts one snapshot may be split into. */
export const MAX_SNAPSHOT_PARTS = 255;
/** Most ticks between a delta's baseline and its tick (the u16 baseline age). */
export const MAX_BASELINE_AGE_TICKS = 65535;

const FLAG_HAS_INPUT_ACK = 4;

/** Header bytes of a snapshot of `kind`. */
export function snapshotHeaderBytes(kind: number): number {
  return kind === SnapshotKind.Delta ? SNAPSHOT_DELTA_HEADER_BYTES : SNAPSHOT_FULL_HEADER_BYTES;
}

/** Per-client header fields every snapshot packet carries. */
export interface SnapshotHeader {
  /** SnapshotKind: 0 full, 1 delta. */
  kind: number;
  /** Room tick of the state. */
  tick: number;
  /** Sequence of the client's last applied input (valid when hasInputAck). */
  inputAck: number;
  hasInputAck: boolean;
}

/** A whole snapshot packet header: the per-client fields plus part and baseline information. */
export interface SnapshotPacketHeader extends SnapshotHeader {
  /** Tick of the baseline a delta is encoded against (-1 for a full snapshot). */
  baselineTick: number;
  /** This packet's part, 0..partCount-1. */
  partIndex: number;
  /** Parts the snapshot was split into, 1..255. */
  partCount: number;
  /** Byte offset of the entity section (the header length). */
  bodyOffset: number;
}

/** A zeroed packet header with its full shape. */
export function newSnapshotHeader(): SnapshotPacketHeader {
  return { kind: 0, tick: 0, inputAck: 0, hasInputAck: false, baselineTick: -1, partIndex: 0, partCount: 1, bodyOffset: SNAPSHOT_FULL_HEADER_BYTES };
}

/**
 * Writes a snapshot packet header at `out[at..]` (default offset 0): type u8, flags u8 (bits 0-1
 * kind, bit 2 input ack valid), tick u32, inputAck u16, partIndex u8, partCount u8 and, for deltas,
 * the baseline age u16 (tick - baselineTick). Little-endian. Defaults: part 0 of 1.
 */
export function writeSnapshotHeader(
  out: Uint8Array, kind: number, tick: number, inputAck: number, hasInputAck: boolean,
  partIndex = 0, partCount = 1, baselineTick = -1, at = 0,
): void {
  out[at] = MsgType.Snapshot;
  out[at + 1] = kind | (hasInputAck ? FLAG_HAS_INPUT_ACK : 0);
  out[at + 2] = tick & 0xff;
  out[at + 3] = (tick >>> 8) & 0xff;
  out[at + 4] = (tick >>> 16) & 0xff;
  out[at + 5] = (tick >>> 24) & 0xff;
  out[at + 6] = inputAck & 0xff;
  out[at + 7] = (inputAck >>> 8) & 0xff;
  out[at + 8] = partIndex;
  out[at + 9] = partCount;
  if (kind === SnapshotKind.Delta) {
    const age = tick - baselineTick;
    if (!(age >= 1 && age <= MAX_BASELINE_AGE_TICKS)) throw new RangeError(`baseline age ${age} outside 1..${MAX_BASELINE_AGE_TICKS}`);
    out[at + 10] = age & 0xff;
    out[at + 11] = (age >>> 8) & 0xff;
  }
}

/** Rewrites only the per-client fields (input ack) of a header written by writeSnapshotHeader. */
export function patchSnapshotClientFields(out: Uint8Array, at: number, inputAck: number, hasInputAck: boolean): void {
  out[at + 1] = (out[at + 1] & 3) | (hasInputAck ? FLAG_HAS_INPUT_ACK : 0);
  out[at + 6] = inputAck & 0xff;
  out[at + 7] = (inputAck >>> 8) & 0xff;
}

/** Reads the per-client header fields; throws DecodeError on a short or malformed header. */
export function readSnapshotHeader<H extends SnapshotHeader>(bytes: Uint8Array, out: H): H {
  if (bytes.length < SNAPSHOT_FULL_HEADER_BYTES) throw new DecodeError('header', 0, `needs ${SNAPSHOT_FULL_HEADER_BYTES} bytes, got ${bytes.length}`);
  if (bytes[0] !== MsgType.Snapshot) throw new DecodeError('type', 0, 'not a snapshot');
  const flags = bytes[1];
  const kind = flags & 3;
  if (kind > SnapshotKind.Delta) throw new DecodeError('flags.kind', 8, `unknown snapshot kind ${kind}`);
  if ((flags & ~7) !== 0) throw new DecodeError('flags', 8, 'unknown flag bits');
  out.kind = kind;
  out.hasInputAck = (flags & FLAG_HAS_INPUT_ACK) !== 0;
  out.tick = (bytes[2] | (bytes[3] << 8) | (bytes[4] << 16) | (bytes[5] << 24)) >>> 0;
  out.inputAck = bytes[6] | (bytes[7] << 8);
  return out;
}

/** Reads a whole packet header (per-client fields, part, baseline); throws DecodeError when malformed. */
export function readSnapshotPacketHeader(bytes: Uint8Array, out: SnapshotPacketHeader): SnapshotPacketHeader {
  readSnapshotHeader(bytes, out);
  const partIndex = bytes[8];
  const partCount = bytes[9];
  if (partCount < 1) throw new DecodeError('partCount', 72, 'must be at least 1');
  if (partIndex >= partCount) throw new DecodeError('partIndex', 64, `part ${partIndex} of ${partCount}`);
  out.partIndex = partIndex;
  out.partCount = partCount;
  if (out.kind === SnapshotKind.Delta) {
    if (bytes.length < SNAPSHOT_DELTA_HEADER_BYTES) throw new DecodeError('baselineAge', 80, `delta header needs ${SNAPSHOT_DELTA_HEADER_BYTES} bytes, got ${bytes.length}`);
    const age = bytes[10] | (bytes[11] << 8);
    if (age === 0 || age > out.tick) throw new DecodeError('baselineAge', 80, `age ${age} at tick ${out.tick}`);
    out.baselineTick = out.tick - age;
    out.bodyOffset = SNAPSHOT_DELTA_HEADER_BYTES;
  } else {
    out.baselineTick = -1;
    out.bodyOffset = SNAPSHOT_FULL_HEADER_BYTES;
  }
  return out;
}

/** Bytes of a snapshot ack: type u8, newest complete tick u32, bitfield u32 of the 32 snapshots before it. */
export const SNAPSHOT_ACK_BYTES = 9;

/** The ack tick meaning "no complete snapshot yet" (never a valid tick, so the server ignores it). */
export const SNAPSHOT_ACK_NONE = 0xffffffff;

/** A decoded snapshot ack. Bit i of `bits` set = the snapshot `i + 1` snapshot intervals before `tick` arrived complete. */
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
