// Property tests of the snapshot codec as a client receives it: any valid frame of every registered
// game, encoded full or as a delta against any valid baseline, split at any packet size and
// delivered in any part order, decodes to exactly that frame. 10,000 runs each.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GAMES } from '../games/index.ts';
import { SnapshotReceiver } from '../netcode/receiver.ts';
import { BitWriter } from '../shared/protocol/bits.ts';
import { SectionEncoder, SectionParts } from '../shared/protocol/delta.ts';
import { compileSchema, type NetSchema } from '../shared/protocol/schema.ts';
import { MAX_BASELINE_AGE_TICKS, SnapshotFrame, snapshotLayout } from '../shared/protocol/snapshot.ts';
import { Rng } from '../shared/sim/rng.ts';
import { frameDiff } from './helpers/snapshot-world.ts';

const RUNS = 10_000;

/** A frame as plain data (fast-check shrinks it), built into a SnapshotFrame on use. */
interface FrameSpec {
  tick: number;
  rows: { id: number; mask: number; values: number[]; rates: number[] }[];
}

function build(schema: NetSchema, spec: FrameSpec): SnapshotFrame {
  const f = new SnapshotFrame(schema, Math.max(1, spec.rows.length));
  f.tick = spec.tick;
  f.count = spec.rows.length;
  spec.rows.forEach((row, i) => {
    f.ids[i] = row.id;
    f.masks[i] = row.mask;
    row.values.forEach((v, k) => (f.values[i * f.fieldCount + k] = v));
    row.rates.forEach((v, k) => (f.rates[i * f.rateCount + k] = v));
  });
  return f;
}

/** One valid row: at least one networked component, values within each quantizer (0 where absent), rates small or up to the field's range (0 where absent). */
function rowFrom(schema: NetSchema, id: number, mask: number, values: number[], rates: number[]): FrameSpec['rows'][number] {
  const layout = snapshotLayout(schema);
  return {
    id,
    mask,
    values: values.map((v, k) => (((mask >>> schema.fields[k].compIndex) & 1) === 1 ? v : 0)),
    rates: rates.map((v, k) => (((mask >>> schema.fields[layout.rateField[k]].compIndex) & 1) === 1 ? v : 0)),
  };
}

/** Valid frames of a schema with up to `maxRows` entities of ascending unique ids, shrinkable. */
function smallFrameArb(schema: NetSchema, maxRows: number): fc.Arbitrary<Omit<FrameSpec, 'tick'>> {
  const layout = snapshotLayout(schema);
  const nc = schema.components.length;
  const content = fc.record({
    mask: fc.integer({ min: 1, max: 2 ** nc - 1 }),
    values: fc.tuple(...schema.fields.map((f) => fc.oneof(fc.integer({ min: 0, max: f.q.maxQ }), fc.constantFrom(0, f.q.maxQ)))),
    rates: fc.tuple(...Array.from(layout.rateField, (f) => {
      const max = schema.fields[f].q.maxQ;
      return fc.oneof({ weight: 4, arbitrary: fc.integer({ min: -64, max: 64 }) }, { weight: 1, arbitrary: fc.integer({ min: -max, max }) });
    })),
  });
  const ids = fc.uniqueArray(fc.oneof(fc.integer({ min: 0, max: 63 }), fc.integer({ min: 0, max: schema.maxEntities - 1 })), { maxLength: maxRows });
  return fc.tuple(ids, fc.array(content, { minLength: maxRows, maxLength: maxRows })).map(([idList, rows]) => ({
    rows: idList.sort((a, b) => a - b).map((id, i) => rowFrom(schema, id, rows[i].mask, rows[i].values, rows[i].rates)),
  }));
}

/** A big valid frame (n entities) drawn from a seed: cheap to generate, so snapshots split into parts. */
function seededFrame(schema: NetSchema, seed: number, n: number): Omit<FrameSpec, 'tick'> {
  const layout = snapshotLayout(schema);
  const rng = new Rng(seed);
  const nc = schema.components.length;
  const ids = new Set<number>();
  const span = Math.min(schema.maxEntities, n * (1 + rng.int(4)));
  while (ids.size < Math.min(n, span)) ids.add(rng.int(span));
  const rows = [...ids].sort((a, b) => a - b).map((id) => {
    const mask = 1 + rng.int(2 ** nc - 1);
    const values = schema.fields.map((f) => (rng.int(8) === 0 ? f.q.maxQ : rng.int(f.q.maxQ + 1)));
    const rates = Array.from(layout.rateField, (f) => (rng.int(5) === 0 ? rng.int(2 * schema.fields[f].q.maxQ + 1) - schema.fields[f].q.maxQ : rng.int(129) - 64));
    return rowFrom(schema, id, mask, values, rates);
  });
  return { rows };
}

/** Valid frames: small shrinkable ones mostly, big seeded ones (which split into parts) a ninth of the time. */
function frameArb(schema: NetSchema, maxRows: number): fc.Arbitrary<Omit<FrameSpec, 'tick'>> {
  const big = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: maxRows, max: 160 })).map(([seed, n]) => seededFrame(schema, seed, Math.min(n, schema.maxEntities)));
  return fc.oneof({ weight: 8, arbitrary: smallFrameArb(schema, maxRows) }, { weight: 1, arbitrary: big });
}

/**
 * A baseline related to the target as in a running game: most entities kept (some moved, changed
 * or with other components), some removed, some added. Or, a quarter of the time, unrelated.
 */
function baselineArb(schema: NetSchema, target: Omit<FrameSpec, 'tick'>, maxRows: number): fc.Arbitrary<Omit<FrameSpec, 'tick'>> {
  const unrelated = frameArb(schema, maxRows);
  const related = fc.tuple(smallFrameArb(schema, 8), fc.integer({ min: 0, max: 0xffffffff })).map(([extra, seed]) => {
    const rng = new Rng(seed);
    const rows = new Map<number, FrameSpec['rows'][number]>();
    target.rows.forEach((r, i) => {
      const fate = rng.int(10);
      if (fate === 0) return; // created since the baseline
      if (fate === 1) {
        const e = extra.rows[i % Math.max(1, extra.rows.length)];
        if (e) rows.set(r.id, { ...e, id: r.id }); // changed components and values
        return;
      }
      rows.set(r.id, fate < 6 ? r : { ...r, values: r.values.map((v, k) => (v && k % 2 === fate % 2 ? v - 1 : v)) });
    });
    for (const e of extra.rows) if (!rows.has(e.id)) rows.set(e.id, e); // removed since the baseline
    return { rows: [...rows.values()].sort((a, b) => a.id - b.id) };
  });
  return fc.oneof({ weight: 3, arbitrary: related }, { weight: 1, arbitrary: unrelated });
}

/** Snapshots that were split into several parts (the property must cover splits). */
const splits = { n: 0 };

/** Encodes `target` (against `base`, or full) and feeds the parts to `rx` in `order`; returns what completed. */
function deliver(enc: SectionEncoder, w: BitWriter, parts: SectionParts, rx: SnapshotReceiver, target: SnapshotFrame, base: SnapshotFrame | null, order: number[]): SnapshotFrame | undefined {
  enc.encode(target, base, w, parts);
  if (parts.count > 1) splits.n++;
  const idx = Array.from({ length: parts.count }, (_, i) => i);
  // a permutation of the parts driven by `order`
  for (let i = idx.length - 1; i > 0; i--) {
    const j = (order[i % order.length] ?? 0) % (i + 1);
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  let done: SnapshotFrame | undefined;
  for (const p of idx) {
    const got = rx.receive(w.bytes.slice(parts.start[p], parts.end[p]));
    if (got) done = got;
  }
  return done;
}

describe.each(Object.entries(GAMES))('snapshot codec of %s', (_name, game) => {
  const schema = compileSchema(game);
  const maxRows = 24;
  const encoders = new Map<number, { enc: SectionEncoder; w: BitWriter }>();
  const encoder = (mtu: number): { enc: SectionEncoder; w: BitWriter } => {
    let e = encoders.get(mtu);
    if (!e) {
      const enc = new SectionEncoder(schema, mtu);
      e = { enc, w: new BitWriter(enc.sectionCapacityBytes()) };
      encoders.set(mtu, e);
    }
    return e;
  };
  const mtuArb = fc.constantFrom(256, 300, 600, 1200);
  const parts = new SectionParts();
  // One receiver per property (building one costs more than a run); every run uses ticks past the
  // previous run's, so its frames never meet an earlier run's.
  let rx = new SnapshotReceiver(schema, 1, 4);
  let nextTick = 0;
  const ticks = (age: number): number => {
    const base = nextTick;
    nextTick += age + 1;
    return base;
  };

  it('full snapshots: any frame, any packet size, parts in any order', () => {
    splits.n = 0;
    rx = new SnapshotReceiver(schema, 1, 4);
    fc.assert(
      fc.property(frameArb(schema, maxRows), mtuArb, fc.array(fc.nat(), { maxLength: 8 }), (spec, mtu, order) => {
        const tick = ticks(0);
        const target = build(schema, { ...spec, tick });
        const { enc, w } = encoder(mtu);
        const got = deliver(enc, w, parts, rx, target, null, order);
        expect(got, 'snapshot completed').toBeDefined();
        expect(frameDiff(got!, target)).toBe('');
        expect(got!.tick).toBe(tick);
      }),
      { numRuns: RUNS },
    );
    expect(splits.n).toBeGreaterThan(RUNS / 100);
  }, 120_000);

  it('deltas: any frame against any baseline of any age, any packet size, parts in any order', () => {
    splits.n = 0;
    rx = new SnapshotReceiver(schema, 1, 4);
    const scenario = frameArb(schema, maxRows).chain((t) => fc.tuple(fc.constant(t), baselineArb(schema, t, maxRows)));
    fc.assert(
      fc.property(scenario, fc.oneof(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: MAX_BASELINE_AGE_TICKS })), mtuArb, fc.array(fc.nat(), { maxLength: 8 }), ([t, b], age, mtu, order) => {
        const baseTick = ticks(age);
        const base = build(schema, { ...b, tick: baseTick });
        const target = build(schema, { ...t, tick: baseTick + age });
        const { enc, w } = encoder(mtu);
        const gotBase = deliver(enc, w, parts, rx, base, null, order);
        expect(gotBase && frameDiff(gotBase, base)).toBe('');
        // the receiver decodes against its own copy of the baseline, as a client does
        const got = deliver(enc, w, parts, rx, target, base, order);
        expect(got, 'delta completed').toBeDefined();
        expect(frameDiff(got!, target)).toBe('');
        expect(got!.tick).toBe(target.tick);
      }),
      { numRuns: RUNS },
    );
    expect(splits.n).toBeGreaterThan(RUNS / 100);
  }, 120_000);
});
