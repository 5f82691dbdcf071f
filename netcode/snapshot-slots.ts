// The slot and ack rules every snapshot client follows: a fixed ring of snapshot ticks (which parts
// arrived, which are complete), which packets to drop, which slot to reuse, and the ack it sends.
import { DecodeError } from '../shared/protocol/errors.ts';
import {
  MAX_SNAPSHOT_PARTS, SNAPSHOT_ACK_BYTES, SNAPSHOT_ACK_NONE, SnapshotKind, writeSnapshotAck, type SnapshotPacketHeader,
} from '../shared/protocol/snapshot.ts';

/** What a client did with one snapshot packet. */
export type SnapshotOutcome = 'complete' | 'partial' | 'duplicate' | 'stale' | 'missingBaseline';

/** admit()'s answer: 'ok' = decode the packet, else why it is dropped. */
export type SlotAdmission = 'ok' | 'duplicate' | 'missingBaseline';

/** Slot state: unused. */
export const SLOT_FREE = 0;
/** Slot state: some parts received. */
export const SLOT_ASSEMBLING = 1;
/** Slot state: every part received (a baseline candidate, acknowledged). */
export const SLOT_COMPLETE = 2;

/**
 * Snapshot slots by tick, as metadata only (no frames): a slot is an index 0..length-1, so a
 * decoding client keeps its frames in a parallel array while a header-only client keeps nothing
 * else. SnapshotReceiver (decoding) and the thin bots' ThinSnapshotTracker (header only) both run
 * on it, so the two cannot disagree on what is acknowledged.
 *
 * A packet goes through admit() (drop or decode?), then open() (its slot, claiming one for a new
 * tick; -1 = stale), then, once the caller has used the packet, addPart() and complete(). Nothing
 * changes before open(); a decoding caller that fails after opening a fresh slot calls free().
 *
 * Everything lives in typed arrays allocated once: nothing here allocates per packet.
 */
export class SnapshotSlots {
  /** Newest complete tick, or -1. */
  newestTick = -1;
  /** After admit() returned 'ok': the slot of the delta's baseline, or -1 for a full snapshot. */
  baseSlot = -1;
  /** After open(): true when the slot was claimed for this packet (a new tick). */
  fresh = false;
  /** Slots in the ring. */
  readonly length: number;
  private readonly states: Uint8Array;
  private readonly ticks: Float64Array;
  private readonly kinds: Uint8Array;
  private readonly baselines: Float64Array;
  private readonly partCounts: Uint16Array;
  private readonly partsGot: Uint16Array;
  private readonly got: Uint8Array;
  /** The slot admit() found for the packet's tick, or -1 (a new tick). */
  private found = -1;
  private readonly ackBytes = new Uint8Array(SNAPSHOT_ACK_BYTES);

  /**
   * @param ticksPerSnapshot ticks between snapshots (the ack bitfield's step)
   * @param ringLength snapshots kept (at least 2: the newest complete one and one being assembled)
   */
  constructor(
    readonly ticksPerSnapshot: number,
    ringLength: number,
  ) {
    const n = Math.max(2, ringLength);
    this.length = n;
    this.states = new Uint8Array(n);
    this.ticks = new Float64Array(n).fill(-1);
    this.kinds = new Uint8Array(n);
    this.baselines = new Float64Array(n).fill(-1);
    this.partCounts = new Uint16Array(n);
    this.partsGot = new Uint16Array(n);
    this.got = new Uint8Array(n * MAX_SNAPSHOT_PARTS);
  }

  /** SLOT_FREE, SLOT_ASSEMBLING or SLOT_COMPLETE. */
  state(slot: number): number {
    return this.states[slot];
  }

  /** The slot's tick (-1 when free). */
  tick(slot: number): number {
    return this.ticks[slot];
  }

  /** The slot's snapshot kind (SnapshotKind). */
  kind(slot: number): number {
    return this.kinds[slot];
  }

  /** The slot's delta baseline tick (-1 for a full snapshot). */
  baselineTick(slot: number): number {
    return this.baselines[slot];
  }

  /** Parts of the slot's snapshot. */
  partCount(slot: number): number {
    return this.partCounts[slot];
  }

  /** Parts received so far. */
  partsReceived(slot: number): number {
    return this.partsGot[slot];
  }

  /** True when part `part` of the slot's snapshot was received. */
  hasPart(slot: number, part: number): boolean {
    return this.got[slot * MAX_SNAPSHOT_PARTS + part] !== 0;
  }

  /** The slot holding `tick` (complete or not), or -1. */
  find(tick: number): number {
    const states = this.states;
    const ticks = this.ticks;
    for (let i = 0; i < states.length; i++) if (states[i] !== SLOT_FREE && ticks[i] === tick) return i;
    return -1;
  }

  /** The slot holding the complete snapshot of `tick`, or -1. */
  findComplete(tick: number): number {
    const states = this.states;
    const ticks = this.ticks;
    for (let i = 0; i < states.length; i++) if (states[i] === SLOT_COMPLETE && ticks[i] === tick) return i;
    return -1;
  }

  /** The newest tick held, complete or not, or -1. */
  newestAnyTick(): number {
    let newest = -1;
    const states = this.states;
    const ticks = this.ticks;
    for (let i = 0; i < states.length; i++) if (states[i] !== SLOT_FREE && ticks[i] > newest) newest = ticks[i];
    return newest;
  }

  /** The slot of the newest complete snapshot older than `tick`, or -1. */
  newestCompleteBefore(tick: number): number {
    let best = -1;
    const states = this.states;
    const ticks = this.ticks;
    for (let i = 0; i < states.length; i++) {
      if (states[i] === SLOT_COMPLETE && ticks[i] < tick && (best < 0 || ticks[i] > ticks[best])) best = i;
    }
    return best;
  }

  /**
   * Whether a packet with header `h` is to be used: 'duplicate' when its snapshot is complete or
   * its part was received, 'missingBaseline' for a delta whose baseline is not held complete,
   * else 'ok' (then baseSlot is the baseline's slot). Throws DecodeError when the packet
   * disagrees with earlier parts of its tick on kind, baseline or part count. Changes no slot.
   */
  admit(h: SnapshotPacketHeader): SlotAdmission {
    const slot = this.find(h.tick);
    this.found = slot;
    this.baseSlot = -1;
    if (slot >= 0) {
      if (this.states[slot] === SLOT_COMPLETE) return 'duplicate';
      if (this.kinds[slot] !== h.kind || this.baselines[slot] !== h.baselineTick || this.partCounts[slot] !== h.partCount) {
        throw new DecodeError('part', 64, `part of tick ${h.tick} disagrees with the parts before it`);
      }
      if (this.got[slot * MAX_SNAPSHOT_PARTS + h.partIndex]) return 'duplicate';
    }
    if (h.kind === SnapshotKind.Delta) {
      this.baseSlot = this.findComplete(h.baselineTick);
      if (this.baseSlot < 0) return 'missingBaseline';
    }
    return 'ok';
  }

  /**
   * The slot for the packet admit() just accepted (same header): its tick's slot, or a slot
   * claimed and reset for a new tick (fresh = true), or -1 when the tick is older than every slot
   * that may be reused (a stale packet).
   */
  open(h: SnapshotPacketHeader): number {
    if (this.found >= 0) {
      this.fresh = false;
      return this.found;
    }
    const slot = this.claim(h.tick, this.baseSlot);
    this.fresh = slot >= 0;
    if (slot < 0) return -1;
    this.states[slot] = SLOT_ASSEMBLING;
    this.ticks[slot] = h.tick;
    this.kinds[slot] = h.kind;
    this.baselines[slot] = h.baselineTick;
    this.partCounts[slot] = h.partCount;
    this.partsGot[slot] = 0;
    this.got.fill(0, slot * MAX_SNAPSHOT_PARTS, slot * MAX_SNAPSHOT_PARTS + h.partCount);
    return slot;
  }

  /** Records part `part` of the slot's snapshot as received; true when every part now is. */
  addPart(slot: number, part: number): boolean {
    this.got[slot * MAX_SNAPSHOT_PARTS + part] = 1;
    return ++this.partsGot[slot] === this.partCounts[slot];
  }

  /** Marks the slot's snapshot complete (a baseline, acknowledged). */
  complete(slot: number): void {
    this.states[slot] = SLOT_COMPLETE;
    if (this.ticks[slot] > this.newestTick) this.newestTick = this.ticks[slot];
  }

  /** Frees a slot (a snapshot that failed to decode). */
  free(slot: number): void {
    this.states[slot] = SLOT_FREE;
    this.ticks[slot] = -1;
  }

  /**
   * The ack for every complete snapshot held: the newest complete tick and bit i set when the
   * snapshot i + 1 intervals before it is complete (the same buffer every call: valid until the next).
   */
  ack(): Uint8Array {
    if (this.newestTick < 0) {
      writeSnapshotAck(this.ackBytes, SNAPSHOT_ACK_NONE, 0);
      return this.ackBytes;
    }
    let bits = 0;
    for (let i = 0; i < 32; i++) {
      const t = this.newestTick - (i + 1) * this.ticksPerSnapshot;
      if (t >= 0 && this.findComplete(t) >= 0) bits |= 1 << i;
    }
    writeSnapshotAck(this.ackBytes, this.newestTick, bits >>> 0);
    return this.ackBytes;
  }

  /**
   * A slot for a new tick: a free one, else the oldest except the newest complete snapshot (the
   * baseline the server is most likely using) and `keep` (the baseline being decoded against).
   * -1 when `tick` is older than all of them.
   */
  private claim(tick: number, keep: number): number {
    const states = this.states;
    const ticks = this.ticks;
    let oldest = -1;
    for (let i = 0; i < states.length; i++) {
      if (states[i] === SLOT_FREE) return i;
      if ((states[i] === SLOT_COMPLETE && ticks[i] === this.newestTick) || i === keep) continue;
      if (oldest < 0 || ticks[i] < ticks[oldest]) oldest = i;
    }
    if (oldest < 0 || ticks[oldest] > tick) return -1;
    this.free(oldest);
    return oldest;
  }
}
