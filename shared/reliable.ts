// Reliable-message sequencing over connections that may be replaced: every sequenced control
// message gets a number, the peer acknowledges cumulatively, and unacknowledged messages are kept
// and resent after a reconnect, so each arrives exactly once and in order (TCP alone guarantees
// nothing across a new connection).

/** Sender side: numbers outgoing messages and keeps them until acknowledged. */
export class ReliableSender<T> {
  private readonly pending: { seq: number; msg: T; bytes: number }[] = [];
  private nextSeq = 1;
  private pendingBytes = 0;

  constructor(
    /** Most unacknowledged messages kept; beyond it `push` returns false (the session should end). */
    readonly maxPending = 1024,
    /** Most unacknowledged bytes kept (as estimated by the caller). */
    readonly maxPendingBytes = 512 * 1024,
  ) {}

  /** Assigns the next sequence number to `msg` and keeps it; returns the seq, or 0 when the buffer is full. */
  push(msg: T, sizeBytes: number): number {
    if (this.pending.length >= this.maxPending || this.pendingBytes + sizeBytes > this.maxPendingBytes) return 0;
    const seq = this.nextSeq++;
    this.pending.push({ seq, msg, bytes: sizeBytes });
    this.pendingBytes += sizeBytes;
    return seq;
  }

  /** Drops every message with seq <= ack. Acks outside what was sent are ignored. */
  ack(ack: number): void {
    if (ack >= this.nextSeq) return;
    while (this.pending.length > 0 && this.pending[0].seq <= ack) this.pendingBytes -= this.pending.shift()!.bytes;
  }

  /** Unacknowledged messages in order (to resend after a reconnect). */
  unacked(): readonly { seq: number; msg: T }[] {
    return this.pending;
  }

  /** Messages waiting for an ack. */
  get pendingCount(): number {
    return this.pending.length;
  }

  /** The sequence number the next message will get. */
  get next(): number {
    return this.nextSeq;
  }

  /**
   * Takes over another sender's state (a session moved to another process): the messages it kept
   * unacknowledged, in order, and the number its next message gets. Only on a sender that has sent
   * nothing yet.
   */
  restore(nextSeq: number, pending: readonly { seq: number; msg: T; bytes: number }[]): void {
    if (this.nextSeq !== 1 || this.pending.length > 0) throw new Error('ReliableSender.restore: this sender has sent already');
    let last = 0;
    for (const p of pending) {
      if (!(p.seq > last && p.seq < nextSeq)) throw new RangeError('ReliableSender.restore: kept messages must be in order and below nextSeq');
      last = p.seq;
      this.pending.push({ seq: p.seq, msg: p.msg, bytes: p.bytes });
      this.pendingBytes += p.bytes;
    }
    this.nextSeq = nextSeq;
  }
}

/** Receiver side: accepts each sequence number once, in order. */
export class ReliableReceiver {
  /** Highest sequence delivered (0 = none). This is the cumulative ack to send back. */
  lastDelivered = 0;
  /** Messages dropped as duplicates (a resend of something already delivered). */
  duplicates = 0;
  /** Messages that skipped ahead (a gap: a bug or a lost resend buffer). */
  gaps = 0;

  /**
   * Returns 'deliver' for the next message in order, 'duplicate' for one already delivered, and
   * 'gap' for one past a missing message (not delivered; the sender will resend from the ack).
   */
  accept(seq: number): 'deliver' | 'duplicate' | 'gap' {
    if (seq <= this.lastDelivered) {
      this.duplicates++;
      return 'duplicate';
    }
    if (seq !== this.lastDelivered + 1) {
      this.gaps++;
      return 'gap';
    }
    this.lastDelivered = seq;
    return 'deliver';
  }
}
