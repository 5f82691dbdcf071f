// Property tests of the control-message codec (the reliable channel and the handshake): every client
// and server message type round-trips for any valid content, and a message missing or corrupting
// one field is rejected with a DecodeError naming exactly that field. 10,000 runs each.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeClientControl, decodeServerControl, encodeControl, MAX_CHAT_LENGTH, MAX_EVENT_NAME_LENGTH, MAX_NAME_LENGTH,
  MAX_ROOM_NAME_LENGTH, MAX_ROSTER_PLAYERS, MAX_TOKEN_LENGTH, type ClientControl, type ServerControl,
} from '../shared/protocol/control.ts';
import { DecodeError } from '../shared/protocol/errors.ts';
import { MsgType } from '../shared/protocol/ids.ts';
import { Packr } from 'msgpackr';

const RUNS = 10_000;

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const seq = fc.integer({ min: 1, max: 0xffffffff });
/** Text of at most `max` UTF-16 units, any Unicode (no lone surrogates: UTF-8 cannot carry them). */
const text = (max: number): fc.Arbitrary<string> => fc.string({ unit: 'binary', maxLength: max }).filter((s) => s.length <= max);
const token32 = fc.stringMatching(/^[0-9a-f]{32}$/);
const room = fc.stringMatching(new RegExp(`^[A-Za-z0-9_-]{1,${MAX_ROOM_NAME_LENGTH}}$`));
/** Finite numbers, including the extremes. */
// msgpack writes integral doubles as integers, so -0 arrives as 0: generated as 0.
const finite = fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (Object.is(x, -0) ? 0 : x));
/** Plain event data: a tree of nil, booleans, numbers, strings, bytes, arrays and maps. */
const data: fc.Arbitrary<unknown> = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null), fc.boolean(), fc.integer(), finite, text(40), fc.uint8Array({ maxLength: 16 }),
    fc.array(tie('v'), { maxLength: 5 }),
    // msgpackr renames a "__proto__" key to "__proto_" (it would set the prototype): not generated
    fc.dictionary(text(12).filter((k) => k !== '__proto__'), tie('v'), { maxKeys: 5 }),
  ),
})).v;

const hello = fc.record(
  { t: fc.constant('hello' as const), v: u32, hash: u32, name: text(MAX_NAME_LENGTH), token: text(MAX_TOKEN_LENGTH), room, wsOnly: fc.boolean(), roster: fc.boolean() },
  { requiredKeys: ['t', 'v', 'hash', 'name'] },
);
const clientMessage: fc.Arbitrary<ClientControl> = fc.oneof(
  hello,
  fc.record({ t: fc.constant('resume' as const), v: u32, hash: u32, token: token32, a: u32 }, { requiredKeys: ['t', 'v', 'hash', 'token'] }),
  fc.record({ t: fc.constant('chat' as const), text: text(MAX_CHAT_LENGTH), s: seq, a: u32 }, { requiredKeys: ['t', 'text'] }),
  fc.record({ t: fc.constant('ping' as const), id: u32, ms: finite, a: u32 }, { requiredKeys: ['t', 'id', 'ms'] }),
  fc.record({ t: fc.constant('event' as const), name: text(MAX_EVENT_NAME_LENGTH), data, s: seq, a: u32 }, { requiredKeys: ['t', 'name'] }),
  fc.record({ t: fc.constant('transport' as const), use: fc.constantFrom('ws' as const, 'webrtc' as const), a: u32 }, { requiredKeys: ['t', 'use'] }),
  fc.record({ t: fc.constant('ack' as const), a: u32 }, { requiredKeys: ['t'] }),
  fc.record({ t: fc.constant('leave' as const), a: u32 }, { requiredKeys: ['t'] }),
) as fc.Arbitrary<ClientControl>;

const sessionInfo = {
  sessionId: u32, token: token32, room: text(MAX_ROOM_NAME_LENGTH), eid: u32, tick: u32, tickRateHz: u32, snapshotRateHz: u32,
  inputRedundancy: u32, maxPacketBytes: u32, signalingPort: u32, webrtc: fc.boolean(), resumeGraceMs: u32, a: u32,
};
const sessionKeys = Object.keys(sessionInfo).filter((k) => k !== 'a');
const serverMessage: fc.Arbitrary<ServerControl> = fc.oneof(
  fc.record({ t: fc.constant('welcome' as const), ...sessionInfo }, { requiredKeys: ['t', ...sessionKeys] as 't'[] }),
  fc.record({ t: fc.constant('resumed' as const), ...sessionInfo }, { requiredKeys: ['t', ...sessionKeys] as 't'[] }),
  fc.record({ t: fc.constant('ack' as const), a: u32 }, { requiredKeys: ['t'] }),
  fc.record({ t: fc.constant('reject' as const), code: u32, reason: text(1024), a: u32 }, { requiredKeys: ['t', 'code', 'reason'] }),
  fc.record({ t: fc.constant('pong' as const), id: u32, ms: finite, tick: u32, a: u32 }, { requiredKeys: ['t', 'id', 'ms', 'tick'] }),
  fc.record({ t: fc.constant('chat' as const), from: u32, name: text(MAX_NAME_LENGTH), text: text(MAX_CHAT_LENGTH), s: seq, a: u32 }, { requiredKeys: ['t', 'from', 'name', 'text'] }),
  fc.record({ t: fc.constant('joined' as const), sessionId: u32, name: text(MAX_NAME_LENGTH), eid: u32, s: seq, a: u32 }, { requiredKeys: ['t', 'sessionId', 'name', 'eid'] }),
  fc.record({
    t: fc.constant('roster' as const),
    players: fc.array(fc.record({ sessionId: u32, name: text(MAX_NAME_LENGTH), eid: u32 }), { maxLength: 8 }),
    left: fc.array(u32, { maxLength: 8 }),
    s: seq, a: u32,
  }, { requiredKeys: ['t', 'players'] }),
  fc.record({ t: fc.constant('left' as const), sessionId: u32, s: seq, a: u32 }, { requiredKeys: ['t', 'sessionId'] }),
  fc.record({ t: fc.constant('event' as const), name: text(MAX_EVENT_NAME_LENGTH), data, from: u32, s: seq, a: u32 }, { requiredKeys: ['t', 'name'] }),
  fc.record({ t: fc.constant('error' as const), code: u32, message: text(1024), s: seq, a: u32 }, { requiredKeys: ['t', 'code', 'message'] }),
  fc.record({ t: fc.constant('transport' as const), use: fc.constantFrom('ws' as const, 'webrtc' as const), a: u32 }, { requiredKeys: ['t', 'use'] }),
  fc.record({ t: fc.constant('bye' as const), code: u32, reason: text(1024), a: u32 }, { requiredKeys: ['t', 'code', 'reason'] }),
) as fc.Arbitrary<ServerControl>;

/** Fields a decoder insists on, per message type (optional ones and `t` excluded). */
const REQUIRED: Record<string, string[]> = {
  hello: ['v', 'hash', 'name'], resume: ['v', 'hash', 'token'], chat: ['text'], ping: ['id', 'ms'], event: ['name'], transport: ['use'],
  welcome: sessionKeys.filter((k) => k !== 'webrtc'), resumed: sessionKeys.filter((k) => k !== 'webrtc'), reject: ['code', 'reason'],
  pong: ['id', 'ms', 'tick'], joined: ['sessionId', 'name', 'eid'], roster: ['players'], left: ['sessionId'], error: ['code', 'message'], bye: ['code', 'reason'],
};
/** Values no field accepts: wrong types, non-finite numbers, extension types, oversize strings. */
const BAD_ANYWHERE: unknown[] = [null, true, Number.NaN, Number.POSITIVE_INFINITY, [1], { x: 1 }, new Date(0), 'x'.repeat(2000)];
/** Numbers only integer fields refuse (`ms` is any finite number). */
const BAD_INTEGER: unknown[] = [-1, 1.5, 2 ** 32];
const badFor = (field: string, pick: number): unknown => {
  const list = field === 'ms' ? BAD_ANYWHERE : [...BAD_ANYWHERE, ...BAD_INTEGER];
  return list[pick % list.length];
};

function rejectsNaming(decode: (b: Uint8Array) => unknown, bytes: Uint8Array, field: string): void {
  try {
    decode(bytes);
  } catch (err) {
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as DecodeError).field).toBe(field);
    return;
  }
  expect.unreachable(`accepted a message with a bad ${field}`);
}

describe.each([
  ['client', clientMessage as fc.Arbitrary<ClientControl | ServerControl>, decodeClientControl as (b: Uint8Array) => unknown],
  ['server', serverMessage as fc.Arbitrary<ClientControl | ServerControl>, decodeServerControl as (b: Uint8Array) => unknown],
])('%s control messages', (_side, arb, decode) => {
  it('round-trip every message type with any valid content', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(arb, (m) => {
        seen.add(m.t);
        expect(decode(encodeControl(m))).toEqual(m);
      }),
      { numRuns: RUNS },
    );
    expect(seen.size).toBe(_side === 'client' ? 8 : 13);
  });

  it('reject a missing or corrupted required field with a DecodeError naming it', () => {
    fc.assert(
      fc.property(arb.filter((m) => (REQUIRED[m.t] ?? []).length > 0), fc.nat(), fc.nat(), fc.boolean(), (m, pick, badPick, drop) => {
        const fields = REQUIRED[m.t];
        const field = fields[pick % fields.length];
        const broken: Record<string, unknown> = { ...m };
        if (drop) delete broken[field];
        else broken[field] = badFor(field, badPick);
        rejectsNaming(decode, encodeControl(broken as unknown as ClientControl), field);
      }),
      { numRuns: RUNS },
    );
  });
});

describe('control envelope', () => {
  it('rejects sequence numbers on unsequenced types, and sequence 0, naming s', () => {
    const base = { id: 1, ms: 1, use: 'ws', v: 1, hash: 1, name: 'n', token: 'f'.repeat(32), text: 'x' };
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(fc.constantFrom('ping', 'transport', 'ack', 'leave', 'hello', 'resume'), u32),
          fc.tuple(fc.constantFrom('chat', 'event'), fc.constant(0)),
        ),
        ([t, s]) => rejectsNaming(decodeClientControl, encodeControl({ ...base, t, s } as unknown as ClientControl), 's'),
      ),
      { numRuns: RUNS },
    );
  });
});

describe('roster', () => {
  const players = (n: number): { sessionId: number; name: string; eid: number }[] =>
    Array.from({ length: n }, (_, i) => ({ sessionId: i + 1, name: `p${i}`.padEnd(MAX_NAME_LENGTH, 'x'), eid: 500 + i }));

  it('takes a full roster message and refuses a longer one or a bad player, naming players', () => {
    const full = { t: 'roster' as const, players: players(MAX_ROSTER_PLAYERS), s: 3 };
    expect(decodeServerControl(encodeControl(full))).toEqual(full);
    rejectsNaming(decodeServerControl, encodeControl({ t: 'roster', players: players(MAX_ROSTER_PLAYERS + 1) }), 'players');
    const bad = players(3) as unknown[];
    for (const p of [null, 7, [1], { sessionId: 1, name: 'a' }, { sessionId: -1, name: 'a', eid: 1 }, { sessionId: 1, name: 'a'.repeat(MAX_NAME_LENGTH + 1), eid: 1 }]) {
      rejectsNaming(decodeServerControl, encodeControl({ t: 'roster', players: [...bad, p] } as unknown as ServerControl), 'players');
    }
  });

  it('takes the sessions that left, at most MAX_ROSTER_PLAYERS u32, and refuses more or a bad one, naming left', () => {
    const ids = Array.from({ length: MAX_ROSTER_PLAYERS }, (_, i) => 0xffffffff - i);
    const full = { t: 'roster' as const, players: players(2), left: ids, s: 9 };
    expect(decodeServerControl(encodeControl(full))).toEqual(full);
    expect(decodeServerControl(encodeControl({ t: 'roster', players: [], left: [] }))).toEqual({ t: 'roster', players: [], left: [] });
    rejectsNaming(decodeServerControl, encodeControl({ t: 'roster', players: [], left: [...ids, 1] }), 'left');
    for (const bad of [7, 'a', null, { 0: 1 }, [1, -1], [1.5], [2 ** 32], ['1'], [null]]) {
      rejectsNaming(decodeServerControl, encodeControl({ t: 'roster', players: [], left: bad } as unknown as ServerControl), 'left');
    }
  });

  it('is encoded from its entries\' kept bytes exactly as msgpack packs it, whatever the sizes, and any other shape as it is', () => {
    const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true, moreTypes: false, int64AsType: 'number' });
    const packed = (m: unknown): Uint8Array => Uint8Array.of(MsgType.Control, ...packr.pack(m));
    const entry = fc.record({ sessionId: u32, name: text(MAX_NAME_LENGTH), eid: u32 });
    // entry objects shared between messages and frozen, as the server's are, or plain ones
    const pool = fc.array(entry, { minLength: 1, maxLength: 20 }).map((es) => es.map((e, i) => (i % 2 === 0 ? Object.freeze(e) : e)));
    const sizes = fc.constantFrom(0, 1, 15, 16, 255, 256);
    // every width msgpack has for an unsigned integer, at its edges
    const id = fc.oneof(u32, fc.constantFrom(0, 127, 128, 255, 256, 65535, 65536, 0xffffffff));
    const ids = fc.oneof(fc.array(id, { maxLength: 20 }), sizes.map((n) => Array.from({ length: n }, (_, i) => (i * 2654435761) >>> 0)));
    fc.assert(
      fc.property(pool, sizes, fc.option(ids, { nil: undefined }), fc.option(id.filter((v) => v > 0), { nil: undefined }), fc.option(id, { nil: undefined }), (es, n, left, sq, a) => {
        const players = Array.from({ length: n }, (_, i) => es[i % es.length]);
        const msg: Record<string, unknown> = { t: 'roster', players };
        if (left !== undefined) msg.left = left;
        if (sq !== undefined) msg.s = sq;
        if (a !== undefined) msg.a = a;
        // twice: the second time from the kept bytes
        expect(encodeControl(msg as unknown as ServerControl)).toEqual(packed(msg));
        expect(encodeControl(msg as unknown as ServerControl)).toEqual(packed(msg));
      }),
      { numRuns: 300 },
    );
    // other shapes go to msgpack as they are: keys in another order, an unknown key, an undefined or a non-u32 value
    const es = [Object.freeze({ sessionId: 1, name: 'ann', eid: 2 })];
    for (const odd of [{ players: es, t: 'roster' }, { t: 'roster', players: es, x: 1 }, { t: 'roster', players: es, s: undefined }, { t: 'roster', players: es, a: -1 }, { t: 'roster', players: es, left: [1.5] }, { t: 'roster', players: es, constructor: 1 }]) {
      expect(encodeControl(odd as unknown as ServerControl)).toEqual(packed(odd));
    }
  });

  it('is sequenced: a roster without s is taken, a roster with s 0 is refused', () => {
    expect(decodeServerControl(encodeControl({ t: 'roster', players: [] }))).toEqual({ t: 'roster', players: [] });
    rejectsNaming(decodeServerControl, encodeControl({ t: 'roster', players: [], s: 0 }), 's');
  });
});
