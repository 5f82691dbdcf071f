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

/**
 * One field of the snapshot packet header: name (as DecodeError reports it), bit offset from the
 * packet start, width in bits (1..7 within one byte, or a byte-aligned 8, 16 or 32).
 */
export interface HeaderField {
  readonly name: string;
  readonly offset: number;
  readonly bits: number;
}

/**
 * The snapshot packet header, field by field, in wire order (PROTOCOL.md, ### Header): the one place
 * its offsets and widths are stated. The writer, both readers and the per-client patch all go
 * through it. Fields of 8 bits or more are byte-aligned little-endian; the narrower ones share the
 * flags byte, LSB first. baselineAge is present in deltas only.
 */
export const SNAPSHOT_HEADER = {
  type: { name: 'type', offset: 0, bits: 8 },
  kind: { name: 'flags.kind', offset: 8, bits: 2 },
  hasInputAck: { name: 'flags.inputAck', offset: 10, bits: 1 },
  flagsUnused: { name: 'flags', offset: 11, bits: 5 },
  tick: { name: 'tick', offset: 16, bits: 32 },
  inputAck: { name: 'inputAck', offset: 48, bits: 16 },
  partIndex: { name: 'partIndex', offset: 64, bits: 8 },
  partCount: { name: 'partCount', offset: 72, bits: 8 },
  baselineAge: { name: 'baselineAge', offset: 80, bits: 16 },
} as const satisfies Record<string, HeaderField>;

const HDR = SNAPSHOT_HEADER;
/** Bit offset of the flags byte, where its errors are reported. */
const FLAGS_BIT = HDR.kind.offset & ~7;

/** Header bytes of a full snapshot packet: every field up to the delta-only baseline age. */
export const SNAPSHOT_FULL_HEADER_BYTES = HDR.baselineAge.offset / 8;
/** Header bytes of a delta snapshot packet (a full header plus the u16 baseline age). */
export const SNAPSHOT_DELTA_HEADER_BYTES = (HDR.baselineAge.offset + HDR.baselineAge.bits) / 8;
/** Largest snapshot header, in bytes. */
export const SNAPSHOT_HEADER_BYTES = SNAPSHOT_DELTA_HEADER_BYTES;
/** Most parts one snapshot may be split into (the u8 partCount). */
export const MAX_SNAPSHOT_PARTS = 2 ** HDR.partCount.bits - 1;
/** Most ticks between a delta's baseline and its tick (the u16 baseline age). */
export const MAX_BASELINE_AGE_TICKS = 2 ** HDR.baselineAge.bits - 1;

/** Reads header field `f` of the packet at `bytes[at..]` (unsigned). */
function getField(bytes: Uint8Array, at: number, f: HeaderField): number {
  const i = at + (f.offset >>> 3);
  switch (f.bits) {
    case 8:
      return bytes[i];
    case 16:
      return bytes[i] | (bytes[i + 1] << 8);
    case 32:
      return (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) >>> 0;
    default:
      return (bytes[i] >>> (f.offset & 7)) & ((1 << f.bits) - 1);
  }
}

/** Writes header field `f` of the packet at `out[at..]`: the low `f.bits` bits of `value`, other bits of a shared byte kept. */
function putField(out: Uint8Array, at: number, f: HeaderField, value: number): void {
  const i = at + (f.offset >>> 3);
  if (f.bits < 8) {
    const shift = f.offset & 7;
    const mask = ((1 << f.bits) - 1) << shift;
    out[i] = (out[i] & ~mask) | ((value << shift) & mask);
    return;
  }
  out[i] = value & 0xff;
  if (f.bits >= 16) out[i + 1] = (value >>> 8) & 0xff;
  if (f.bits >= 32) {
    out[i + 2] = (value >>> 16) & 0xff;
    out[i + 3] = (value >>> 24) & 0xff;
  }
}

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
 * Writes a snapshot packet header (the fields of SNAPSHOT_HEADER) at `out[at..]` (default offset 0);
 * for deltas the baseline age is tick - baselineTick. Defaults: part 0 of 1.
 */
export function writeSnapshotHeader(
  out: Uint8Array, kind: number, tick: number, inputAck: number, hasInputAck: boolean,
  partIndex = 0, partCount = 1, baselineTick = -1, at = 0,
): void {
  putField(out, at, HDR.type, MsgType.Snapshot);
  putField(out, at, HDR.kind, kind);
  putField(out, at, HDR.hasInputAck, hasInputAck ? 1 : 0);
  putField(out, at, HDR.flagsUnused, 0);
  putField(out, at, HDR.tick, tick);
  putField(out, at, HDR.inputAck, inputAck);
  putField(out, at, HDR.partIndex, partIndex);
  putField(out, at, HDR.partCount, partCount);
  if (kind === SnapshotKind.Delta) {
    const age = tick - baselineTick;
    if (!(age >= 1 && age <= MAX_BASELINE_AGE_TICKS)) throw new RangeError(`baseline age ${age} outside 1..${MAX_BASELINE_AGE_TICKS}`);
    putField(out, at, HDR.baselineAge, age);
  }
}

/** Rewrites only the per-client fields (input ack) of a header written by writeSnapshotHeader. */
export function patchSnapshotClientFields(out: Uint8Array, at: number, inputAck: number, hasInputAck: boolean): void {
  putField(out, at, HDR.hasInputAck, hasInputAck ? 1 : 0);
  putField(out, at, HDR.inputAck, inputAck);
}

/** Reads the per-client header fields; throws DecodeError on a short or malformed header. */
export function readSnapshotHeader<H extends SnapshotHeader>(bytes: Uint8Array, out: H): H {
  if (bytes.length < SNAPSHOT_FULL_HEADER_BYTES) throw new DecodeError('header', 0, `needs ${SNAPSHOT_FULL_HEADER_BYTES} bytes, got ${bytes.length}`);
  if (getField(bytes, 0, HDR.type) !== MsgType.Snapshot) throw new DecodeError(HDR.type.name, HDR.type.offset, 'not a snapshot');
  const kind = getField(bytes, 0, HDR.kind);
  if (kind > SnapshotKind.Delta) throw new DecodeError(HDR.kind.name, FLAGS_BIT, `unknown snapshot kind ${kind}`);
  if (getField(bytes, 0, HDR.flagsUnused) !== 0) throw new DecodeError(HDR.flagsUnused.name, FLAGS_BIT, 'unknown flag bits');
  out.kind = kind;
  out.hasInputAck = getField(bytes, 0, HDR.hasInputAck) === 1;
  out.tick = getField(bytes, 0, HDR.tick);
  out.inputAck = getField(bytes, 0, HDR.inputAck);
  return out;
}

/** Reads a whole packet header (per-client fields, part, baseline); throws DecodeError when malformed. */
export function readSnapshotPacketHeader(bytes: Uint8Array, out: SnapshotPacketHeader): SnapshotPacketHeader {
  readSnapshotHeader(bytes, out);
  const partIndex = getField(bytes, 0, HDR.partIndex);
  const partCount = getField(bytes, 0, HDR.partCount);
  if (partCount < 1) throw new DecodeError(HDR.partCount.name, HDR.partCount.offset, 'must be at least 1');
  if (partIndex >= partCount) throw new DecodeError(HDR.partIndex.name, HDR.partIndex.offset, `part ${partIndex} of ${partCount}`);
  out.partIndex = partIndex;
  out.partCount = partCount;
  if (out.kind === SnapshotKind.Delta) {
    if (bytes.length < SNAPSHOT_DELTA_HEADER_BYTES) throw new DecodeError(HDR.baselineAge.name, HDR.baselineAge.offset, `delta header needs ${SNAPSHOT_DELTA_HEADER_BYTES} bytes, got ${bytes.length}`);
    const age = getField(bytes, 0, HDR.baselineAge);
    if (age === 0 || age > out.tick) throw new DecodeError(HDR.baselineAge.name, HDR.baselineAge.offset, `age ${age} at tick ${out.tick}`);
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
  // A buffer of exactly the ack size is returned as it is: acking allocates nothing.
  return out.length === SNAPSHOT_ACK_BYTES ? out : out.subarray(0, SNAPSHOT_ACK_BYTES);
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
