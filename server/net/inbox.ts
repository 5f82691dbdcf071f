// The inbox between socket callbacks and the tick: a preallocated byte buffer of
// (kind, connection, arrival time, bytes) records. Transport callbacks copy into it; the frame
// drains it. Nothing is allocated per record.

/** Kinds of inbox records: what a transport reported about a connection. */
export const NetEvent = {
  Open: 1,
  Message: 2,
  Close: 3,
} as const;
export type NetEventKind = (typeof NetEvent)[keyof typeof NetEvent];

/** Default inbox size: the bytes all clients may send between two ticks. */
export const DEFAULT_INBOX_BYTES = 4 << 20;

const HEADER = 17; // kind u8, connection u32, length u32, arrival ms f64

/** Fixed-capacity FIFO of byte records. `push` returns false (and counts) when full. */
export class Inbox {
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private writePos = 0;
  /** Records dropped because the queue was full. */
  dropped = 0;
  /** Records queued since start. */
  pushed = 0;

  constructor(capacityBytes = DEFAULT_INBOX_BYTES) {
    this.buf = new Uint8Array(capacityBytes);
    this.view = new DataView(this.buf.buffer);
  }

  /** Bytes queued and not yet drained. */
  usedBytes(): number {
    return this.writePos;
  }

  /** Appends a record, copying `bytes`; `atMs` is when it arrived (server clock). */
  push(kind: NetEventKind, connId: number, bytes?: Uint8Array, atMs = 0): boolean {
    const len = bytes ? bytes.length : 0;
    if (this.writePos + HEADER + len > this.buf.length) {
      this.dropped++;
      return false;
    }
    const p = this.writePos;
    this.buf[p] = kind;
    this.view.setUint32(p + 1, connId, true);
    this.view.setUint32(p + 5, len, true);
    this.view.setFloat64(p + 9, atMs, true);
    if (bytes) this.buf.set(bytes, p + HEADER);
    this.writePos = p + HEADER + len;
    this.pushed++;
    return true;
  }

  /**
   * Calls `handle` for every record in arrival order, then empties the queue. The record's bytes
   * are buf[start, end), valid only during the call (no view is allocated); `atMs` is when it
   * was pushed. Records pushed by `handle` itself are delivered in the same drain.
   */
  drain(handle: (kind: NetEventKind, connId: number, buf: Uint8Array, start: number, end: number, atMs: number) => void): void {
    let p = 0;
    while (p < this.writePos) {
      const kind = this.buf[p] as NetEventKind;
      const connId = this.view.getUint32(p + 1, true);
      const len = this.view.getUint32(p + 5, true);
      handle(kind, connId, this.buf, p + HEADER, p + HEADER + len, this.view.getFloat64(p + 9, true));
      p += HEADER + len;
    }
    this.writePos = 0;
  }
}
