// Property tests of the binary codecs beside control messages: input packets of every registered
// game from real input values, snapshot acks, and the bit reader's signed, ranged, aligned and
// patched fields. 10,000 runs each. (Plain bit and packet round trips live in codec.test.ts.)
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GAMES } from '../games/index.ts';
import { BitReader, BitWriter } from '../shared/protocol/bits.ts';
import { DecodeError } from '../shared/protocol/errors.ts';
import { createInputPacket, MAX_INPUTS_PER_PACKET, readInputPacket, writeInputPacket } from '../shared/protocol/input.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { readSnapshotAck, SNAPSHOT_ACK_BYTES, writeSnapshotAck } from '../shared/protocol/snapshot.ts';

const RUNS = 10_000;

/** Any double a broken or hostile client might put in an input field. */
const anyNumber = fc.oneof(fc.double(), fc.integer({ min: -1000, max: 1000 }), fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 0.5, -0.5));

function expectDecodeError(run: () => unknown, field: string): void {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as DecodeError).field).toBe(field);
    return;
  }
  expect.unreachable(`accepted; expected a DecodeError naming ${field}`);
}

describe.each(Object.entries(GAMES))('input packets of %s', (_name, game) => {
  const schema = compileSchema(game);
  const fields = schema.inputFields;
  const nf = fields.length;

  it('carry any input values exactly as the client quantized them, in canonical bytes', () => {
    const w = new BitWriter(1024);
    const w2 = new BitWriter(1024);
    const r = new BitReader();
    const out = createInputPacket(schema);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 0xffffffff }),
        fc.array(fc.array(anyNumber, { minLength: nf, maxLength: nf }), { minLength: 1, maxLength: MAX_INPUTS_PER_PACKET }),
        (seq, tick, inputs) => {
          // what Connection.sendInput records: each field quantized by the game's input table
          const quantized = inputs.flatMap((vals) => vals.map((v, f) => fields[f].q.quantize(v)));
          // in range, and what the server applies is what prediction replays: dequantize is stable under requantizing
          const bad = quantized.findIndex((v, k) => {
            const q = fields[k % nf].q;
            return !(Number.isInteger(v) && v >= 0 && v <= q.maxQ) || q.quantize(q.dequantize(v)) !== v;
          });
          expect(bad).toBe(-1);
          const bytes = writeInputPacket(w, schema, seq, tick, inputs.length, quantized);
          const p = readInputPacket(r, bytes, schema, out);
          expect([p.newestSeq, p.newestTick, p.count]).toEqual([seq, tick, inputs.length]);
          expect(Array.from(p.values.subarray(0, inputs.length * nf))).toEqual(quantized);
          expect(bytes.length).toBe(8 + Math.ceil((schema.inputBits * inputs.length) / 8));
          expect(writeInputPacket(w2, schema, p.newestSeq, p.newestTick, p.count, p.values)).toEqual(bytes);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('reject every strict prefix and any extra byte, naming the field', () => {
    const w = new BitWriter(1024);
    const r = new BitReader();
    const out = createInputPacket(schema);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: MAX_INPUTS_PER_PACKET }), fc.nat(), fc.integer({ min: 0, max: 255 }), (count, cut, extra) => {
        const bytes = writeInputPacket(w, schema, 1, 1, count, new Array(count * nf).fill(0)).slice();
        const n = cut % bytes.length;
        try {
          readInputPacket(r, bytes.subarray(0, n), schema, out);
          expect.unreachable(`accepted a ${n}-byte prefix of ${bytes.length}`);
        } catch (err) {
          expect(err).toBeInstanceOf(DecodeError);
          expect((err as DecodeError).field.length).toBeGreaterThan(0);
        }
        expectDecodeError(() => readInputPacket(r, new Uint8Array([...bytes, extra]), schema, out), 'end');
      }),
      { numRuns: RUNS },
    );
  });
});

describe('snapshot acks', () => {
  it('round-trip any tick and bitfield, and every 9-byte ack re-encodes to its bytes', () => {
    const buf = new Uint8Array(16);
    const ack = { tick: 0, bits: 0 };
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.uint8Array({ minLength: 8, maxLength: 8 }), (tick, bits, tail) => {
        expect(readSnapshotAck(writeSnapshotAck(buf, tick, bits), ack)).toEqual({ tick, bits });
        const raw = new Uint8Array([4, ...tail]);
        const a = readSnapshotAck(raw, ack);
        expect(writeSnapshotAck(buf, a.tick, a.bits)).toEqual(raw);
      }),
      { numRuns: RUNS },
    );
  });

  it('reject any other length (naming length) and any other type byte (naming type), also inside a larger buffer', () => {
    const ack = { tick: 0, bits: 0 };
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 32 }), fc.nat({ max: 8 }), (bytes, pad) => {
        const framed = new Uint8Array(bytes.length + 2 * pad).fill(4);
        framed.set(bytes, pad);
        const read = (): unknown => readSnapshotAck(framed, ack, pad, pad + bytes.length);
        if (bytes.length !== SNAPSHOT_ACK_BYTES) expectDecodeError(read, 'length');
        else if (bytes[0] !== 4) expectDecodeError(read, 'type');
        else expect(read()).toEqual(readSnapshotAck(bytes, { tick: 0, bits: 0 }));
      }),
      { numRuns: RUNS },
    );
  });
});

describe('bit fields', () => {
  type Item = { kind: 'signed'; bits: number; v: number } | { kind: 'range'; bits: number; v: number; min: number; max: number } | { kind: 'align' } | { kind: 'bytes'; b: Uint8Array };
  const item: fc.Arbitrary<Item> = fc.oneof(
    fc.integer({ min: 2, max: 31 }).chain((bits) => fc.integer({ min: -(2 ** (bits - 1)), max: 2 ** (bits - 1) - 1 }).map((v) => ({ kind: 'signed' as const, bits, v }))),
    fc.integer({ min: 1, max: 32 }).chain((bits) =>
      fc.tuple(fc.integer({ min: 0, max: 2 ** bits - 1 }), fc.integer({ min: 0, max: 2 ** bits - 1 }), fc.integer({ min: 0, max: 2 ** bits - 1 }))
        .map(([a, b, c]) => {
          const [min, v, max] = [a, b, c].sort((x, y) => x - y);
          return { kind: 'range' as const, bits, v, min, max };
        })),
    fc.constant({ kind: 'align' as const }),
    fc.uint8Array({ maxLength: 8 }).map((b) => ({ kind: 'bytes' as const, b })),
  );

  it('writeBits writes the bytes of a bit-at-a-time reference, into a reused dirty buffer, and rejects what does not fit', () => {
    const w = new BitWriter(512);
    w.bytes.fill(0xa5);
    const field = fc.integer({ min: 1, max: 32 }).chain((bits) => fc.tuple(fc.constant(bits), fc.integer({ min: 0, max: 2 ** bits - 1 })));
    fc.assert(
      fc.property(fc.array(field, { maxLength: 60 }), (fields) => {
        w.reset();
        const ref = new Uint8Array(512);
        let pos = 0;
        for (const [bits, v] of fields) {
          w.writeBits(v, bits);
          for (let i = 0; i < bits; i++, pos++) if (Math.floor(v / 2 ** i) % 2 === 1) ref[pos >>> 3] |= 1 << (pos & 7);
        }
        expect(w.bitLength()).toBe(pos);
        w.alignToByte();
        expect(Array.from(w.view())).toEqual(Array.from(ref.subarray(0, (pos + 7) >>> 3)));
      }),
      { numRuns: 300, seed: 14 },
    );
    w.reset();
    for (const [v, bits] of [[2 ** 24, 24], [8, 3], [-1, 4], [0.5, 4], [Number.NaN, 4], [1, 0], [1, 33]]) expect(() => w.writeBits(v, bits)).toThrow(RangeError);
    const full = new BitWriter(2);
    full.writeBits(0xfff, 12);
    expect(() => full.writeBits(0x1f, 5)).toThrow(/buffer full/);
    expect(full.bitLength()).toBe(12);
  });

  it('signed, ranged, aligned and byte fields read back exactly, to exhaustion', () => {
    const w = new BitWriter(4096);
    const r = new BitReader();
    fc.assert(
      fc.property(fc.array(item, { maxLength: 40 }), (items) => {
        w.reset();
        for (const it of items) {
          if (it.kind === 'signed') w.writeSigned(it.v, it.bits);
          else if (it.kind === 'range') w.writeBits(it.v, it.bits);
          else if (it.kind === 'align') w.alignToByte();
          else w.writeBytes(it.b);
        }
        r.reset(w.view());
        for (const it of items) {
          if (it.kind === 'signed') expect(r.readSigned(it.bits, 's')).toBe(it.v);
          else if (it.kind === 'range') expect(r.readRange(it.bits, it.min, it.max, 'r')).toBe(it.v);
          else if (it.kind === 'align') r.alignToByte('pad');
          else {
            r.alignToByte('pad');
            for (const byte of it.b) expect(r.readBits(8, 'b')).toBe(byte);
          }
        }
        r.expectEnd('end');
      }),
      { numRuns: RUNS },
    );
  });

  it('readRange rejects a value outside its range, naming the field at its bit offset', () => {
    const w = new BitWriter(16);
    const r = new BitReader();
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 2, max: 32 }), fc.nat(), fc.nat(), (lead, bits, a, b) => {
        const max = 2 ** bits - 1;
        const v = a % (max + 1);
        const bound = b % (max + 1);
        fc.pre(v !== bound);
        w.reset();
        if (lead) w.writeBits(0, Math.min(lead, 32));
        w.writeBits(v, bits);
        r.reset(w.view());
        if (lead) r.readBits(Math.min(lead, 32), 'lead');
        // v is outside [bound, max] when below it, outside [0, bound] when above it
        const [min, hi] = v < bound ? [bound, max] : [0, bound];
        try {
          r.readRange(bits, min, hi, 'field');
          expect.unreachable();
        } catch (err) {
          expect(err).toBeInstanceOf(DecodeError);
          expect((err as DecodeError).field).toBe('field');
          expect((err as DecodeError).bitOffset).toBe(Math.min(lead, 32));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('patchBits overwrites exactly the patched bits', () => {
    const w = new BitWriter(64);
    const r = new BitReader();
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 16 }), fc.nat(), fc.integer({ min: 1, max: 32 }), fc.nat(), (bytes, at, bits, value) => {
        w.reset();
        for (const b of bytes) w.writeBits(b, 8);
        const width = Math.min(bits, bytes.length * 8);
        const offset = at % (bytes.length * 8 - width + 1);
        const v = width === 32 ? value % 2 ** 32 : value % 2 ** width;
        w.patchBits(offset, v, width);
        r.reset(w.view());
        if (offset) r.readBits(Math.min(offset, 32), 'a');
        if (offset > 32) r.readBits(offset - 32, 'a');
        expect(r.readBits(width, 'patched')).toBe(v);
        // the bits around it are untouched
        const view = w.view();
        let changedOutside = -1;
        for (let i = 0; i < bytes.length * 8 && changedOutside < 0; i++) {
          const x = (bytes[i >>> 3] >>> (i & 7)) & 1;
          const y = (view[i >>> 3] >>> (i & 7)) & 1;
          if ((i < offset || i >= offset + width) && x !== y) changedOutside = i;
        }
        expect(changedOutside).toBe(-1);
      }),
      { numRuns: RUNS },
    );
  });
});
