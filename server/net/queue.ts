// The inbox between socket callbacks and the tick: a preallocated byte ring of
// (kind, session, bytes) records. Callbacks copy into it; the frame drains it. No allocation.

/** Kinds of inbox records. */
export const NetEvent = {
  WsOpen: 1,
  WsMessage: 2,
  WsClose: 3,
  RtcOpen: 4,
  RtcMessage: 5,
  RtcClose: 6,
} as const;
export type NetEventKind = (typeof NetEvent)[keyof typeof NetEvent];

const HEADER = 9; // kind u8, session u32, length u32

/** Fixed-capacity FIFO of byte records. `push` returns false (and counts) when full. */
export class NetQueue {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private writePos = 0;
  /** Records dropped because the queue was full. */
  dropped = 0;
  /** Records queued since start. */
  pushed = 0;

  constructor(capacityBytes = 4 << 20) {
    this.buf = new Uint8Array(capacityBytes);
    this.view = new DataView(this.buf.buffer);
  }

  /** Bytes queued and not yet drained. */
  usedBytes(): number {
    return this.writePos;
  }

  /** Appends a record, copying `bytes`. */
  push(kind: NetEventKind, sessionId: number, bytes?: Uint8Array): boolean {
    const len = bytes ? bytes.length : 0;
    if (this.writePos + HEADER + len > this.buf.length) {
      this.dropped++;
      return false;
    }
    const p = this.writePos;
    this.buf[p] = kind;
    this.view.setUint32(p + 1, sessionId, true);
    this.view.setUint32(p + 5, len, true);
    if (bytes) this.buf.set(bytes, p + HEADER);
    this.writePos = p + HEADER + len;
    this.pushed++;
    return true;
  }

  /**
   * Calls `handle` for every record in arrival order, then empties the queue. The record's bytes
   * are buf[start, end), valid only during the call (no view is allocated). Records pushed by
   * `handle` itself are delivered in the same drain.
   */
  drain(handle: (kind: NetEventKind, sessionId: number, buf: Uint8Array, start: number, end: number) => void): void {
    let p = 0;
    while (p < this.writePos) {
      const kind = this.buf[p] as NetEventKind;
      const sessionId = this.view.getUint32(p + 1, true);
      const len = this.view.getUint32(p + 5, true);
      handle(kind, sessionId, this.buf, p + HEADER, p + HEADER + len);
      p += HEADER + len;
    }
    this.writePos = 0;
  }
}
