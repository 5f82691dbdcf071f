// The client's snapshot receiver: split snapshots assembled in any order, display frames on demand
// for a snapshot missing a part (received parts exact, the rest extrapolated from the baseline,
// never acked), duplicates, a missing baseline, and parts that contradict each other.
import { describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { SnapshotReceiver } from '../netcode/receiver.ts';
import { BitWriter } from '../shared/protocol/bits.ts';
import { SectionEncoder, SectionParts } from '../shared/protocol/delta.ts';
import { DecodeError } from '../shared/protocol/errors.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { readSnapshotAck, SnapshotFrame } from '../shared/protocol/snapshot.ts';
import { Rng } from '../shared/sim/rng.ts';
import { cloneFrame, frameDiff } from './helpers/snapshot-world.ts';

const schema = compileSchema(arena);

/** n arena entities in straight-line motion at `tick` (ids 0..n-1, every third one turned at the last snapshot). */
function frameAt(n: number, tick: number): SnapshotFrame {
  const rng = new Rng(17);
  const f = new SnapshotFrame(schema);
  f.tick = tick;
  f.count = n;
  for (let i = 0; i < n; i++) {
    const rx = rng.int(41) - 20;
    const ry = rng.int(41) - 20;
    f.ids[i] = i * 2;
    f.masks[i] = 0b1111;
    f.values.set([1, 10000 + rng.int(10000) + rx * tick, 10000 + rng.int(10000) + ry * tick, rng.int(256), 100], i * 5);
    f.rates.set([rx, ry], i * 2);
  }
  return f;
}

function encode(target: SnapshotFrame, base: SnapshotFrame | null, mtu: number): Uint8Array[] {
  const enc = new SectionEncoder(schema, mtu);
  const w = new BitWriter(enc.sectionCapacityBytes());
  const parts = new SectionParts();
  enc.encode(target, base, w, parts);
  return Array.from({ length: parts.count }, (_, p) => w.bytes.slice(parts.start[p], parts.end[p]));
}

describe('SnapshotReceiver', () => {
  it('assembles a split snapshot from parts in any order, returning it once complete', () => {
    const truth = frameAt(400, 300);
    const parts = encode(truth, null, 600);
    expect(parts.length).toBeGreaterThanOrEqual(4);
    const rx = new SnapshotReceiver(schema, 3);
    const order = parts.map((_, i) => i).reverse();
    let last: SnapshotFrame | undefined;
    for (const [k, p] of order.entries()) {
      last = rx.receive(parts[p]);
      if (k < order.length - 1) {
        expect(last).toBeUndefined();
        // Meanwhile a display frame shows what is known.
        const d = rx.display(300) as SnapshotFrame;
        expect(d.complete).toBe(false);
        expect(rx.latestDisplay()).toBe(d);
      }
    }
    expect(last?.complete).toBe(true);
    expect(frameDiff(last as SnapshotFrame, truth)).toBe('');
    expect(rx.display(300)).toBe(last);
    expect(rx.counters.completed).toBe(1);
    // Every part again: duplicates, no change.
    for (const p of parts) expect(rx.receive(p)).toBeUndefined();
    expect(rx.counters.duplicates).toBe(parts.length);
  });

  it('shows a snapshot missing a part: received parts exact, the missing range extrapolated from the baseline, not acked', () => {
    const base = frameAt(400, 300);
    const rx = new SnapshotReceiver(schema, 3);
    for (const p of encode(base, null, 1200)) rx.receive(p);
    expect(rx.newestTick).toBe(300);
    // Next snapshot: steady motion plus a turn of every entity, so the delta is big and split.
    const truth = cloneFrame(schema, base);
    truth.tick = 303;
    for (let i = 0; i < truth.count; i++) {
      truth.rates[i * 2] = -truth.rates[i * 2];
      truth.values[i * 5 + 1] = base.values[i * 5 + 1] + 3 * truth.rates[i * 2];
      truth.values[i * 5 + 2] += 3 * truth.rates[i * 2 + 1];
    }
    const parts = encode(truth, base, 256);
    expect(parts.length).toBeGreaterThanOrEqual(2);
    const lost = 1;
    for (let p = 0; p < parts.length; p++) if (p !== lost) expect(rx.receive(parts[p])).toBeUndefined();
    const d = rx.display(303) as SnapshotFrame;
    expect(d.complete).toBe(false);
    expect(d.tick).toBe(303);
    expect(d.count).toBe(truth.count);
    let exact = 0;
    let extrapolated = 0;
    for (let i = 0; i < d.count; i++) {
      expect(d.ids[i]).toBe(truth.ids[i]);
      const same = d.values[i * 5 + 1] === truth.values[i * 5 + 1];
      if (same) exact++;
      else {
        // Extrapolated from the baseline with the old rate.
        expect(d.values[i * 5 + 1]).toBe(base.values[i * 5 + 1] + 3 * base.rates[i * 2]);
        extrapolated++;
      }
    }
    expect(exact).toBeGreaterThan(0);
    expect(extrapolated).toBeGreaterThan(0);
    // Only the complete snapshot is acknowledged.
    expect(readSnapshotAck(rx.ack(), { tick: 0, bits: 0 })).toEqual({ tick: 300, bits: 0 });
    expect(rx.get(303)).toBeUndefined();
    // The lost part arriving late completes it.
    const done = rx.receive(parts[lost]) as SnapshotFrame;
    expect(done.complete).toBe(true);
    expect(frameDiff(done, truth)).toBe('');
  });

  it('drops a delta whose baseline it does not hold, and counts it', () => {
    const base = frameAt(50, 300);
    const truth = cloneFrame(schema, base);
    truth.tick = 303;
    const rx = new SnapshotReceiver(schema, 3);
    for (const p of encode(truth, base, 1200)) expect(rx.receive(p)).toBeUndefined();
    expect(rx.counters.missingBaseline).toBe(1);
    expect(rx.newestTick).toBe(-1);
  });

  it('rejects parts that contradict earlier parts of the same tick without damaging them', () => {
    const truth = frameAt(300, 300);
    const parts = encode(truth, null, 400);
    const other = encode(frameAt(300, 300), null, 700); // same tick, different split
    const rx = new SnapshotReceiver(schema, 3);
    rx.receive(parts[0]);
    expect(() => rx.receive(other[1])).toThrow(DecodeError);
    for (let p = 1; p < parts.length; p++) rx.receive(parts[p]);
    expect(frameDiff(rx.latest() as SnapshotFrame, truth)).toBe('');
  });

  it('never evicts the newest complete frame or the baseline it decodes against', () => {
    const rx = new SnapshotReceiver(schema, 3, 3);
    const base = frameAt(100, 300);
    for (const p of encode(base, null, 1200)) rx.receive(p);
    // Incomplete later snapshots fill the ring.
    for (let t = 303; t <= 330; t += 3) {
      const f = cloneFrame(schema, base);
      f.tick = t;
      for (let i = 0; i < f.count; i++) f.values[i * 5 + 3] = (f.values[i * 5 + 3] + t) % 256;
      const parts = encode(f, base, 256);
      expect(parts.length).toBeGreaterThan(1);
      rx.receive(parts[0]);
    }
    expect(rx.latest()?.tick).toBe(300);
    const f = cloneFrame(schema, base);
    f.tick = 333;
    for (const p of encode(f, base, 1200)) rx.receive(p);
    expect(frameDiff(rx.latest() as SnapshotFrame, f)).toBe('');
  });
});
