// The server's snapshot encoder: baseline choice from acks (and the ack bitfield), each fallback to a
// full snapshot counted, one entity section per distinct baseline shared by clients, MTU-sized
// parts, per-client input acks, rates captured from the tick before a snapshot, and the arena figure.
import { describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { makeNetConfig } from '../shared/config.ts';
import { SnapshotReceiver } from '../netcode/receiver.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { newSnapshotHeader, readSnapshotAck, readSnapshotPacketHeader, SNAPSHOT_ACK_NONE, SnapshotFrame, SnapshotKind } from '../shared/protocol/snapshot.ts';
import { Rng } from '../shared/sim/rng.ts';
import { SnapshotHistory } from '../server/history.ts';
import { Room } from '../server/rooms.ts';
import { Player } from '../server/player.ts';
import { DeltaSnapshotEncoder, FullSnapshotEncoder, newEncoderStats, type SnapshotClient } from '../server/snapshots.ts';
import { runTick } from '../server/tick.ts';
import { codecTestGame, frameDiff, LIVELY, RandomWorld } from './helpers/snapshot-world.ts';

const client = (ackedTick = -1, ackedBits = 0, inputAck = 0): SnapshotClient => ({ ackedTick, ackedBits, inputAck, hasInputAck: ackedTick >= 0 });

/** A world captured into a history every 3 ticks; returns helpers to step and encode. */
function setup(o: { entities?: number; historyFrames?: number; maxPacketBytes?: number } = {}) {
  const world = new RandomWorld(codecTestGame(), 3, { ...LIVELY, entities: o.entities ?? 60 });
  const schema = world.schema;
  const net = makeNetConfig({ maxPacketBytes: o.maxPacketBytes ?? 1200 });
  const stats = newEncoderStats();
  const encoder = new DeltaSnapshotEncoder(schema, net, stats);
  const history = new SnapshotHistory(schema, o.historyFrames ?? 8);
  const step = (): SnapshotFrame => {
    world.advance(3);
    const f = history.claim(world.tick);
    world.capture(f);
    encoder.begin(f, history);
    return f;
  };
  const encode = (c: SnapshotClient): Uint8Array[] => {
    const out: Uint8Array[] = [];
    encoder.encodeFor(c, (b) => out.push(b.slice()));
    return out;
  };
  return { world, schema, stats, encoder, history, step, encode };
}

describe('DeltaSnapshotEncoder', () => {
  it('sends a full snapshot, counted, while the client has acknowledged nothing', () => {
    const { stats, step, encode } = setup();
    step();
    const packets = encode(client());
    const h = readSnapshotPacketHeader(packets[0], newSnapshotHeader());
    expect(h.kind).toBe(SnapshotKind.Full);
    expect(stats.fullNoAck).toBe(1);
    expect(stats.fullSnapshots).toBe(1);
    expect(stats.deltaSnapshots).toBe(0);
  });

  it('deltas against a full snapshot whose ack is pending, and repeats the full only after fullRetrySnapshots', () => {
    const { schema, history, world } = setup();
    const stats = newEncoderStats();
    const encoder = new DeltaSnapshotEncoder(schema, makeNetConfig({}), stats, { fullRetrySnapshots: 4 });
    const c = client();
    const h = newSnapshotHeader();
    const kinds: string[] = [];
    const rx = new SnapshotReceiver(schema, 3);
    let fullTick = -1;
    for (let i = 0; i < 10; i++) {
      world.advance(3);
      const f = history.claim(world.tick);
      world.capture(f);
      encoder.begin(f, history);
      encoder.encodeFor(c, (b) => {
        readSnapshotPacketHeader(b, h);
        if (h.partIndex === 0) kinds.push(h.kind === SnapshotKind.Full ? 'F' : `D${(h.tick - h.baselineTick) / 3}`);
        if (h.kind === SnapshotKind.Full) fullTick = h.tick;
        // The client holds the full snapshot, so it decodes every delta against it.
        const got = rx.receive(b.slice());
        if (got) expect(frameDiff(got, f)).toBe('');
      });
      void fullTick;
    }
    // No ack ever arrives: full, deltas against it for 4 intervals, full again, ...
    expect(kinds).toEqual(['F', 'D1', 'D2', 'D3', 'D4', 'F', 'D1', 'D2', 'D3', 'D4']);
    expect(stats.fullNoAck).toBe(2);
    expect(stats.deltaUnacked).toBe(8);
    // Once the client acknowledges, its acked baseline is used.
    c.ackedTick = world.tick;
    world.advance(3);
    const f = history.claim(world.tick);
    world.capture(f);
    encoder.begin(f, history);
    encoder.encodeFor(c, (b) => readSnapshotPacketHeader(b, h));
    expect(h.baselineTick).toBe(world.tick - 3);
  });

  it('deltas against the newest acknowledged tick in history', () => {
    const { stats, step, encode } = setup();
    const a = step();
    const b = step();
    const c = step();
    void a;
    const packets = encode(client(b.tick, 0b1));
    const h = readSnapshotPacketHeader(packets[0], newSnapshotHeader());
    expect(h.kind).toBe(SnapshotKind.Delta);
    expect(h.baselineTick).toBe(b.tick);
    expect(h.tick).toBe(c.tick);
    expect(stats.deltaSnapshots).toBe(1);
  });

  it('uses the ack bitfield when the newest acknowledged tick is not in history', () => {
    const { step, encode } = setup();
    const a = step();
    step();
    step();
    // Acked tick a + 9 was never captured (e.g. acked from a frame this room no longer has);
    // bit 2 (three intervals before it) names a.
    const packets = encode(client(a.tick + 9, 0b100));
    const h = readSnapshotPacketHeader(packets[0], newSnapshotHeader());
    expect(h.kind).toBe(SnapshotKind.Delta);
    expect(h.baselineTick).toBe(a.tick);
  });

  it('falls back to a full snapshot, counted, when every acknowledged baseline left the history', () => {
    const { stats, step, encode } = setup({ historyFrames: 4 });
    const first = step();
    for (let i = 0; i < 4; i++) step(); // first is evicted
    const packets = encode(client(first.tick, 0));
    expect(readSnapshotPacketHeader(packets[0], newSnapshotHeader()).kind).toBe(SnapshotKind.Full);
    expect(stats.fullBaselineGone).toBe(1);
    expect(stats.fullSnapshots).toBe(1);
  });

  it('encodes one entity section per distinct baseline and shares it, patching only each input ack', () => {
    const { stats, step, encode } = setup();
    const t1 = step();
    const t2 = step();
    step();
    const before = stats.bodiesEncoded;
    const out: Uint8Array[][] = [];
    for (let i = 0; i < 50; i++) out.push(encode(client(i % 3 === 0 ? t1.tick : i % 3 === 1 ? t2.tick : -1, 0, 1000 + i)));
    // Three sections: delta vs t1, delta vs t2, full.
    expect(stats.bodiesEncoded - before).toBe(3);
    expect(stats.sectionsShared).toBe(47);
    const h = newSnapshotHeader();
    for (let i = 0; i < 50; i++) {
      readSnapshotPacketHeader(out[i][0], h);
      expect(h.inputAck).toBe(1000 + i);
      // Same baseline => the same bytes apart from the input ack (bytes 6..7).
      if (i >= 3) {
        expect(out[i][0].subarray(8)).toEqual(out[i - 3][0].subarray(8));
        expect(out[i][0].subarray(0, 6)).toEqual(out[i - 3][0].subarray(0, 6));
      }
    }
    // The next tick starts over.
    step();
    encode(client(t2.tick));
    expect(stats.bodiesEncoded - before).toBe(4);
  });

  it('splits big snapshots into parts of at most maxPacketBytes and counts them', () => {
    const { stats, step, encode, schema } = setup({ entities: 250, maxPacketBytes: 400 });
    const f = step();
    const packets = encode(client());
    expect(packets.length).toBeGreaterThan(3);
    for (const p of packets) expect(p.length).toBeLessThanOrEqual(400);
    expect(stats.splitSnapshots).toBe(1);
    expect(stats.largestPacketBytes).toBeLessThanOrEqual(400);
    const rx = new SnapshotReceiver(schema, 3);
    let got: SnapshotFrame | undefined;
    for (const p of packets) got = rx.receive(p);
    expect(got?.complete).toBe(true);
    expect(frameDiff(got as SnapshotFrame, f)).toBe('');
  });

  it('FullSnapshotEncoder (forced full snapshots) never deltas', () => {
    const world = new RandomWorld(codecTestGame(), 4);
    const stats = newEncoderStats();
    const enc = new FullSnapshotEncoder(world.schema, stats);
    const history = new SnapshotHistory(world.schema, 4);
    for (let i = 0; i < 3; i++) {
      world.advance(3);
      const f = history.claim(world.tick);
      world.capture(f);
      enc.begin(f, history);
      enc.encodeFor(client(world.tick - 3), () => undefined);
    }
    expect(stats.fullForced).toBe(3);
    expect(stats.deltaSnapshots).toBe(0);
  });
});

describe('SnapshotReceiver acks', () => {
  it('acks nothing before a complete snapshot, then the newest complete tick with a bit per earlier one', () => {
    const { step, encode, schema } = setup({ entities: 200, maxPacketBytes: 300 });
    const rx = new SnapshotReceiver(schema, 3);
    expect(readSnapshotAck(rx.ack(), { tick: 0, bits: 0 }).tick).toBe(SNAPSHOT_ACK_NONE);
    const f1 = step();
    const parts = encode(client());
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts.slice(0, -1)) rx.receive(p);
    // Incomplete: still nothing to ack.
    expect(readSnapshotAck(rx.ack(), { tick: 0, bits: 0 }).tick).toBe(SNAPSHOT_ACK_NONE);
    rx.receive(parts[parts.length - 1]);
    expect(readSnapshotAck(rx.ack(), { tick: 0, bits: 0 })).toEqual({ tick: f1.tick, bits: 0 });
    step(); // lost
    const f3 = step();
    for (const p of encode(client(f1.tick))) rx.receive(p);
    expect(readSnapshotAck(rx.ack(), { tick: 0, bits: 0 })).toEqual({ tick: f3.tick, bits: 0b10 });
  });
});

describe('rates captured by the server tick', () => {
  it('carry each NPC position change over the last tick, so steady motion extrapolates exactly', () => {
    const schema = compileSchema(arena);
    const net = makeNetConfig({});
    const stats = newEncoderStats();
    const room = new Room('r', arena, schema, net, 4, 1, { npcs: 200 }, (s, n, st) => new DeltaSnapshotEncoder(s, n, st), 0, stats);
    const host = { drainNetEvents: () => undefined, rooms: [room] };
    const frames: SnapshotFrame[] = [];
    for (let t = 0; t < 3 * 20; t++) {
      runTick(host);
      if (room.ctx.tick % 3 === 0) {
        const f = new SnapshotFrame(schema);
        f.copyFrom(room.history.latest() as SnapshotFrame);
        frames.push(f);
      }
    }
    let linear = 0;
    let moving = 0;
    for (let k = 1; k < frames.length; k++) {
      const a = frames[k - 1];
      const b = frames[k];
      for (let i = 0; i < b.count; i++) {
        const j = a.indexOf(b.ids[i]);
        if (j < 0 || b.rates[i * 2] === 0) continue;
        moving++;
        // Same rate at both ends: the 3-tick displacement is exactly 3 times the rate.
        if (a.rates[j * 2] === b.rates[i * 2] && a.rates[j * 2 + 1] === b.rates[i * 2 + 1]) {
          expect(b.values[i * 5 + 1] - a.values[j * 5 + 1]).toBe(3 * b.rates[i * 2]);
          linear++;
        }
      }
    }
    expect(moving).toBeGreaterThan(500);
    expect(linear / moving).toBeGreaterThan(0.9);
  });

  it('keep the arena default point (500 NPCs, 50 players) far below 8 KB/s per client', () => {
    const schema = compileSchema(arena);
    const net = makeNetConfig({});
    const stats = newEncoderStats();
    const room = new Room('r', arena, schema, net, 64, 1, { npcs: 500 }, (s, n, st) => new DeltaSnapshotEncoder(s, n, st), 0, stats);
    const rng = new Rng(9);
    const rx = new SnapshotReceiver(schema, 3);
    const bots = Array.from({ length: 50 }, (_, i) => {
      const s = new Player(i + 1, `p${i + 1}`, 1, 8);
      room.addPlayer(s);
      return { s, dir: 0, next: 0, seq: 0, bytes: 0 };
    });
    const ack = { tick: 0, bits: 0 };
    for (const [i, b] of bots.entries()) {
      b.s.send = (bytes) => {
        b.bytes += bytes.length;
        if (i === 0) {
          const f = rx.receive(bytes);
          if (f?.complete) expect(f.sameFrame(room.history.get(f.tick) as SnapshotFrame)).toBe(true);
        }
        // Every bot acks what it got, as a client on a fast link would before the next snapshot.
        const t = (bytes[2] | (bytes[3] << 8) | (bytes[4] << 16) | (bytes[5] << 24)) >>> 0;
        readSnapshotAck(i === 0 ? rx.ack() : new Uint8Array([4, t & 255, (t >>> 8) & 255, (t >>> 16) & 255, t >>> 24, 0, 0, 0, 0]), ack);
        if (ack.tick !== SNAPSHOT_ACK_NONE && ack.tick > b.s.ackedTick) {
          b.s.ackedTick = ack.tick;
          b.s.ackedBits = ack.bits;
        }
      };
    }
    const host = { drainNetEvents: () => undefined, rooms: [room] };
    const warmTicks = 120;
    const ticks = 600;
    let start = 0;
    for (let t = 0; t < warmTicks + ticks; t++) {
      if (t === warmTicks) start = bots[0].bytes;
      for (const b of bots) {
        if (t >= b.next) {
          b.dir = rng.int(9);
          b.next = t + 15 + rng.int(31);
        }
        b.s.inputs?.offer(b.seq, [b.dir], 0);
        b.seq = (b.seq + 1) & 0xffff;
      }
      runTick(host);
    }
    const bytesPerSec = (bots[0].bytes - start) / (ticks / 60);
    expect(bytesPerSec).toBeLessThan(4000);
    expect(stats.fullSnapshots).toBeLessThanOrEqual(50); // one per joining client
    expect(rx.counters.completed).toBeGreaterThan(200);
  });
});
