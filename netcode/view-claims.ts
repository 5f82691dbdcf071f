// The client half of lag compensation: remembers what was on screen (the remote entities' render
// tick, the snapshot drawn from and the one interpolated towards) when each input was made, and
// sends those claims beside the input packets in their own small message (type 5,
// shared/protocol/view-claim.ts), repeated for the last few inputs like the inputs themselves.
import { seqAdd } from '../shared/sequence.ts';
import { createViewClaims, MAX_VIEW_CLAIMS, VIEW_FRAC_PER_TICK, viewClaimBytes, writeViewClaims } from '../shared/protocol/view-claim.ts';
import type { EntityView } from './interpolation.ts';

const SLOTS = 64;

/** Claims of recent inputs, and the message that carries them. */
export class ViewClaimSender {
  private readonly seq = new Int32Array(SLOTS).fill(-1);
  private readonly tick = new Uint32Array(SLOTS);
  private readonly span = new Uint8Array(SLOTS);
  private readonly frac = new Uint16Array(SLOTS);
  private readonly claims = createViewClaims();
  private readonly out = new Uint8Array(viewClaimBytes(MAX_VIEW_CLAIMS));
  /** The message's view for each claim count, made once (a message allocates nothing). */
  private readonly views = Array.from({ length: MAX_VIEW_CLAIMS + 1 }, (_, n) => this.out.subarray(0, viewClaimBytes(n)));
  /** Claims recorded and messages built. */
  recorded = 0;
  messages = 0;

  /**
   * Records what `view` (the remote entities as last drawn) shows as the claim of input `seq`;
   * nothing when nothing was drawn yet or when `act` is false (the input is no action).
   */
  record(seq: number, view: EntityView, act: boolean): void {
    const slot = seq & (SLOTS - 1);
    this.seq[slot] = -1;
    if (!act || view.mode === 'empty' || view.fromTick < 0 || !Number.isFinite(view.tick)) return;
    const from = view.fromTick;
    let span = 0;
    let frac: number;
    if (view.mode === 'interpolate' && view.toTick > from) {
      span = Math.min(255, view.toTick - from);
      frac = Math.min(span * VIEW_FRAC_PER_TICK - 1, Math.max(0, Math.round((view.tick - from) * VIEW_FRAC_PER_TICK)));
    } else {
      frac = Math.min(0xffff, Math.max(0, Math.round(view.extrapolatedTicks * VIEW_FRAC_PER_TICK)));
    }
    this.seq[slot] = seq;
    this.tick[slot] = from >>> 0;
    this.span[slot] = span;
    this.frac[slot] = frac;
    this.recorded++;
  }

  /** The message for the inputs `newestSeq` and the `count - 1` before it that have claims, or undefined when none has. */
  message(newestSeq: number, count: number): Uint8Array | undefined {
    const c = this.claims;
    c.count = 0;
    const n = Math.min(count, MAX_VIEW_CLAIMS, SLOTS);
    for (let i = 0; i < n; i++) {
      const s = seqAdd(newestSeq, -i);
      const slot = s & (SLOTS - 1);
      if (this.seq[slot] !== s) continue;
      const k = c.count++;
      c.seq[k] = s;
      c.tick[k] = this.tick[slot];
      c.span[k] = this.span[slot];
      c.frac[k] = this.frac[slot];
    }
    if (c.count === 0) return undefined;
    this.messages++;
    writeViewClaims(this.out, c);
    return this.views[c.count];
  }
}
