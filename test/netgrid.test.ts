// The snap to the wire grid a whole room at a time (snapAllToNetGrid, each quantizer's snapColumn)
// gives exactly the values of the one-entity snap (snapToNetGrid, dequantize(quantize(v))): for
// every built-in quantizer over typed arrays of every kind, and for every registered game's
// stores, with hostile values (NaN, infinities, -0, out of range). The snap a capture does as it
// reads (snapEach, captureFrame with snap) gives what the snap and then the capture give.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GAMES } from '../games/index.ts';
import { angle, bool, fixed, int, uint, type Quantizer } from '../shared/protocol/quantize.ts';
import { bindFieldStores, compileSchema } from '../shared/protocol/schema.ts';
import type { Store } from '../shared/sim/game.ts';
import { snapAllToNetGrid, snapToNetGrid } from '../shared/sim/netgrid.ts';
import { SnapshotFrame } from '../shared/protocol/snapshot.ts';
import { captureFrame } from '../server/history.ts';

const RUNS = 500;

const anyNumber = fc.oneof(
  fc.double(),
  fc.double({ min: -5000, max: 5000, noNaN: true }),
  fc.integer({ min: -70000, max: 70000 }),
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0.5, -0.5, 2047.97, 2048.03, Math.PI, -Math.PI),
);

const QUANTIZERS: readonly [string, Quantizer][] = [
  ['uint(1)', uint(1)], ['uint(7)', uint(7)], ['uint(16)', uint(16)], ['uint(32)', uint(32)],
  ['int(-100, 100)', int(-100, 100)], ['fixed(0, 2048, 1/16)', fixed(0, 2048, 1 / 16)], ['fixed(-10, 10, 0.01)', fixed(-10, 10, 0.01)],
  ['angle(8)', angle(8)], ['angle(16)', angle(16)], ['bool()', bool()],
];

const ARRAYS: readonly [string, (n: number) => Store][] = [
  ['Float32Array', (n) => new Float32Array(n)], ['Float64Array', (n) => new Float64Array(n)], ['Int32Array', (n) => new Int32Array(n)],
  ['Uint32Array', (n) => new Uint32Array(n)], ['Int16Array', (n) => new Int16Array(n)], ['Uint16Array', (n) => new Uint16Array(n)],
  ['Int8Array', (n) => new Int8Array(n)], ['Uint8Array', (n) => new Uint8Array(n)],
];

/** A column case: values, which typed array holds them (index into ARRAYS), and which entities are listed. */
const columnCase = [fc.array(anyNumber, { minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: ARRAYS.length - 1 }), fc.array(fc.boolean(), { minLength: 40, maxLength: 40 })] as const;

type Schema = ReturnType<typeof compileSchema>;

/** Rows of field values, one row per entity, one value per schema field. */
const rowsOf = (schema: Schema) => fc.array(fc.array(anyNumber, { minLength: schema.fields.length, maxLength: schema.fields.length }), { minLength: 1, maxLength: 30 });

/** Two identical sets of `game`'s field stores holding `rows` (entity e holds row e). */
function twinStores(schema: Schema, game: (typeof GAMES)[keyof typeof GAMES], rows: number[][]): [Store[], Store[]] {
  const a = bindFieldStores(schema, game.components(rows.length));
  const b = bindFieldStores(schema, game.components(rows.length));
  for (let e = 0; e < rows.length; e++) {
    for (let f = 0; f < schema.fields.length; f++) {
      a[f][e] = rows[e][f];
      b[f][e] = rows[e][f];
    }
  }
  return [a, b];
}

describe('snapColumn', () => {
  it('every built-in quantizer has one', () => {
    for (const [, q] of QUANTIZERS) expect(typeof q.snapColumn).toBe('function');
  });

  it.each(QUANTIZERS)('%s: the column snap equals dequantize(quantize(v)) for each entity listed, and leaves the others alone', (_name, q) => {
    fc.assert(
      fc.property(...columnCase, (values, a, listed) => {
        const col = ARRAYS[a][1](values.length);
        for (let i = 0; i < values.length; i++) col[i] = values[i];
        const before = Array.from(col);
        const eids = values.map((_, i) => i).filter((i) => listed[i]);
        q.snapColumn!(col, eids);
        for (let i = 0; i < values.length; i++) {
          const want = ARRAYS[a][1](1);
          want[0] = listed[i] ? q.dequantize(q.quantize(before[i])) : before[i];
          expect(Object.is(col[i], want[0]), `${ARRAYS[a][0]}[${i}] = ${before[i]}: got ${col[i]}, want ${want[0]}`).toBe(true);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('a quantizer without one is snapped value by value', () => {
    const { snapColumn: _omit, ...plain } = fixed(0, 10, 0.5);
    const schema = { fields: [{ compIndex: 0, component: 'P', field: 'x', q: plain }] } as unknown as Parameters<typeof snapAllToNetGrid>[0];
    const col = new Float64Array([0.2, 3.3, 9.8, 12]);
    snapAllToNetGrid(schema, [col], [0, 1, 3]);
    expect(Array.from(col)).toEqual([0, 3.5, 9.8, 10]);
  });
});

describe.each(Object.entries(GAMES))('snapAllToNetGrid on the stores of %s', (_name, game) => {
  const schema = compileSchema(game);
  it('equals snapToNetGrid entity by entity', () => {
    fc.assert(
      fc.property(rowsOf(schema), (rows) => {
        const [a, b] = twinStores(schema, game, rows);
        const eids = rows.map((_, e) => e).reverse();
        snapAllToNetGrid(schema, a, eids);
        for (const e of eids) snapToNetGrid(schema, b, e);
        for (let f = 0; f < schema.fields.length; f++) {
          for (let e = 0; e < rows.length; e++) expect(Object.is(a[f][e], b[f][e]), `${schema.fields[f].component}.${schema.fields[f].field}[${e}]`).toBe(true);
        }
      }),
      { numRuns: RUNS / 5 },
    );
  });
});

describe('snapEach', () => {
  it('every built-in quantizer has one', () => {
    for (const [, q] of QUANTIZERS) expect(typeof q.snapEach).toBe('function');
  });

  it.each(QUANTIZERS)('%s: snaps the listed entities as snapColumn does and quantizes what the store then holds, as quantizeEach does', (_name, q) => {
    fc.assert(
      fc.property(...columnCase, (values, a, listed) => {
        const make = ARRAYS[a][1];
        const col = make(values.length);
        const ref = make(values.length);
        for (let i = 0; i < values.length; i++) col[i] = ref[i] = values[i];
        const eids = values.map((_, i) => i).filter((i) => listed[i]).reverse();
        const out = new Float64Array(eids.length * 2).fill(7);
        const want = new Float64Array(eids.length * 2).fill(7);
        q.snapEach!(col, eids, eids.length, out, 1, 2);
        q.snapColumn!(ref, eids);
        q.quantizeEach!(ref, eids, eids.length, want, 1, 2);
        for (let i = 0; i < values.length; i++) expect(Object.is(col[i], ref[i]), `${ARRAYS[a][0]}[${i}] = ${values[i]}`).toBe(true);
        for (let i = 0; i < out.length; i++) expect(Object.is(out[i], want[i]), `out[${i}]`).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});

describe.each(Object.entries(GAMES))('captureFrame with snap on the stores of %s', (_name, game) => {
  const schema = compileSchema(game);
  it('leaves the stores and the frame as snapAllToNetGrid then captureFrame do, with or without snapEach', () => {
    fc.assert(
      fc.property(rowsOf(schema), fc.boolean(), (rows, plain) => {
        const [a, b] = twinStores(schema, game, rows);
        // without snapEach (a game's own quantizer), the capture snaps value by value
        const fused = plain ? { ...schema, fields: schema.fields.map((f) => ({ ...f, q: { ...f.q, snapEach: undefined } })) } : schema;
        const eids = rows.map((_, e) => e).reverse();
        const has = (e: number, ci: number): boolean => (e + ci) % 3 !== 0;
        const fa = new SnapshotFrame(schema, 4);
        const fb = new SnapshotFrame(schema, 4);
        fa.tick = fb.tick = 9;
        captureFrame(fused, () => eids, has, a, new Uint8Array(rows.length), fa, undefined, true);
        snapAllToNetGrid(schema, b, eids);
        captureFrame(schema, () => eids, has, b, new Uint8Array(rows.length), fb);
        for (let f = 0; f < schema.fields.length; f++) {
          for (let e = 0; e < rows.length; e++) expect(Object.is(a[f][e], b[f][e]), `${schema.fields[f].component}.${schema.fields[f].field}[${e}]`).toBe(true);
        }
        expect(fa.count).toBe(fb.count);
        expect(Array.from(fa.ids.subarray(0, fa.count))).toEqual(Array.from(fb.ids.subarray(0, fb.count)));
        expect(Array.from(fa.masks.subarray(0, fa.count))).toEqual(Array.from(fb.masks.subarray(0, fb.count)));
        const nf = schema.fields.length;
        expect(Array.from(fa.values.subarray(0, fa.count * nf))).toEqual(Array.from(fb.values.subarray(0, fb.count * nf)));
      }),
      { numRuns: RUNS / 5 },
    );
  });
});
