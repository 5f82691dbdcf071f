// The packets of a tick, held from the encoder to the transports: the timed tick copies each
// client's snapshot packets here (a memory copy, where a send is a system call or an IPC write),
// and the server hands them all to the transports once the tick's timed part is over.
import type { Session } from './sessions.ts';

/**
 * Packets copied into one reusable byte arena (grown by doubling and kept, so a steady tick
 * allocates no buffers). Packet `i` is read back as a view into the arena, valid until the next
 * push or clear, as transports expect of the bytes they are handed.
 */
export class PacketArena {
  private buf: Uint8Array;
  private used = 0;
  private ends: Uint32Array;
  /** The view handed out for each packet, reused while the packet at that index keeps its place and size. */
  private readonly views: (Uint8Array | undefined)[] = [];
  /** Packets held. */
  count = 0;

  constructor(initialBytes = 16 * 1024, initialPackets = 16) {
    this.buf = new Uint8Array(initialBytes);
    this.ends = new Uint32Array(initialPackets);
  }

  /** Copies `bytes` in (the caller may reuse its buffer at once). Bound, so it can be handed to an encoder as its send. */
  readonly push = (bytes: Uint8Array): void => {
    const need = this.used + bytes.length;
    if (need > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < need) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, this.used));
      this.buf = next;
      this.views.length = 0;
    }
    if (this.count === this.ends.length) {
      const e = new Uint32Array(this.ends.length * 2);
      e.set(this.ends);
      this.ends = e;
    }
    this.buf.set(bytes, this.used);
    this.used = need;
    this.ends[this.count++] = need;
  };

  /** Forgets every packet (the arena and its views are kept). */
  clear(): void {
    this.count = 0;
    this.used = 0;
  }

  /** Packet `i` (< count). */
  at(i: number): Uint8Array {
    const start = i === 0 ? 0 : this.ends[i - 1];
    const end = this.ends[i];
    const v = this.views[i];
    if (v !== undefined && v.byteOffset === start && v.length === end - start) return v;
    const view = this.buf.subarray(start, end);
    this.views[i] = view;
    return view;
  }
}

/** A reusable queue of (session, packet bytes), the packets in a PacketArena. */
export class SendQueue {
  private readonly arena: PacketArena;
  private readonly targets: (Session | undefined)[] = [];
  /** Packets and bytes queued since start. */
  packets = 0;
  bytes = 0;

  constructor(initialBytes = 64 * 1024, initialPackets = 256) {
    this.arena = new PacketArena(initialBytes, initialPackets);
  }

  /** Packets waiting. */
  get length(): number {
    return this.arena.count;
  }

  /** Copies `bytes` for `s` (the caller may reuse its buffer at once). */
  push(s: Session, bytes: Uint8Array): void {
    this.targets[this.arena.count] = s;
    this.arena.push(bytes);
    this.packets++;
    this.bytes += bytes.length;
  }

  /** Hands every waiting packet to `send` in the order queued, then empties the queue. Returns how many. */
  drain(send: (s: Session, bytes: Uint8Array) => void): number {
    const arena = this.arena;
    const n = arena.count;
    for (let i = 0; i < n; i++) {
      const s = this.targets[i] as Session;
      this.targets[i] = undefined;
      send(s, arena.at(i));
    }
    arena.clear();
    return n;
  }
}
