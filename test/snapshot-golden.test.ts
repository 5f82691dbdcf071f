// Golden snapshot vectors (test/golden/snapshot-*.json): stored packet bytes decode, each part alone
// and to exhaustion, into the stored frames; the encoder still produces exactly those bytes; a byte
// more or less is a DecodeError. Regenerate after a deliberate format change with
// UPDATE_GOLDEN=1 npx vitest run test/snapshot-golden.test.ts (and update PROTOCOL.md).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { BitWriter } from '../shared/protocol/bits.ts';
import { newPartPlacement, SectionDecoder, SectionEncoder, SectionParts } from '../shared/protocol/delta.ts';
import { DecodeError } from '../shared/protocol/errors.ts';
import { compileSchema, type NetSchema } from '../shared/protocol/schema.ts';
import { newSnapshotHeader, readSnapshotPacketHeader, SnapshotFrame } from '../shared/protocol/snapshot.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import { codecTestGame, frameDiff, LIVELY, RandomWorld } from './helpers/snapshot-world.ts';

interface FrameJson {
  tick: number;
  entities: { id: number; mask: number; values: number[]; rates: number[] }[];
}

interface Vector {
  description: string;
  game: 'codec-test' | 'arena-v1';
  maxPacketBytes: number;
  baseline: FrameJson | null;
  packets: string[];
  expected: FrameJson;
}

const GAMES: Record<Vector['game'], AnyGame> = { 'codec-test': codecTestGame(), 'arena-v1': arena };
const dir = new URL('./golden/', import.meta.url);

function toJson(f: SnapshotFrame): FrameJson {
  const entities = [];
  for (let i = 0; i < f.count; i++) {
    entities.push({
      id: f.ids[i], mask: f.masks[i],
      values: Array.from(f.values.subarray(i * f.fieldCount, (i + 1) * f.fieldCount)),
      rates: Array.from(f.rates.subarray(i * f.rateCount, (i + 1) * f.rateCount)),
    });
  }
  return { tick: f.tick, entities };
}

function fromJson(schema: NetSchema, j: FrameJson): SnapshotFrame {
  const f = new SnapshotFrame(schema, Math.max(1, j.entities.length));
  f.tick = j.tick;
  f.count = j.entities.length;
  j.entities.forEach((e, i) => {
    f.ids[i] = e.id;
    f.masks[i] = e.mask;
    f.values.set(e.values, i * f.fieldCount);
    f.rates.set(e.rates, i * f.rateCount);
  });
  return f;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));

function encodeAll(schema: NetSchema, target: SnapshotFrame, base: SnapshotFrame | null, mtu: number): string[] {
  const enc = new SectionEncoder(schema, mtu);
  const w = new BitWriter(enc.sectionCapacityBytes());
  const parts = new SectionParts();
  enc.encode(target, base, w, parts);
  return Array.from({ length: parts.count }, (_, p) => hex(w.bytes.subarray(parts.start[p], parts.end[p])));
}

/** Deterministic inputs of every vector. */
function sources(): Record<string, { description: string; game: Vector['game']; mtu: number; make: (schema: NetSchema) => { base: SnapshotFrame | null; target: SnapshotFrame } }> {
  const worldFrames = (game: AnyGame, seed: number, entities: number, baseAfter: number, targetAfter: number) => {
    const w = new RandomWorld(game, seed, { ...LIVELY, entities });
    w.advance(baseAfter);
    const base = w.capture(new SnapshotFrame(w.schema));
    w.advance(targetAfter);
    const target = w.capture(new SnapshotFrame(w.schema));
    return { base, target };
  };
  return {
    'snapshot-full-single': {
      description: 'Full snapshot of 12 entities of the codec-test game (every quantizer kind, absent components), one packet.',
      game: 'codec-test', mtu: 1200,
      make: () => ({ base: null, target: worldFrames(GAMES['codec-test'], 1, 12, 0, 3).target }),
    },
    'snapshot-full-split': {
      description: 'Full snapshot of 60 arena entities split into parts of at most 256 bytes.',
      game: 'arena-v1', mtu: 256,
      make: () => ({ base: null, target: worldFrames(arena, 2, 60, 0, 3).target }),
    },
    'snapshot-delta': {
      description: 'Delta of the codec-test game against a baseline 3 ticks older: unchanged and moving entities, turns (rates + age), value jumps, wrapping angles, component changes, creations and removals.',
      game: 'codec-test', mtu: 1200,
      make: () => worldFrames(GAMES['codec-test'], 3, 40, 6, 3),
    },
    'snapshot-delta-split': {
      description: 'Delta of 150 codec-test entities against a baseline 12 ticks older, split into parts of at most 256 bytes.',
      game: 'codec-test', mtu: 256,
      make: () => worldFrames(GAMES['codec-test'], 4, 150, 3, 12),
    },
  };
}

describe('golden snapshot vectors', () => {
  const src = sources();
  if (process.env.UPDATE_GOLDEN === '1') {
    for (const [name, s] of Object.entries(src)) {
      const schema = compileSchema(GAMES[s.game]);
      const { base, target } = s.make(schema);
      const v: Vector = { description: s.description, game: s.game, maxPacketBytes: s.mtu, baseline: base ? toJson(base) : null, packets: encodeAll(schema, target, base, s.mtu), expected: toJson(target) };
      writeFileSync(new URL(`${name}.json`, dir), JSON.stringify(v, null, 1) + '\n');
    }
  }

  for (const name of Object.keys(src)) {
    it(`${name}: every part decodes alone to exhaustion into the stored frame; the encoder reproduces the bytes`, () => {
      const file = new URL(`${name}.json`, dir);
      expect(existsSync(file), `${name}.json exists (regenerate with UPDATE_GOLDEN=1)`).toBe(true);
      const v = JSON.parse(readFileSync(file, 'utf8')) as Vector;
      const schema = compileSchema(GAMES[v.game]);
      const base = v.baseline ? fromJson(schema, v.baseline) : null;
      const expected = fromJson(schema, v.expected);
      const h = newSnapshotHeader();
      const place = newPartPlacement();
      const out = new SnapshotFrame(schema, 4);
      let rows = 0;
      for (const [p, text] of v.packets.entries()) {
        const bytes = unhex(text);
        expect(bytes.length).toBeLessThanOrEqual(v.maxPacketBytes);
        readSnapshotPacketHeader(bytes, h);
        expect([h.partIndex, h.partCount, h.tick, h.baselineTick]).toEqual([p, v.packets.length, expected.tick, base ? base.tick : -1]);
        // A fresh decoder per part: parts are independent.
        new SectionDecoder(schema).decodePart(bytes, h, base, out, schema.maxEntities, place);
        rows += place.rows;
        // One byte short or one zero byte more must not decode.
        expect(() => new SectionDecoder(schema).decodePart(bytes.subarray(0, bytes.length - 1), h, base, new SnapshotFrame(schema, 4), schema.maxEntities, newPartPlacement())).toThrow(DecodeError);
        const longer = new Uint8Array(bytes.length + 1);
        longer.set(bytes);
        expect(() => new SectionDecoder(schema).decodePart(longer, h, base, new SnapshotFrame(schema, 4), schema.maxEntities, newPartPlacement())).toThrow(DecodeError);
      }
      out.count = rows;
      out.tick = expected.tick;
      expect(frameDiff(out, expected)).toBe('');
      expect(encodeAll(schema, expected, base, v.maxPacketBytes)).toEqual(v.packets);
    });
  }
});
