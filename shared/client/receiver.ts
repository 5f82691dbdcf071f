// Client side of snapshots: decodes packets into frames kept by tick, and builds the ack
// (newest tick + bitfield of the 32 snapshot intervals before it) sent back to the server.
import { BitReader } from '../protocol/bits.ts';
import { DecodeError } from '../protocol/errors.ts';
import { readFullBody, readSnapshotHeader, SNAPSHOT_HEADER_BYTES, SnapshotFrame, SnapshotKind, writeSnapshotAck, type SnapshotHeader } from '../protocol/snapshot.ts';
import type { NetSchema } from '../protocol/schema.ts';

/** Decoded snapshots, newest last, in a fixed ring of frames. */
export class SnapshotReceiver {
  private readonly frames: SnapshotFrame[];
  private readonly reader = new BitReader();
  readonly header: SnapshotHeader = { kind: 0, tick: 0, inputAck: 0, hasInputAck: false };
  private readonly ackBytes = new Uint8Array(16);
  private next = 0;
  /** Newest tick received, or -1. */
  newestTick = -1;
  /** Counters. */
  received = 0;
  duplicates = 0;
  stale = 0;
  decodeErrors = 0;

  constructor(
    readonly schema: NetSchema,
    /** Ticks between snapshots (tickRateHz / snapshotRateHz). */
    readonly ticksPerSnapshot: number,
    ringLength = 32,
  ) {
    this.frames = Array.from({ length: ringLength }, () => {
      const f = new SnapshotFrame(schema);
      f.tick = -1;
      return f;
    });
  }

  /** The stored frame for `tick`, or undefined. */
  get(tick: number): SnapshotFrame | undefined {
    for (const f of this.frames) if (f.tick === tick) return f;
    return undefined;
  }

  /** The newest decoded frame, or undefined. */
  latest(): SnapshotFrame | undefined {
    return this.newestTick < 0 ? undefined : this.get(this.newestTick);
  }

  /**
   * Decodes one snapshot packet. Returns the frame (owned by the receiver), or undefined for a
   * duplicate or a packet older than the ring. Throws DecodeError on malformed bytes.
   */
  receive(bytes: Uint8Array): SnapshotFrame | undefined {
    const h = readSnapshotHeader(bytes, this.header);
    if (this.get(h.tick)) {
      this.duplicates++;
      return undefined;
    }
    if (this.newestTick >= 0 && h.tick + this.frames.length * this.ticksPerSnapshot <= this.newestTick) {
      this.stale++;
      return undefined;
    }
    const frame = this.oldestSlot();
    frame.tick = -1; // invalid until fully decoded
    this.reader.reset(bytes, SNAPSHOT_HEADER_BYTES);
    if (h.kind === SnapshotKind.Full) {
      readFullBody(this.reader, this.schema, frame);
    } else {
      throw new DecodeError('kind', 8, `unsupported snapshot kind ${h.kind}`);
    }
    frame.tick = h.tick;
    if (h.tick > this.newestTick) this.newestTick = h.tick;
    this.received++;
    return frame;
  }

  private oldestSlot(): SnapshotFrame {
    let best = this.frames[0];
    for (const f of this.frames) if (f.tick < best.tick) best = f;
    return best;
  }

  /** Builds the ack for everything received so far (view valid until the next call). */
  ack(): Uint8Array {
    let bits = 0;
    for (let i = 0; i < 32; i++) {
      const t = this.newestTick - (i + 1) * this.ticksPerSnapshot;
      if (t >= 0 && this.get(t)) bits |= 1 << i;
    }
    return writeSnapshotAck(this.ackBytes, Math.max(0, this.newestTick), bits >>> 0);
  }
}
