// Per-player input buffer: de-duplicates redundant inputs by 16-bit sequence, keeps a small
// window, hands out exactly one input per tick, repeats the last one across a gap.
import { seqAdd, seqDiff, seqGreaterThan } from '../shared/sequence.ts';

/** Counters for one player's input stream (also exported as metrics). */
export interface InputStats {
  received: number;
  duplicates: number;
  late: number;
  dropped: number;
  repeated: number;
  applied: number;
}

/**
 * Ring of pending inputs indexed by sequence. `take()` yields the next input in sequence order,
 * or repeats the last applied input when the next one has not arrived (and does not advance).
 * When newer inputs exist past a missing one (lost beyond redundancy), it skips to them.
 */
export class InputBuffer {
  private readonly size: number;
  private readonly present: Uint8Array;
  private readonly seqs: Uint16Array;
  private readonly values: Uint32Array;
  /** Last applied input's values (repeated across gaps); zeros before the first input. */
  readonly current: Uint32Array;
  private lastSeq = 0;
  private started = false;
  private pending = 0;
  /** True once at least one input was applied: lastAppliedSeq is meaningful. */
  hasApplied = false;
  /** Sequence of the last applied input (acknowledged in snapshots). */
  lastAppliedSeq = 0;
  /** Client's target tick for the newest input received (for clock-sync feedback). */
  newestTargetTick = 0;
  readonly stats: InputStats = { received: 0, duplicates: 0, late: 0, dropped: 0, repeated: 0, applied: 0 };

  constructor(
    readonly fieldCount: number,
    /** Most inputs kept waiting; beyond this the oldest are dropped to bound latency. */
    readonly maxPending: number,
  ) {
    this.size = 64;
    if (maxPending >= this.size) throw new RangeError('maxPending must be < 64');
    this.present = new Uint8Array(this.size);
    this.seqs = new Uint16Array(this.size);
    this.values = new Uint32Array(this.size * fieldCount);
    this.current = new Uint32Array(fieldCount);
  }

  /** Number of inputs waiting to be applied. */
  pendingCount(): number {
    return this.pending;
  }

  /** Offers one input (`values` at `offset`, fieldCount values) with sequence `seq`. */
  offer(seq: number, values: ArrayLike<number>, offset: number): void {
    this.stats.received++;
    if (!this.started) {
      this.started = true;
      this.lastSeq = seqAdd(seq, -1);
    }
    if (!seqGreaterThan(seq, this.lastSeq)) {
      this.stats.late++;
      return;
    }
    if (seqDiff(seq, this.lastSeq) > this.size - 1) {
      // Far ahead (forged, or a long outage): restart the window just before it.
      this.clearPending();
      this.lastSeq = seqAdd(seq, -1);
    }
    const slot = seq & (this.size - 1);
    if (this.present[slot] && this.seqs[slot] === seq) {
      this.stats.duplicates++;
      return;
    }
    this.present[slot] = 1;
    this.seqs[slot] = seq;
    const base = slot * this.fieldCount;
    for (let f = 0; f < this.fieldCount; f++) this.values[base + f] = values[offset + f];
    this.pending++;
    while (this.pending > this.maxPending) this.dropOldest();
  }

  /**
   * Advances one tick: applies the next input if it arrived, else skips forward to the oldest
   * newer one if any, else repeats the last input. Returns the values to apply (this.current).
   */
  take(): Uint32Array {
    if (this.pending === 0) {
      if (this.hasApplied) this.stats.repeated++;
      return this.current;
    }
    let seq = seqAdd(this.lastSeq, 1);
    let slot = seq & (this.size - 1);
    while (!(this.present[slot] && this.seqs[slot] === seq)) {
      this.stats.dropped++;
      seq = seqAdd(seq, 1);
      slot = seq & (this.size - 1);
    }
    this.present[slot] = 0;
    this.pending--;
    const base = slot * this.fieldCount;
    for (let f = 0; f < this.fieldCount; f++) this.current[f] = this.values[base + f];
    this.lastSeq = seq;
    this.lastAppliedSeq = seq;
    this.hasApplied = true;
    this.stats.applied++;
    return this.current;
  }

  /** Forgets pending inputs and stops the player (link lost); keeps the sequence window. */
  reset(): void {
    this.clearPending();
    this.current.fill(0);
  }

  private dropOldest(): void {
    let seq = seqAdd(this.lastSeq, 1);
    for (let i = 0; i < this.size; i++, seq = seqAdd(seq, 1)) {
      const slot = seq & (this.size - 1);
      if (this.present[slot] && this.seqs[slot] === seq) {
        this.present[slot] = 0;
        this.pending--;
        this.stats.dropped++;
        this.lastSeq = seq;
        return;
      }
    }
  }

  private clearPending(): void {
    this.present.fill(0);
    this.pending = 0;
  }
}
