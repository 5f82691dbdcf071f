// Input buffer: de-duplication, gaps, reordering, bounded window, wrap at 65535 -> 0.
import { describe, expect, it } from 'vitest';
import { InputBuffer } from '../server/inputs.ts';
import { seqAdd, seqDiff, seqGreaterThan } from '../shared/sequence.ts';

const one = (v: number): number[] => [v];

describe('sequence arithmetic', () => {
  it('compares across the wrap', () => {
    expect(seqGreaterThan(1, 0)).toBe(true);
    expect(seqGreaterThan(0, 65535)).toBe(true);
    expect(seqGreaterThan(65535, 0)).toBe(false);
    expect(seqGreaterThan(100, 65500)).toBe(true);
    expect(seqGreaterThan(5, 5)).toBe(false);
    expect(seqDiff(2, 65534)).toBe(4);
    expect(seqDiff(65534, 2)).toBe(-4);
    expect(seqAdd(65535, 1)).toBe(0);
    expect(seqAdd(0, -1)).toBe(65535);
  });
});

describe('InputBuffer', () => {
  it('applies one input per take, in sequence order', () => {
    const b = new InputBuffer(1, 8);
    b.offer(10, one(1), 0);
    b.offer(11, one(2), 0);
    b.offer(12, one(3), 0);
    expect([b.take()[0], b.take()[0], b.take()[0]]).toEqual([1, 2, 3]);
    expect(b.lastAppliedSeq).toBe(12);
    expect(b.stats.applied).toBe(3);
  });

  it('drops duplicates from redundant packets', () => {
    const b = new InputBuffer(1, 8);
    // Packets carry the last 3 inputs: [1], [1,2], [1,2,3].
    for (const n of [1, 2, 3]) for (let s = 1; s <= n; s++) b.offer(s, one(s * 10), 0);
    expect(b.pendingCount()).toBe(3);
    expect(b.stats.duplicates).toBe(3);
    expect([b.take()[0], b.take()[0], b.take()[0]]).toEqual([10, 20, 30]);
  });

  it('repeats the last input across a gap without advancing, then catches up', () => {
    const b = new InputBuffer(1, 8);
    b.offer(0, one(7), 0);
    expect(b.take()[0]).toBe(7);
    expect(b.take()[0]).toBe(7); // nothing arrived: repeat
    expect(b.stats.repeated).toBe(1);
    expect(b.lastAppliedSeq).toBe(0);
    b.offer(1, one(8), 0);
    expect(b.take()[0]).toBe(8);
    expect(b.lastAppliedSeq).toBe(1);
  });

  it('accepts reordered inputs and ignores ones older than the last applied', () => {
    const b = new InputBuffer(1, 8);
    b.offer(5, one(5), 0);
    b.offer(7, one(7), 0);
    b.offer(6, one(6), 0);
    expect([b.take()[0], b.take()[0], b.take()[0]]).toEqual([5, 6, 7]);
    b.offer(6, one(66), 0);
    expect(b.stats.late).toBe(1);
    expect(b.pendingCount()).toBe(0);
  });

  it('skips a lost input when newer ones are waiting', () => {
    const b = new InputBuffer(1, 8);
    b.offer(1, one(1), 0);
    b.take();
    b.offer(3, one(3), 0); // 2 lost beyond redundancy
    expect(b.take()[0]).toBe(3);
    expect(b.stats.dropped).toBe(1);
    expect(b.lastAppliedSeq).toBe(3);
  });

  it('bounds the window: beyond maxPending the oldest inputs are dropped', () => {
    const b = new InputBuffer(1, 4);
    for (let s = 0; s < 10; s++) b.offer(s, one(s), 0);
    expect(b.pendingCount()).toBe(4);
    expect(b.take()[0]).toBe(6);
  });

  it('works across the 65535 -> 0 wrap', () => {
    const b = new InputBuffer(1, 8);
    const seqs = [65533, 65534, 65535, 0, 1, 2];
    for (const s of seqs) b.offer(s, one(s === 0 ? 1000 : s % 1000), 0);
    const got = seqs.map(() => b.take()[0]);
    expect(got).toEqual([533, 534, 535, 1000, 1, 2]);
    expect(b.lastAppliedSeq).toBe(2);
    b.offer(65535, one(9), 0); // old, from before the wrap
    expect(b.stats.late).toBe(1);
  });

  it('restarts its window for a sequence far ahead (forged or after a long outage)', () => {
    const b = new InputBuffer(1, 8);
    b.offer(100, one(1), 0);
    b.take();
    b.offer(30_000, one(2), 0);
    expect(b.take()[0]).toBe(2);
    expect(b.lastAppliedSeq).toBe(30_000);
  });

  it('copies multi-field inputs from an offset', () => {
    const b = new InputBuffer(3, 8);
    b.offer(0, [9, 9, 9, 1, 2, 3], 3);
    expect(Array.from(b.take())).toEqual([1, 2, 3]);
  });
});

describe('InputBuffer across a room handoff', () => {
  it('hands its waiting inputs over oldest first; the buffer continuing it applies them, then stands until the next input, which a resend may repeat', () => {
    const old = new InputBuffer(2, 8);
    for (let s = 65533; s !== 3; s = seqAdd(s, 1)) old.offer(s, [s & 0xff, 7], 0);
    old.take();
    old.take(); // 65533 and 65534 applied; 65535, 0, 1, 2 wait (across the wrap)
    const waiting = old.pendingInputs();
    expect(waiting.map((i) => i.seq)).toEqual([65535, 0, 1, 2]);
    expect(waiting.map((i) => i.values)).toEqual([[255, 7], [0, 7], [1, 7], [2, 7]]);

    const moved = new InputBuffer(2, 8);
    moved.continueAfter(old.lastAppliedSeq, old.hasApplied);
    for (const i of waiting) moved.offer(i.seq, i.values, 0);
    moved.standWhenDrained();
    const applied: number[][] = [];
    for (let t = 0; t < 4; t++) applied.push([...moved.take()]);
    expect(applied).toEqual([[255, 7], [0, 7], [1, 7], [2, 7]]);
    expect(moved.lastAppliedSeq).toBe(2);
    // drained, its client not back: it stands (zero input) instead of repeating input 2
    expect([...moved.take()]).toEqual([0, 0]);
    expect([...moved.take()]).toEqual([0, 0]);
    expect(moved.stats.repeated).toBe(2);
    // the client's resend (copies of 1 and 2, then 3 and 4) and its stream: 3 and 4 applied in order, the copies late
    for (let s = 1; s <= 4; s++) moved.offer(s, [s * 10, 1], 0);
    expect(moved.stats.late).toBe(2);
    expect([[...moved.take()], [...moved.take()]]).toEqual([[30, 1], [40, 1]]);
    expect(moved.stats.dropped).toBe(0);
    // with its link back, a missing input repeats the last one as usual
    expect([...moved.take()]).toEqual([40, 1]);
  });

  it('keeps the whole resend after a move, past maxPending, then bounds the window again once the backlog stayed within it for 60 inputs', () => {
    const b = new InputBuffer(1, 8);
    b.continueAfter(99, true);
    b.standWhenDrained();
    expect(b.take()[0]).toBe(0);
    for (let s = 100; s < 120; s++) b.offer(s, one(s), 0); // 20 inputs sent while the room moved
    expect(b.pendingCount()).toBe(20);
    const applied: number[] = [];
    for (let t = 0; t < 12; t++) applied.push(b.take()[0]);
    expect(applied).toEqual(Array.from({ length: 12 }, (_, i) => 100 + i));
    expect(b.stats.dropped).toBe(0);
    // down to maxPending, not for long yet: a burst past it is still kept (the moved client's input clock settling)
    for (let s = 120; s < 125; s++) b.offer(s, one(s), 0);
    expect(b.pendingCount()).toBe(13);
    expect(b.stats.dropped).toBe(0);
    // once the backlog stayed within maxPending for 60 applied inputs, a burst beyond it evicts the oldest again
    for (let t = 0; t < 5; t++) b.take();
    let next = 125;
    for (let t = 0; t < 60; t++) {
      b.take();
      b.offer(next, one(next), 0);
      next++;
    }
    expect(b.stats.dropped).toBe(0);
    for (let k = 0; k < 5; k++, next++) b.offer(next, one(next), 0);
    expect(b.pendingCount()).toBe(8);
    expect(b.stats.dropped).toBe(5);
  });

  it('after a move, stands up to 6 ticks for a gap in the resend to fill (its copies follow), then skips past it', () => {
    const b = new InputBuffer(1, 8);
    b.continueAfter(99, true);
    b.standWhenDrained();
    // the resend's second packet (116-131) arrives, its first (100-115) is lost; the copy follows 3 ticks later
    for (let s = 116; s < 132; s++) b.offer(s, one(s), 0);
    const first: number[] = [];
    for (let t = 0; t < 3; t++) first.push(b.take()[0]);
    expect(first).toEqual([0, 0, 0]);
    for (let s = 100; s < 116; s++) b.offer(s, one(s), 0);
    const applied: number[] = [];
    for (let t = 0; t < 32; t++) applied.push(b.take()[0]);
    expect(applied).toEqual(Array.from({ length: 32 }, (_, i) => 100 + i));
    expect(b.stats.dropped).toBe(0);
    // a gap that never fills: 6 ticks standing, then the inputs after it
    for (let s = 140; s < 150; s++) b.offer(s, one(s), 0);
    const later: number[] = [];
    for (let t = 0; t < 7; t++) later.push(b.take()[0]);
    expect(later).toEqual([0, 0, 0, 0, 0, 0, 140]);
    expect(b.stats.dropped).toBe(8);
  });

  it('judges the calm after a move on arrival: a backlog that peaks past maxPending between ticks keeps the window wide', () => {
    const b = new InputBuffer(1, 8);
    b.continueAfter(99, true);
    b.standWhenDrained();
    let next = 100;
    for (let k = 0; k < 8; k++, next++) b.offer(next, one(next), 0);
    // packets of two inputs every other tick over a backlog of 7-8 after each tick: 9 on arrival
    for (let t = 0; t < 200; t++) {
      if (t % 2 === 0) for (let k = 0; k < 2; k++, next++) b.offer(next, one(next), 0);
      b.take();
    }
    expect(b.stats.dropped).toBe(0);
    expect(b.stats.applied).toBe(200);
    // the backlog settles two inputs lower (peaks of 8): after 60 ticks without a peak past 8 the bound returns
    b.take();
    b.take();
    for (let t = 0; t < 70; t++) {
      if (t % 2 === 0) for (let k = 0; k < 2; k++, next++) b.offer(next, one(next), 0);
      b.take();
    }
    expect(b.stats.dropped).toBe(0);
    for (let k = 0; k < 3; k++, next++) b.offer(next, one(next), 0);
    expect(b.stats.dropped).toBeGreaterThan(0);
    expect(b.pendingCount()).toBe(8);
  });
});
