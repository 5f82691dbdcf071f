// IPC messages between the server and the WebRTC worker process, and the packing that batches many
// small datagrams into one IPC message per event-loop turn.
import type { GeckosTransportOptions } from './geckos.ts';
import type { ProcessMemory } from './transport.ts';

/** Server -> worker. */
export type ParentToWorker =
  | { t: 'start'; opts: GeckosTransportOptions }
  | { t: 'authr'; id: number; connId: number }
  | { t: 'out'; packed: Uint8Array }
  | { t: 'close'; connId: number }
  | { t: 'crash' }
  | { t: 'stop' };

/** Worker -> server. `in` records: kind 1 open, 2 message, 3 close, by connection id. */
export type WorkerToParent =
  | { t: 'ready'; signalingPort: number }
  | { t: 'auth'; id: number; token: string; remoteAddress: string }
  | { t: 'in'; packed: Uint8Array }
  | { t: 'log'; level: 'info' | 'warn' | 'error'; o: Record<string, unknown>; msg: string }
  | { t: 'fatal'; message: string }
  | { t: 'mem'; memory: ProcessMemory };

const HEADER = 9; // kind u8, sid u32, len u32

/**
 * Accumulates (kind, session, bytes) records in a reusable buffer and hands them to `flush` as one
 * packed message on the next macrotask, so a tick's worth of packets costs one IPC message.
 */
export class IpcBatcher {
  private buf = new Uint8Array(64 * 1024);
  private view = new DataView(this.buf.buffer);
  private used = 0;
  private scheduled = false;

  constructor(private readonly sink: (packed: Uint8Array) => void) {}

  /** Adds a record (bytes are copied). */
  push(kind: number, sid: number, bytes?: Uint8Array): void {
    const len = bytes ? bytes.length : 0;
    if (this.used + HEADER + len > this.buf.length) this.grow(this.used + HEADER + len);
    this.buf[this.used] = kind;
    this.view.setUint32(this.used + 1, sid, true);
    this.view.setUint32(this.used + 5, len, true);
    if (bytes) this.buf.set(bytes, this.used + HEADER);
    this.used += HEADER + len;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Sends what is queued now. */
  flush(): void {
    this.scheduled = false;
    if (this.used === 0) return;
    const packed = this.buf.slice(0, this.used);
    this.used = 0;
    this.sink(packed);
  }

  private grow(min: number): void {
    let size = this.buf.length * 2;
    while (size < min) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.used));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }
}

/** Walks a packed batch. */
export function decodeRecords(packed: Uint8Array, each: (kind: number, sid: number, bytes: Uint8Array) => void): void {
  const view = new DataView(packed.buffer, packed.byteOffset, packed.byteLength);
  let p = 0;
  while (p + HEADER <= packed.length) {
    const kind = packed[p];
    const sid = view.getUint32(p + 1, true);
    const len = view.getUint32(p + 5, true);
    if (p + HEADER + len > packed.length) return;
    each(kind, sid, packed.subarray(p + HEADER, p + HEADER + len));
    p += HEADER + len;
  }
}

/** Outgoing batches use the same record format with kind 0. */
export function decodeOutgoing(packed: Uint8Array, each: (sid: number, bytes: Uint8Array) => void): void {
  decodeRecords(packed, (_k, sid, bytes) => each(sid, bytes));
}
