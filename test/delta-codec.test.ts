// The snapshot entity-section codec: Exp-Golomb codes, lossless round trips against baselines,
// what unchanged, moving, turning, created and removed entities cost, MTU-sized independent parts,
// and hostile bytes.
import { describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { BitReader, BitWriter } from '../shared/protocol/bits.ts';
import { egBits, newPartPlacement, readEG, SectionDecoder, SectionEncoder, SectionParts, writeEG } from '../shared/protocol/delta.ts';
import { DecodeError } from '../shared/protocol/errors.ts';
import { angle, fixed, uint } from '../shared/protocol/quantize.ts';
import { compileSchema, type NetSchema } from '../shared/protocol/schema.ts';
import { newSnapshotHeader, readSnapshotPacketHeader, SnapshotFrame, SnapshotKind, snapshotLayout } from '../shared/protocol/snapshot.ts';
import { defineGame } from '../shared/sim/game.ts';
import { Rng } from '../shared/sim/rng.ts';
import { cloneFrame, codecTestGame, frameDiff, LIVELY, RandomWorld } from './helpers/snapshot-world.ts';

/** Encodes target vs base and decodes every part (each alone) into a fresh frame. */
function roundTrip(schema: NetSchema, target: SnapshotFrame, base: SnapshotFrame | null, mtu = 1200) {
  const enc = new SectionEncoder(schema, mtu);
  const w = new BitWriter(enc.sectionCapacityBytes());
  const parts = new SectionParts();
  enc.encode(target, base, w, parts);
  const dec = new SectionDecoder(schema);
  const out = new SnapshotFrame(schema, 8);
  const h = newSnapshotHeader();
  const place = newPartPlacement();
  let total = 0;
  const sizes: number[] = [];
  for (let p = 0; p < parts.count; p++) {
    const bytes = w.bytes.slice(parts.start[p], parts.end[p]);
    sizes.push(bytes.length);
    readSnapshotPacketHeader(bytes, h);
    expect(h.partIndex).toBe(p);
    expect(h.partCount).toBe(parts.count);
    dec.decodePart(bytes, h, base, out, schema.maxEntities, place);
    total = place.totalCount < 0 ? place.rows : place.totalCount;
  }
  out.count = total;
  out.tick = target.tick;
  return { out, parts, sizes, bytes: sizes.reduce((a, b) => a + b, 0), w };
}

/** A world of n entities of the arena schema moving in straight lines (values and rates as the server captures them). */
function arenaFrame(schema: NetSchema, n: number, tick: number, seed = 1): SnapshotFrame {
  const rng = new Rng(seed);
  const f = new SnapshotFrame(schema);
  f.tick = tick;
  f.count = n;
  for (let i = 0; i < n; i++) {
    f.ids[i] = i;
    f.masks[i] = 0b1111;
    const rx = rng.int(53) - 26;
    const ry = rng.int(53) - 26;
    // Far enough from the walls that the tests' extrapolations stay in range.
    f.values[i * 5] = 1;
    f.values[i * 5 + 1] = 8000 + rng.int(16000);
    f.values[i * 5 + 2] = 8000 + rng.int(16000);
    f.values[i * 5 + 3] = rng.int(256);
    f.values[i * 5 + 4] = rng.int(101);
    f.rates[i * 2] = rx;
    f.rates[i * 2 + 1] = ry;
  }
  return f;
}

describe('Exp-Golomb codes', () => {
  it('round-trip values below 2^40 for every order, in exactly egBits bits', () => {
    const rng = new Rng(7);
    const w = new BitWriter(1 << 16);
    const values: [number, number][] = [];
    for (let i = 0; i < 2000; i++) {
      const mag = rng.int(41);
      const u = Math.floor(rng.next() * 2 ** mag);
      const k = rng.int(8);
      values.push([u, k]);
    }
    values.push([0, 0], [2 ** 40 - 1, 0], [2 ** 32, 3], [2 ** 32 - 1, 0], [1, 7]);
    let bits = 0;
    for (const [u, k] of values) {
      const before = w.bitLength();
      writeEG(w, u, k);
      expect(w.bitLength() - before).toBe(egBits(u, k));
      bits += egBits(u, k);
    }
    const r = new BitReader().reset(w.bytes, 0, w.byteLength());
    for (const [u, k] of values) expect(readEG(r, k, 'v')).toBe(u);
    expect(r.position()).toBe(bits);
  });

  it('rejects an over-long prefix as a DecodeError naming the field', () => {
    const r = new BitReader().reset(new Uint8Array(8), 0, 8);
    expect(() => readEG(r, 0, 'updated.skip')).toThrow(/updated\.skip/);
  });
});

describe('snapshot entity sections', () => {
  it('round-trip random worlds exactly, full and against older baselines, at several MTUs', () => {
    const game = codecTestGame();
    for (let seed = 1; seed <= 12; seed++) {
      const world = new RandomWorld(game, seed, { ...LIVELY, entities: 30 + seed * 15 });
      const schema = world.schema;
      const frames: SnapshotFrame[] = [];
      for (let s = 0; s < 8; s++) {
        world.advance(1 + (seed % 4));
        frames.push(world.capture(new SnapshotFrame(schema)));
      }
      const target = frames[frames.length - 1];
      for (const mtu of [256, 600, 1200]) {
        for (const base of [null, frames[0], frames[5], frames[6]]) {
          const { out, sizes } = roundTrip(schema, target, base, mtu);
          expect(frameDiff(out, target), `seed ${seed} mtu ${mtu} base ${base?.tick}`).toBe('');
          for (const n of sizes) expect(n).toBeLessThanOrEqual(mtu);
        }
      }
    }
  });

  it('costs almost nothing for unchanged and steadily moving entities, whatever the baseline age', () => {
    const schema = compileSchema(arena);
    const base = arenaFrame(schema, 1000, 300);
    for (const dt of [3, 6, 30, 90]) {
      const target = cloneFrame(schema, base);
      target.tick = base.tick + dt;
      for (let i = 0; i < target.count; i++) {
        target.values[i * 5 + 1] += target.rates[i * 2] * dt;
        target.values[i * 5 + 2] += target.rates[i * 2 + 1] * dt;
      }
      const { out, bytes } = roundTrip(schema, target, base);
      expect(frameDiff(out, target)).toBe('');
      // 12-byte header + a few bits of part header and counts, for 1000 moving entities.
      expect(bytes, `dt ${dt}`).toBeLessThanOrEqual(16);
    }
  });

  it('sends a turn as new rates and the age of the turn, with no position residual', () => {
    const schema = compileSchema(arena);
    const base = arenaFrame(schema, 500, 300);
    const dt = 3;
    const target = cloneFrame(schema, base);
    target.tick = base.tick + dt;
    for (let i = 0; i < target.count; i++) {
      target.values[i * 5 + 1] += target.rates[i * 2] * dt;
      target.values[i * 5 + 2] += target.rates[i * 2 + 1] * dt;
    }
    const quiet = roundTrip(schema, target, base).bytes;
    // Entity 250 turned one tick after the baseline: two ticks at the new rate.
    const i = 250;
    target.values[i * 5 + 1] = base.values[i * 5 + 1] + base.rates[i * 2] + 2 * 17;
    target.values[i * 5 + 2] = base.values[i * 5 + 2] + base.rates[i * 2 + 1] + 2 * -9;
    target.rates[i * 2] = 17;
    target.rates[i * 2 + 1] = -9;
    target.values[i * 5 + 3] = (base.values[i * 5 + 3] + 77) % 256;
    const turned = roundTrip(schema, target, base);
    expect(frameDiff(turned.out, target)).toBe('');
    // skip + header + age + two rates + angle: well under 8 bytes.
    expect(turned.bytes - quiet).toBeLessThanOrEqual(6);
  });

  it('codes wrapping fields modulo their range and 1-bit fields as a flip', () => {
    const game = defineGame({
      name: 'wrap', maxEntities: 16, components: (n: number) => ({ A: { a: new Float32Array(n), b: new Uint8Array(n), p: new Float32Array(n) } }),
      networked: { A: { a: angle(8), b: uint(1), p: fixed(0, 100, 1) } }, local: [], input: { i: uint(1) }, stepPlayer() {}, systems: () => [], spawnPlayer: (ctx) => ctx.spawn(),
    });
    const schema = compileSchema(game);
    const base = new SnapshotFrame(schema);
    base.tick = 10;
    base.count = 1;
    base.masks[0] = 1;
    base.values.set([255, 0, 50]);
    const target = cloneFrame(schema, base);
    target.tick = 13;
    target.values.set([1, 1, 50]); // angle 255 -> 1 is +2 around the circle
    const { out, bytes } = roundTrip(schema, target, base);
    expect(frameDiff(out, target)).toBe('');
    expect(bytes).toBe(12 + 3); // header + 3 bytes: orders, counts, skip, record (flags, residual, flip)
  });

  it('makes creations, removals and component changes explicit', () => {
    const game = codecTestGame();
    const world = new RandomWorld(game, 99, { ...LIVELY, entities: 60, turn: 0, jump: 0, maskFlip: 0, despawn: 0, spawn: 0 });
    const schema = world.schema;
    const base = world.capture(new SnapshotFrame(schema));
    world.advance(3);
    const target = world.capture(new SnapshotFrame(schema));
    // Remove rows 3 and 40, create two new ids, drop a component from row 10 and add one to row 20.
    const nf = target.fieldCount;
    const edited = new SnapshotFrame(schema);
    edited.tick = target.tick;
    let o = 0;
    const usedIds = new Set(Array.from(target.ids.subarray(0, target.count)));
    const newIds = [0, 1, 2, 3, 4, 5, 6, 7].filter((id) => !usedIds.has(id)).slice(0, 2);
    const rows: { id: number; from: number }[] = [];
    for (let i = 0; i < target.count; i++) if (i !== 3 && i !== 40) rows.push({ id: target.ids[i], from: i });
    for (const id of newIds) rows.push({ id, from: -1 });
    rows.sort((a, b) => a.id - b.id);
    for (const r of rows) {
      edited.ids[o] = r.id;
      if (r.from >= 0) {
        edited.masks[o] = target.masks[r.from];
        for (let f = 0; f < nf; f++) edited.values[o * nf + f] = target.values[r.from * nf + f];
        for (let k = 0; k < target.rateCount; k++) edited.rates[o * target.rateCount + k] = target.rates[r.from * target.rateCount + k];
      } else {
        edited.masks[o] = 0b1; // Pos only
        edited.values[o * nf] = 100 + r.id;
        edited.values[o * nf + 1] = 7;
      }
      o++;
    }
    edited.count = o;
    const layout = snapshotLayout(schema);
    const dropComp = (i: number, c: number): void => {
      edited.masks[i] &= ~(1 << c);
      for (let f = 0; f < nf; f++) if (schema.fields[f].compIndex === c) edited.values[i * nf + f] = 0;
      for (let k = 0; k < layout.nr; k++) if (layout.slotComp[k] === c) edited.rates[i * layout.nr + k] = 0;
    };
    dropComp(10, 0);
    edited.masks[20] |= 1 << 2; // gains Flag
    edited.values[20 * nf + 3] = 1;
    const { out } = roundTrip(schema, edited, base);
    expect(frameDiff(out, edited)).toBe('');
    expect(out.count).toBe(base.count);
    expect(out.indexOf(base.ids[3])).toBe(-1);
    for (const id of newIds) expect(out.indexOf(id)).toBeGreaterThanOrEqual(0);
  });

  it('splits a big snapshot into MTU-sized parts that each decode alone to the right rows', () => {
    const schema = compileSchema(arena);
    const target = arenaFrame(schema, 550, 600, 3);
    const enc = new SectionEncoder(schema, 1200);
    const w = new BitWriter(enc.sectionCapacityBytes());
    const parts = new SectionParts();
    enc.encode(target, null, w, parts);
    expect(parts.count).toBeGreaterThanOrEqual(4);
    expect(parts.kind).toBe(SnapshotKind.Full);
    const h = newSnapshotHeader();
    const place = newPartPlacement();
    let covered = 0;
    for (let p = 0; p < parts.count; p++) {
      const bytes = w.bytes.slice(parts.start[p], parts.end[p]);
      expect(bytes.length).toBeLessThanOrEqual(1200);
      // Alone: a fresh decoder and a fresh frame.
      const alone = new SnapshotFrame(schema, 4);
      readSnapshotPacketHeader(bytes, h);
      new SectionDecoder(schema).decodePart(bytes, h, null, alone, schema.maxEntities, place);
      expect(place.totalCount).toBe(550);
      for (let i = 0; i < place.rows; i++) {
        const row = place.rowStart + i;
        expect(alone.ids[row]).toBe(target.ids[row]);
        expect(alone.ids[row]).toBeGreaterThanOrEqual(place.idLo);
        expect(alone.ids[row]).toBeLessThan(place.idHi);
        for (let f = 0; f < 5; f++) expect(alone.values[row * 5 + f]).toBe(target.values[row * 5 + f]);
      }
      covered += place.rows;
    }
    expect(covered).toBe(550);
  });

  it('refuses a packet budget that cannot hold one entity', () => {
    const game = defineGame({
      name: 'wide', maxEntities: 8, components: (n: number) => ({ W: Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`f${i}`, new Float64Array(n)])) }),
      networked: { W: Object.fromEntries(Array.from({ length: 80 }, (_, i) => [`f${i}`, uint(32)])) }, local: [], input: { i: uint(1) }, stepPlayer() {}, systems: () => [], spawnPlayer: (ctx) => ctx.spawn(),
    });
    expect(() => new SectionEncoder(compileSchema(game), 256)).toThrow(RangeError);
    expect(() => new SectionEncoder(compileSchema(game), 1200)).not.toThrow();
  });

  it('turns corrupted, truncated and random bytes into DecodeError, never another error', () => {
    const game = codecTestGame();
    const world = new RandomWorld(game, 5, { ...LIVELY, entities: 80 });
    const schema = world.schema;
    const base = world.capture(new SnapshotFrame(schema));
    world.advance(3);
    const target = world.capture(new SnapshotFrame(schema));
    const enc = new SectionEncoder(schema, 300);
    const w = new BitWriter(enc.sectionCapacityBytes());
    const parts = new SectionParts();
    const rng = new Rng(11);
    const dec = new SectionDecoder(schema);
    const h = newSnapshotHeader();
    const place = newPartPlacement();
    let decodeErrors = 0;
    let decoded = 0;
    for (const b of [null, base]) {
      enc.encode(target, b, w, parts);
      for (let trial = 0; trial < 1500; trial++) {
        const p = rng.int(parts.count);
        const bytes = w.bytes.slice(parts.start[p], parts.end[p]);
        const mode = trial % 3;
        let mutated: Uint8Array;
        if (mode === 0) {
          mutated = bytes;
          for (let k = 0; k <= rng.int(3); k++) mutated[12 + rng.int(bytes.length - 12)] ^= 1 << rng.int(8);
        } else if (mode === 1) mutated = bytes.subarray(0, 12 + rng.int(bytes.length - 12));
        else {
          mutated = bytes;
          for (let k = 12; k < mutated.length; k++) mutated[k] = rng.int(256);
        }
        const out = new SnapshotFrame(schema, 4);
        try {
          readSnapshotPacketHeader(mutated, h);
          dec.decodePart(mutated, h, b, out, schema.maxEntities, place);
          decoded++;
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
          decodeErrors++;
        }
      }
    }
    expect(decodeErrors).toBeGreaterThan(2000);
    expect(decodeErrors + decoded).toBe(3000);
  });
});
