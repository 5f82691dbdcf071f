// Inputs: the per-player input buffer (de-duplicates redundant inputs by 16-bit sequence, keeps a
// small window, hands out exactly one input per tick, repeats the last one across a gap) and the
// receiver that turns an input packet into offers to it (decode, tick-skew check, offer).
import { BitReader } from '../shared/protocol/bits.ts';
import { createInputPacket, readInputPacket, type InputPacket } from '../shared/protocol/input.ts';
import type { NetSchema } from '../shared/protocol/schema.ts';
import { seqAdd, seqDiff, seqGreaterThan } from '../shared/sequence.ts';

/**
 * Counters of an input stream: one player's, or the totals over every player of the process
 * (exported as tickwire_inputs_total{outcome}).
 */
export interface InputStats {
  /** Inputs received (every redundant copy counts). */
  received: number;
  /** Copies of an input already waiting. */
  duplicates: number;
  /** Copies of an input whose tick had passed (mostly redundant copies of applied inputs). */
  late: number;
  /** Inputs never applied: skipped because a newer one was waiting, or evicted from a full window. */
  dropped: number;
  /** Ticks that repeated the previous input because the next one had not arrived: inputs that missed their tick. */
  repeated: number;
  /** Inputs applied, one per tick at most. */
  applied: number;
}

/** Fresh zeroed input counters. */
export function newInputStats(): InputStats {
  return { received: 0, duplicates: 0, late: 0, dropped: 0, repeated: 0, applied: 0 };
}

/** Applied inputs in a row within maxPending that end a moved player's catching up (about a second at 60 Hz). */
const CALM_TICKS = 60;

/** Ticks a moved player stands for a gap in its client's inputs before skipping past it (the resend's copies follow a packet or two later). */
const GAP_WAIT_TICKS = 6;

/**
 * Ring of pending inputs indexed by sequence. `take()` yields the next input in sequence order,
 * or repeats the last applied input when the next one has not arrived (and does not advance).
 * When newer inputs exist past a missing one (lost beyond redundancy), it skips to them.
 */
export class InputBuffer {
  private readonly size: number;
  /**
   * The whole window in one array (a tick reaches a thousand players' buffers: one array each is
   * one memory reach where four were four): the current input (fieldCount values), then per slot
   * its sequence + 1 (0: empty) followed by its values, at fieldCount + slot * (1 + fieldCount): a
   * slot's mark and values share a cache line, so taking an input reaches one line, not two.
   */
  private readonly buf: Uint32Array;
  /** Last applied input's values (repeated across gaps); zeros before the first input. A view into buf. */
  readonly current: Uint32Array;
  private lastSeq = 0;
  private started = false;
  private pending = 0;
  /** True once at least one input was applied: lastAppliedSeq is meaningful. */
  hasApplied = false;
  /** Sequence of the last applied input (acknowledged in snapshots). */
  lastAppliedSeq = 0;
  /** This buffer's counters. */
  readonly stats: InputStats = newInputStats();
  /** Once the pending inputs are applied, stand (zero input) instead of repeating, until the next input arrives (standWhenDrained). */
  private standing = false;
  /** Set with standing: the window holds up to 63 inputs (the resend after a move) until it has stayed within maxPending for CALM_TICKS applied inputs. */
  private catchingUp = false;
  /** Inputs applied in a row with the backlog within maxPending while catching up. */
  private calm = 0;
  /** Deepest backlog since the last take() (inputs arrive between ticks, a packet's at once). */
  private peak = 0;
  /** Ticks stood waiting for a gap in a moved client's inputs to fill. */
  private gapWaits = 0;

  /**
   * @param fieldCount input fields per input
   * @param maxPending most inputs kept waiting; beyond this the oldest are dropped to bound latency
   * @param totals counters shared by many buffers (the process totals), bumped with this buffer's
   */
  constructor(
    readonly fieldCount: number,
    readonly maxPending: number,
    private readonly totals: InputStats = newInputStats(),
  ) {
    this.size = 64;
    if (maxPending >= this.size) throw new RangeError('maxPending must be < 64');
    this.buf = new Uint32Array(this.size * (1 + fieldCount) + fieldCount);
    this.current = this.buf.subarray(0, fieldCount);
  }

  /** Where slot `slot`'s mark is in buf (its values follow). */
  private at(slot: number): number {
    return this.fieldCount + slot * (1 + this.fieldCount);
  }

  /** Number of inputs waiting to be applied. */
  pendingCount(): number {
    return this.pending;
  }

  /** Offers one input (`values` at `offset`, fieldCount values) with sequence `seq`. */
  offer(seq: number, values: ArrayLike<number>, offset: number): void {
    this.stats.received++;
    this.totals.received++;
    this.standing = false;
    if (!this.started) {
      this.started = true;
      this.lastSeq = seqAdd(seq, -1);
    }
    if (!seqGreaterThan(seq, this.lastSeq)) {
      this.stats.late++;
      this.totals.late++;
      return;
    }
    if (seqDiff(seq, this.lastSeq) > this.size - 1) {
      // Far ahead (forged, or a long outage): restart the window just before it.
      this.clearPending();
      this.lastSeq = seqAdd(seq, -1);
    }
    const at = this.at(seq & (this.size - 1));
    const buf = this.buf;
    if (buf[at] === seq + 1) {
      this.stats.duplicates++;
      this.totals.duplicates++;
      return;
    }
    buf[at] = seq + 1;
    for (let f = 0; f < this.fieldCount; f++) buf[at + 1 + f] = values[offset + f];
    this.pending++;
    if (this.pending > this.peak) this.peak = this.pending;
    const cap = this.catchingUp ? this.size - 1 : this.maxPending;
    while (this.pending > cap) this.dropOldest();
  }

  /**
   * Advances one tick: applies the next input if it arrived, else skips forward to the oldest
   * newer one if any, else repeats the last input. Returns the values to apply (this.current).
   */
  take(): Uint32Array {
    if (this.pending === 0) {
      if (this.standing) this.current.fill(0);
      if (this.hasApplied) {
        this.stats.repeated++;
        this.totals.repeated++;
      }
      return this.current;
    }
    const buf = this.buf;
    let seq = seqAdd(this.lastSeq, 1);
    let at = this.at(seq & (this.size - 1));
    if (buf[at] !== seq + 1 && this.catchingUp && this.gapWaits < GAP_WAIT_TICKS) {
      // A moved client's resend has a gap (a datagram lost or overtaken; its copies follow with
      // the next input packets): the player stands a few ticks for it rather than skip the inputs
      // its client predicted with.
      this.gapWaits++;
      this.current.fill(0);
      this.stats.repeated++;
      this.totals.repeated++;
      return this.current;
    }
    this.gapWaits = 0;
    while (buf[at] !== seq + 1) {
      this.stats.dropped++;
      this.totals.dropped++;
      seq = seqAdd(seq, 1);
      at = this.at(seq & (this.size - 1));
    }
    buf[at] = 0;
    this.pending--;
    for (let f = 0; f < this.fieldCount; f++) buf[f] = buf[at + 1 + f];
    this.lastSeq = seq;
    this.lastAppliedSeq = seq;
    this.hasApplied = true;
    if (this.catchingUp && !this.standing) {
      // The moved client's restarted input clock prefills its whole target wait at once, up to
      // maxPending + 1 here, and takes a second of acks to settle at its usual depth: the bound
      // returns once the backlog stayed within it that long, instead of evicting an input per
      // burst (one correction each) meanwhile.
      // Calm is judged where the bound applies, on arrival: the deepest the backlog was since the
      // last tick, so the bound returns only once no packet would have had an input dropped for it.
      this.calm = this.peak <= this.maxPending ? this.calm + 1 : 0;
      if (this.calm >= CALM_TICKS) this.catchingUp = false;
    }
    this.peak = this.pending;
    this.stats.applied++;
    this.totals.applied++;
    return this.current;
  }

  /**
   * Continues another buffer's stream (a session moved here from another process): `seq` was the
   * last input applied there (when `applied`), so copies of it and older ones count as late here.
   */
  continueAfter(seq: number, applied: boolean): void {
    if (!applied) return;
    this.started = true;
    this.lastSeq = seq & 0xffff;
    this.lastAppliedSeq = seq & 0xffff;
    this.hasApplied = true;
  }

  /**
   * The inputs waiting to be applied, oldest first, each with its values (a room handed off: the
   * new owner offers them again after continueAfter, so the inputs its client predicted are applied
   * there). Not for the tick loop: it allocates.
   */
  pendingInputs(): { seq: number; values: number[] }[] {
    const out: { seq: number; values: number[] }[] = [];
    let seq = seqAdd(this.lastSeq, 1);
    for (let i = 0; i < this.size && out.length < this.pending; i++, seq = seqAdd(seq, 1)) {
      const at = this.at(seq & (this.size - 1));
      if (this.buf[at] !== seq + 1) continue;
      out.push({ seq, values: Array.from(this.buf.subarray(at + 1, at + 1 + this.fieldCount)) });
    }
    return out;
  }

  /**
   * The player has no link yet (a session moved here, its client still on its way): the inputs
   * waiting are applied, then the player stands, as one whose link was lost, until an input
   * arrives, instead of repeating the last one (which its client never predicted). The first
   * inputs that arrive then (the client resending every one it sent while the room moved) are all
   * kept, up to the 63 the window holds, and applied in order, rather than the oldest evicted
   * beyond maxPending; the usual bound holds again once the backlog stayed within it for
   * CALM_TICKS applied inputs (the client's restarted input clock prefills its whole target wait
   * at once and settles to its usual depth within about a second).
   */
  standWhenDrained(): void {
    this.standing = true;
    this.catchingUp = true;
    this.calm = 0;
  }

  /** Forgets pending inputs and stops the player (link lost); keeps the sequence window. */
  reset(): void {
    this.clearPending();
    this.current.fill(0);
  }

  private dropOldest(): void {
    let seq = seqAdd(this.lastSeq, 1);
    for (let i = 0; i < this.size; i++, seq = seqAdd(seq, 1)) {
      const at = this.at(seq & (this.size - 1));
      if (this.buf[at] === seq + 1) {
        this.buf[at] = 0;
        this.pending--;
        this.stats.dropped++;
        this.totals.dropped++;
        this.lastSeq = seq;
        return;
      }
    }
  }

  private clearPending(): void {
    for (let s = 0; s < this.size; s++) this.buf[this.at(s)] = 0;
    this.pending = 0;
  }
}

/**
 * Turns input packets into offers to a player's buffer: decode, tick-skew check, then every input
 * of the packet oldest first. One per server; its reader and packet scratch are reused.
 */
export class InputReceiver {
  private readonly reader = new BitReader();
  /** The packet receive() decoded last (its snapshot ack, when it carries one, is for the caller). */
  readonly packet: InputPacket;
  private readonly fieldCount: number;

  /**
   * @param schema the game's compiled schema
   * @param maxTickSkew largest distance, ticks, between a packet's claimed tick and the room's
   */
  constructor(
    private readonly schema: NetSchema,
    readonly maxTickSkew: number,
  ) {
    this.packet = createInputPacket(schema);
    this.fieldCount = schema.inputFields.length;
  }

  /**
   * Decodes the input packet buf[start, end) and offers its inputs to `inputs`. Returns the number
   * of inputs offered, or -1 when the packet claims a tick more than maxTickSkew from `roomTick`
   * (forged or hopelessly out of sync; nothing is applied). Throws DecodeError on malformed bytes,
   * before anything is offered. The decoded packet (with its snapshot ack, if any) stays in
   * `packet` until the next call.
   */
  receive(inputs: InputBuffer, buf: Uint8Array, start: number, end: number, roomTick: number): number {
    const p = readInputPacket(this.reader, buf, this.schema, this.packet, start, end);
    const skew = p.newestTick - roomTick;
    if (skew > this.maxTickSkew || skew < -this.maxTickSkew) return -1;
    const nf = this.fieldCount;
    // Oldest first, so the buffer sees sequences in order.
    for (let i = p.count - 1; i >= 0; i--) inputs.offer(seqAdd(p.newestSeq, -i), p.values, i * nf);
    return p.count;
  }
}
