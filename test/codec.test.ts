// Bit packing, quantizers, input packets and control messages: round trips, golden bytes, and
// labelled rejection of malformed input.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { orbit } from '../games/orbit.ts';
import { BitReader, BitWriter, bitsFor, unzigzag, zigzag } from '../shared/protocol/bits.ts';
import { decodeClientControl, decodeServerControl, encodeControl, type ClientControl, type ServerControl } from '../shared/protocol/control.ts';
import { DecodeError } from '../shared/protocol/errors.ts';
import { createInputPacket, INPUT_ACK_BYTES, INPUT_HEADER_BYTES, readInputPacket, writeInputPacket } from '../shared/protocol/input.ts';
import { angle, bool, fixed, int, uint } from '../shared/protocol/quantize.ts';
import { compileSchema, unclassifiedComponents } from '../shared/protocol/schema.ts';
import { readSnapshotAck, writeSnapshotAck } from '../shared/protocol/snapshot.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('BitWriter / BitReader', () => {
  it('round-trips any sequence of (value, width) pairs and reads to exhaustion', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 32 }).chain((bits) => fc.tuple(fc.constant(bits), fc.integer({ min: 0, max: 2 ** bits - 1 }))), { maxLength: 200 }), (items) => {
        const w = new BitWriter(1024);
        for (const [bits, v] of items) w.writeBits(v, bits);
        const r = new BitReader().reset(w.view());
        for (const [bits, v] of items) expect(r.readBits(bits, 'v')).toBe(v);
        r.expectEnd('end');
      }),
      { numRuns: 10_000 },
    );
  });

  it('packs little-endian, least significant bit first (golden bytes)', () => {
    const w = new BitWriter(16);
    w.writeBits(1, 1);
    w.writeBits(2, 2);
    w.writeBits(0x1f, 5);
    w.writeBits(0xabcd, 16);
    w.writeBits(0xdeadbeef, 32);
    expect(hex(w.view())).toBe('fdcdabefbeadde');
  });

  it('rejects values that do not fit, and writes past the end, as our bugs', () => {
    const w = new BitWriter(1);
    expect(() => w.writeBits(4, 2)).toThrow(RangeError);
    expect(() => w.writeBits(-1, 8)).toThrow(RangeError);
    expect(() => w.writeBits(1.5, 8)).toThrow(RangeError);
    w.writeBits(0, 8);
    expect(() => w.writeBits(0, 1)).toThrow(RangeError);
  });

  it('names the field and bit offset when reading past the end', () => {
    const r = new BitReader().reset(new Uint8Array([0xff]));
    r.readBits(5, 'a');
    try {
      r.readBits(4, 'second');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(DecodeError);
      expect((err as DecodeError).field).toBe('second');
      expect((err as DecodeError).bitOffset).toBe(5);
    }
  });

  it('rejects trailing data and non-zero padding', () => {
    expect(() => new BitReader().reset(new Uint8Array([0, 0])).expectEnd('end')).toThrow(DecodeError);
    const r = new BitReader().reset(new Uint8Array([0b1000_0001]));
    r.readBits(1, 'a');
    expect(() => r.expectEnd('end')).toThrow(/non-zero/);
  });

  it('reads a byte range of a larger buffer', () => {
    const r = new BitReader().reset(new Uint8Array([9, 0x34, 0x12, 9]), 1, 3);
    expect(r.readBits(16, 'v')).toBe(0x1234);
    r.expectEnd('end');
  });

  it('zigzag and bitsFor', () => {
    expect([0, -1, 1, -2, 2].map(zigzag)).toEqual([0, 1, 2, 3, 4]);
    fc.assert(fc.property(fc.integer({ min: -(2 ** 30), max: 2 ** 30 }), (n) => unzigzag(zigzag(n)) === n));
    expect([0, 1, 2, 3, 255, 256].map(bitsFor)).toEqual([1, 1, 2, 2, 8, 9]);
  });
});

describe('quantizers', () => {
  it('fixed: step-exact, clamped, NaN-safe', () => {
    const q = fixed(0, 2048, 1 / 16);
    expect(q.bits).toBe(16);
    expect(q.quantize(100.03125)).toBe(1601);
    expect(q.dequantize(q.quantize(100.03125))).toBe(100.0625);
    expect(q.quantize(-5)).toBe(0);
    expect(q.quantize(1e9)).toBe(q.maxQ);
    expect(q.quantize(NaN)).toBe(0);
    fc.assert(fc.property(fc.double({ min: 0, max: 2048, noNaN: true }), (v) => Math.abs(q.dequantize(q.quantize(v)) - v) <= 1 / 32 + 1e-9));
  });

  it('snapping is idempotent for every quantizer (the server snaps every tick)', () => {
    for (const q of [fixed(0, 2048, 1 / 16), fixed(-10, 10, 0.1), angle(8), angle(12), uint(7), int(-1, 1), bool()]) {
      fc.assert(fc.property(fc.double({ min: -1e4, max: 1e4, noNaN: true }), (v) => {
        const once = q.dequantize(q.quantize(v));
        expect(q.quantize(once)).toBe(q.quantize(v));
        expect(q.dequantize(q.quantize(Math.fround(once)))).toBe(once);
      }), { numRuns: 500 });
    }
  });

  it('quantizeEach gives what quantize gives, entity by entity, into a strided row-major table', () => {
    const special = [NaN, Infinity, -Infinity, -0, 0.5, -0.5, 2.5, 1e12, -1e12];
    for (const q of [fixed(0, 2048, 1 / 16), fixed(-10, 10, 0.1), angle(8), angle(12), uint(7), int(-1, 1), bool()]) {
      fc.assert(fc.property(fc.array(fc.oneof(fc.double({ min: -1e4, max: 1e4 }), fc.constantFrom(...special)), { minLength: 1, maxLength: 40 }), (vals) => {
        // a store indexed by entity id, the entities in an arbitrary order, every other one
        const store = new Float64Array(vals.length * 2);
        vals.forEach((v, i) => (store[i * 2] = v));
        const eids = vals.map((_, i) => i * 2).reverse();
        const out = new Uint32Array(eids.length * 3).fill(7);
        q.quantizeEach!(store, eids, eids.length, out, 1, 3);
        eids.forEach((e, i) => {
          expect(out[1 + i * 3]).toBe(q.quantize(store[e]));
          expect(out[i * 3]).toBe(7);
          expect(out[2 + i * 3]).toBe(7);
        });
      }), { numRuns: 200 });
    }
  });

  it('angle wraps around the circle', () => {
    const q = angle(8);
    expect(q.quantize(0)).toBe(0);
    expect(q.quantize(2 * Math.PI)).toBe(0);
    expect(q.quantize(-Math.PI / 2)).toBe(192);
    expect(q.dequantize(192)).toBeCloseTo(-Math.PI / 2);
    expect(q.quantize(Infinity)).toBe(0);
  });

  it('int and uint clamp into range', () => {
    expect(int(-1, 1).quantize(-7)).toBe(0);
    expect(int(-1, 1).dequantize(2)).toBe(1);
    expect(uint(7).quantize(1000)).toBe(127);
    expect(() => uint(0)).toThrow(RangeError);
    expect(() => fixed(1, 0, 1)).toThrow(RangeError);
  });
});

describe('networked-field table', () => {
  it('every component of every game is either networked or declared local', () => {
    for (const game of [arena, orbit]) expect(unclassifiedComponents(game), game.name).toEqual([]);
  });

  it('detects a networked component missing from the table', () => {
    const broken = { ...arena, local: arena.local.filter((c) => c !== 'Velocity') };
    expect(unclassifiedComponents(broken)).toEqual(['Velocity']);
    const partial = { ...arena, networked: { ...arena.networked, Position: { x: fixed(0, 2048, 1) } } };
    expect(unclassifiedComponents(partial)).toEqual(['Position.y']);
  });

  it('compiles arena-v1 to the documented layout', () => {
    const s = compileSchema(arena);
    expect(s.components.map((c) => c.name)).toEqual(['Kind', 'Position', 'Facing', 'Health']);
    expect(s.fields.map((f) => `${f.component}.${f.field}:${f.q.bits}`)).toEqual(['Kind.value:1', 'Position.x:16', 'Position.y:16', 'Facing.angle:8', 'Health.hp:7']);
    expect(s.idBits).toBe(12);
    expect(s.inputBits).toBe(4);
  });
});

describe('input packets', () => {
  const schema = compileSchema(arena);

  it('golden bytes: newest seq 65535, tick 1000, three inputs (E, idle, SW)', () => {
    const w = new BitWriter(64);
    const bytes = writeInputPacket(w, schema, 65535, 1000, 3, [1, 0, 6]);
    expect(hex(bytes)).toBe('02ffffe803000003' + '0106');
    const p = readInputPacket(new BitReader(), bytes, schema, createInputPacket(schema));
    expect([p.newestSeq, p.newestTick, p.count, ...p.values.subarray(0, 3)]).toEqual([65535, 1000, 3, 1, 0, 6]);
  });

  it('golden bytes with a snapshot ack: count byte bit 7, then the ack tick and bits, then the inputs', () => {
    const w = new BitWriter(64);
    const bytes = writeInputPacket(w, schema, 65535, 1000, 3, [1, 0, 6], true, 999, 0x5);
    expect(hex(bytes)).toBe('02ffffe803000083' + 'e7030000' + '05000000' + '0106');
    const p = readInputPacket(new BitReader(), bytes, schema, createInputPacket(schema));
    expect([p.newestSeq, p.newestTick, p.count, p.hasAck, p.ackTick, p.ackBits, ...p.values.subarray(0, 3)]).toEqual([65535, 1000, 3, true, 999, 5, 1, 0, 6]);
    // the same packet without an ack is byte for byte the packet of protocol 1, and says so
    const plain = readInputPacket(new BitReader(), writeInputPacket(w, schema, 65535, 1000, 3, [1, 0, 6]), schema, createInputPacket(schema));
    expect([plain.hasAck, plain.ackTick, plain.ackBits]).toEqual([false, 0, 0]);
  });

  it('round-trips random packets of every game, with and without an ack', () => {
    for (const game of [arena, orbit]) {
      const s = compileSchema(game);
      const nf = s.inputFields.length;
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 16 }), fc.boolean(), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.infiniteStream(fc.nat()), (count, hasAck, ackTick, ackBits, stream) => {
          const vals: number[] = [];
          for (let i = 0; i < count * nf; i++) vals.push(stream.next().value % (s.inputFields[i % nf].q.maxQ + 1));
          const bytes = writeInputPacket(new BitWriter(256), s, 7, 70, count, vals, hasAck, ackTick, ackBits);
          expect(bytes.length).toBe(Math.ceil((INPUT_HEADER_BYTES * 8 + (hasAck ? INPUT_ACK_BYTES * 8 : 0) + count * s.inputBits) / 8));
          const p = readInputPacket(new BitReader(), bytes, s, createInputPacket(s));
          expect([p.count, p.hasAck, p.ackTick, p.ackBits]).toEqual([count, hasAck, hasAck ? ackTick : 0, hasAck ? ackBits : 0]);
          expect(Array.from(p.values.subarray(0, count * nf))).toEqual(vals);
        }),
        { numRuns: 2_000 },
      );
    }
  });

  it('round-trips random packets of every game', () => {
    for (const game of [arena, orbit]) {
      const s = compileSchema(game);
      const nf = s.inputFields.length;
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 1, max: 16 }), fc.infiniteStream(fc.nat()), (seq, tick, count, stream) => {
          const vals: number[] = [];
          for (let i = 0; i < count * nf; i++) vals.push(stream.next().value % (s.inputFields[i % nf].q.maxQ + 1));
          const bytes = writeInputPacket(new BitWriter(256), s, seq, tick, count, vals);
          const p = readInputPacket(new BitReader(), bytes, s, createInputPacket(s));
          expect([p.newestSeq, p.newestTick, p.count]).toEqual([seq, tick, count]);
          expect(Array.from(p.values.subarray(0, count * nf))).toEqual(vals);
        }),
        { numRuns: 10_000 },
      );
    }
  });

  it('rejects bad counts, out-of-range fields, truncation and trailing bytes, naming the field', () => {
    const r = new BitReader();
    const out = createInputPacket(schema);
    const good = writeInputPacket(new BitWriter(64), schema, 1, 1, 2, [1, 2]);
    const expectField = (bytes: Uint8Array, field: string): void => {
      try {
        readInputPacket(r, bytes, schema, out);
        expect.unreachable(`accepted ${hex(bytes)}`);
      } catch (err) {
        expect(err).toBeInstanceOf(DecodeError);
        expect((err as DecodeError).field).toBe(field);
      }
    };
    const zeroCount = good.slice();
    zeroCount[7] = 0;
    expectField(zeroCount, 'count');
    const big = good.slice();
    big[7] = 17;
    expectField(big, 'count');
    // dir 15 fits the 4-bit field, so it decodes; arena's stepPlayer treats anything above 8 as idle.
    const highDir = good.slice();
    highDir[8] = 0x0f;
    expect(readInputPacket(r, highDir, schema, out).values[0]).toBe(15);
    expectField(good.subarray(0, 8), 'dir');
    expectField(new Uint8Array([...good, 0]), 'end');
    expectField(new Uint8Array([3, ...good.subarray(1)]), 'type');
    // bits 5 and 6 of the count byte are reserved
    for (const bit of [0x20, 0x40]) {
      const reserved = good.slice();
      reserved[7] |= bit;
      expectField(reserved, 'flags');
    }
    // an ack flag without the ack's 8 bytes runs out in the ack
    const noAck = good.slice();
    noAck[7] |= 0x80;
    expectField(noAck, 'ackTick');
    const withAck = writeInputPacket(new BitWriter(64), schema, 1, 1, 2, [1, 2], true, 5, 1);
    expectField(withAck.subarray(0, 12), 'ackBits');
    expectField(withAck.subarray(0, 16), 'dir');
    expectField(new Uint8Array([...withAck, 0]), 'end');
  });
});

describe('control messages', () => {
  const clientMsgs: ClientControl[] = [
    { t: 'hello', v: 1, hash: 0xdeadbeef, name: 'ann', token: 'abc', room: 'lobby-1', wsOnly: true },
    { t: 'hello', v: 1, hash: 5, name: 'bob' },
    { t: 'chat', text: 'gg', s: 1, a: 0 },
    { t: 'resume', v: 1, hash: 7, token: '0123456789abcdef0123456789abcdef', a: 12 },
    { t: 'ack', a: 3 },
    { t: 'ping', id: 7, ms: 123.5 },
    { t: 'event', name: 'emote', data: { id: 3 } },
    { t: 'transport', use: 'webrtc' },
    { t: 'leave' },
  ];
  const serverMsgs: ServerControl[] = [
    { t: 'welcome', sessionId: 1, token: 'f'.repeat(32), room: 'arena-v1-1', eid: 500, tick: 99, tickRateHz: 60, snapshotRateHz: 20, inputRedundancy: 4, maxPacketBytes: 1200, signalingPort: 8081, webrtc: true, resumeGraceMs: 15000 },
    { t: 'resumed', sessionId: 1, token: 'a'.repeat(32), room: 'r', eid: 1, tick: 5, tickRateHz: 60, snapshotRateHz: 20, inputRedundancy: 4, maxPacketBytes: 1200, signalingPort: 0, webrtc: false, resumeGraceMs: 0, a: 3 },
    { t: 'ack', a: 9 },
    { t: 'reject', code: 3, reason: 'config hash' },
    { t: 'pong', id: 7, ms: 123.5, tick: 1000 },
    { t: 'chat', from: 2, name: 'ann', text: 'hi', s: 4, a: 2 },
    { t: 'joined', sessionId: 2, name: 'ann', eid: 501 },
    { t: 'left', sessionId: 2 },
    { t: 'event', name: 'boom', data: [1, 2], from: 3 },
    { t: 'error', code: 1, message: 'x' },
    { t: 'transport', use: 'ws' },
    { t: 'bye', code: 1, reason: 'shutdown' },
  ];

  it('round-trip every message type', () => {
    for (const m of clientMsgs) expect(decodeClientControl(encodeControl(m))).toEqual(m);
    for (const m of serverMsgs) expect(decodeServerControl(encodeControl(m))).toEqual(m);
  });

  it('golden bytes of a ping', () => {
    expect(hex(encodeControl({ t: 'ping', id: 7, ms: 1 }))).toBe('0183a174a470696e67a2696407a26d7301');
  });

  it('rejects wrong types, missing fields, oversize strings and bad room names, naming the field', () => {
    const bad: [unknown, string][] = [
      [{ t: 'hello', v: 1, hash: 1 }, 'name'],
      [{ t: 'hello', v: -1, hash: 1, name: 'a' }, 'v'],
      [{ t: 'hello', v: 1, hash: 1, name: 'a'.repeat(33) }, 'name'],
      [{ t: 'hello', v: 1, hash: 1, name: 'a', room: '../etc' }, 'room'],
      [{ t: 'hello', v: 1, hash: 1, name: 'a', wsOnly: 'yes' }, 'wsOnly'],
      [{ t: 'chat', text: 5 }, 'text'],
      [{ t: 'ping', id: 1, ms: NaN }, 'ms'],
      [{ t: 'transport', use: 'carrier-pigeon' }, 'use'],
      [{ t: 'nope' }, 't'],
      [{ t: 'resume', v: 1, hash: 1, token: 'short' }, 'token'],
      [{ t: 'ping', id: 1, ms: 1, s: 3 }, 's'],
      [{ t: 'chat', text: 'x', s: 0 }, 's'],
      [{ t: 'chat', text: 'x', a: -1 }, 'a'],
      [[1, 2, 3], 'body'],
      [null, 'body'],
    ];
    for (const [value, field] of bad) {
      const bytes = encodeControl(value as ClientControl);
      try {
        decodeClientControl(bytes);
        expect.unreachable(JSON.stringify(value));
      } catch (err) {
        expect(err).toBeInstanceOf(DecodeError);
        expect((err as DecodeError).field, JSON.stringify(value)).toBe(field);
      }
    }
    expect(() => decodeClientControl(new Uint8Array([1, 0xc1]))).toThrow(DecodeError);
    expect(() => decodeClientControl(new Uint8Array([1]))).toThrow(DecodeError);
    expect(() => decodeClientControl(new Uint8Array([2, 0x80]))).toThrow(DecodeError);
  });

  it('never throws anything but DecodeError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (tail) => {
        try {
          decodeClientControl(new Uint8Array([1, ...tail]));
        } catch (err) {
          expect(err).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 10_000 },
    );
  });
});

describe('snapshot acks', () => {
  it('golden bytes and round trip', () => {
    const out = new Uint8Array(16);
    const bytes = writeSnapshotAck(out, 0x01020304, 0x80000001);
    expect(hex(bytes)).toBe('04040302010100008' + '0');
    expect(readSnapshotAck(bytes, { tick: 0, bits: 0 })).toEqual({ tick: 0x01020304, bits: 0x80000001 });
    expect(() => readSnapshotAck(bytes.subarray(0, 8), { tick: 0, bits: 0 })).toThrow(DecodeError);
  });
});
