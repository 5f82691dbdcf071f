// The packets of a tick, held from the encoder to the transports: the timed tick copies each
// client's snapshot packets here (a memory copy, where a send is a system call or an IPC write),
// and the server hands them all to the transports once the tick's timed part is over.
import type { Session } from './sessions.ts';

/**
 * A reusable queue of (session, packet bytes). Its byte arena and index arrays grow by doubling
 * and are kept, so a steady tick allocates no buffers (each packet handed off is a view into the
 * arena, valid only during the call, as transports expect).
 */
export class SendQueue {
  private buf: Uint8Array;
  private used = 0;
  private starts: Uint32Array;
  private ends: Uint32Array;
  private readonly targets: (Session | undefined)[] = [];
  private n = 0;
  /** Packets and bytes queued since start. */
  packets = 0;
  bytes = 0;

  constructor(initialBytes = 64 * 1024, initialPackets = 256) {
    this.buf = new Uint8Array(initialBytes);
    this.starts = new Uint32Array(initialPackets);
    this.ends = new Uint32Array(initialPackets);
  }

  /** Packets waiting. */
  get length(): number {
    return this.n;
  }

  /** Copies `bytes` for `s` (the caller may reuse its buffer at once). */
  push(s: Session, bytes: Uint8Array): void {
    const len = bytes.length;
    if (this.used + len > this.buf.length) this.growBytes(this.used + len);
    if (this.n === this.starts.length) this.growIndex();
    this.buf.set(bytes, this.used);
    this.starts[this.n] = this.used;
    this.ends[this.n] = this.used + len;
    this.targets[this.n] = s;
    this.n++;
    this.used += len;
    this.packets++;
    this.bytes += len;
  }

  /** Hands every waiting packet to `send` in the order queued, then empties the queue. Returns how many. */
  drain(send: (s: Session, bytes: Uint8Array) => void): number {
    const n = this.n;
    const buf = this.buf;
    for (let i = 0; i < n; i++) {
      const s = this.targets[i] as Session;
      this.targets[i] = undefined;
      send(s, buf.subarray(this.starts[i], this.ends[i]));
    }
    this.n = 0;
    this.used = 0;
    return n;
  }

  private growBytes(min: number): void {
    let size = this.buf.length * 2;
    while (size < min) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.used));
    this.buf = next;
  }

  private growIndex(): void {
    const size = this.starts.length * 2;
    const starts = new Uint32Array(size);
    const ends = new Uint32Array(size);
    starts.set(this.starts);
    ends.set(this.ends);
    this.starts = starts;
    this.ends = ends;
  }
}
