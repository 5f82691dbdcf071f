// Snapshot encoding behind one interface: the server asks for each client's packets at every
// snapshot tick. This full-snapshot encoder writes the entity section once for all clients.
import { BitWriter } from '../shared/protocol/bits.ts';
import { fullSnapshotCapacityBytes, SNAPSHOT_HEADER_BYTES, SnapshotKind, writeFullBody, writeSnapshotHeader, type SnapshotFrame } from '../shared/protocol/snapshot.ts';
import type { NetSchema } from '../shared/protocol/schema.ts';
import type { SnapshotHistory } from './history.ts';

/** What the encoder needs to know about one client. */
export interface SnapshotClient {
  /** Newest snapshot tick the client acknowledged, or -1 before any. */
  ackedTick: number;
  /** Bitfield of acknowledged snapshots before ackedTick (bit i = ackedTick - (i+1) * interval). */
  ackedBits: number;
  /** Sequence of the client's last applied input. */
  inputAck: number;
  /** False until the first input was applied. */
  hasInputAck: boolean;
}

/** Counters an encoder keeps (exported as metrics). */
export interface EncoderStats {
  fullSnapshots: number;
  deltaSnapshots: number;
  bodiesEncoded: number;
  bytesOut: number;
  packetsOut: number;
}

/** Fresh zeroed encoder counters. */
export function newEncoderStats(): EncoderStats {
  return { fullSnapshots: 0, deltaSnapshots: 0, bodiesEncoded: 0, bytesOut: 0, packetsOut: 0 };
}

/** Turns the current frame into per-client packets. */
export interface SnapshotEncoder {
  /** Starts a snapshot tick with the captured frame (already stored in `history`). */
  begin(frame: SnapshotFrame, history: SnapshotHistory): void;
  /**
   * Encodes the packets for one client and hands each to `send`. The bytes are valid only during
   * the call (the buffer is reused). Returns the number of packets.
   */
  encodeFor(client: SnapshotClient, send: (bytes: Uint8Array) => void): number;
  readonly stats: EncoderStats;
}

/** Full snapshots only: every entity, every tick; the body is shared by all clients. */
export class FullSnapshotEncoder implements SnapshotEncoder {
  private readonly body: BitWriter;
  private readonly packet: Uint8Array;
  private bodyLength = 0;
  private tick = 0;
  constructor(
    private readonly schema: NetSchema,
    /** Counters, usually shared by every room's encoder. */
    readonly stats: EncoderStats = newEncoderStats(),
  ) {
    const cap = fullSnapshotCapacityBytes(schema);
    this.body = new BitWriter(cap);
    this.packet = new Uint8Array(cap + SNAPSHOT_HEADER_BYTES);
  }

  begin(frame: SnapshotFrame): void {
    this.body.reset();
    writeFullBody(this.body, this.schema, frame);
    this.bodyLength = this.body.byteLength();
    this.packet.set(this.body.bytes.subarray(0, this.bodyLength), SNAPSHOT_HEADER_BYTES);
    this.view = this.packet.subarray(0, SNAPSHOT_HEADER_BYTES + this.bodyLength);
    this.tick = frame.tick;
    this.stats.bodiesEncoded++;
  }
  private view: Uint8Array = new Uint8Array(0);

  encodeFor(client: SnapshotClient, send: (bytes: Uint8Array) => void): number {
    writeSnapshotHeader(this.packet, SnapshotKind.Full, this.tick, client.inputAck, client.hasInputAck);
    const bytes = this.view;
    this.stats.fullSnapshots++;
    this.stats.packetsOut++;
    this.stats.bytesOut += bytes.length;
    send(bytes);
    return 1;
  }
}
