// The send queue between the timed tick and the transports: packets keep their bytes and order
// whatever the encoder does with its buffers meanwhile; the arena grows and is reused; with
// sendsAfterTick the tick's timed part holds no sends, and without it they happen inside it.
import { describe, expect, it } from 'vitest';
import { SendQueue } from '../server/send-queue.ts';
import type { Session } from '../server/sessions.ts';
import { LoopbackWorld } from './helpers/client-loopback.ts';

describe('SendQueue', () => {
  it('copies each packet at push, hands them off in order, empties, and reuses its arena', () => {
    const q = new SendQueue(8, 2);
    const a = { id: 1 } as unknown as Session;
    const b = { id: 2 } as unknown as Session;
    const scratch = new Uint8Array([1, 2, 3, 4, 5]);
    q.push(a, scratch);
    scratch.fill(9); // the encoder reuses its buffer at once
    q.push(b, scratch.subarray(0, 3));
    q.push(a, new Uint8Array([7]));
    expect(q.length).toBe(3);
    const got: [number, number[]][] = [];
    expect(q.drain((s, bytes) => got.push([(s as unknown as { id: number }).id, [...bytes]]))).toBe(3);
    expect(got).toEqual([[1, [1, 2, 3, 4, 5]], [2, [9, 9, 9]], [1, [7]]]);
    expect(q.length).toBe(0);
    expect(q.drain(() => expect.unreachable())).toBe(0);
    // grown once, then reused: many rounds of the same load keep the same bytes
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 40; i++) q.push(i % 2 ? a : b, new Uint8Array(30).fill(i));
      let k = 0;
      q.drain((_s, bytes) => {
        expect(bytes.length).toBe(30);
        expect(bytes[0]).toBe(k);
        expect(bytes[29]).toBe(k);
        k++;
      });
      expect(k).toBe(40);
    }
    expect(q.packets).toBe(3 + 50 * 40);
    expect(q.bytes).toBe(9 + 50 * 40 * 30);
  });
});

describe('sends after the timed tick', () => {
  /** Runs a world and counts transport sends made while the encoder runs (inside the timed tick) and in all. */
  function run(sendsAfterTick: boolean) {
    const w = new LoopbackWorld({ npcs: 30, server: { sendsAfterTick } });
    for (let i = 0; i < 4; i++) w.addClient({ framePhaseMs: i });
    w.run(1000);
    const stats = w.server.stats;
    const enc = w.room.encoder;
    const encodeFor = enc.encodeFor.bind(enc);
    let insideTick = 0;
    let encoded = 0;
    enc.encodeFor = (client, send) => {
      const before = stats.messagesOut.loopback;
      const n = encodeFor(client, send);
      encoded += n;
      insideTick += stats.messagesOut.loopback - before;
      return n;
    };
    const out0 = stats.messagesOut.loopback;
    w.run(3000);
    return { w, stats, insideTick, encoded, sent: stats.messagesOut.loopback - out0 };
  }

  it('holds a tick\'s snapshot packets until its timed part is over, then hands every one off', () => {
    const { w, stats, insideTick, encoded, sent } = run(true);
    expect(encoded).toBeGreaterThan(4 * 20 * 1.8);
    expect(insideTick).toBe(0);
    expect(sent).toBeGreaterThanOrEqual(encoded);
    expect(stats.tickSendSeconds.count).toBeGreaterThan(30);
    expect(stats.tickHandoffSeconds.count).toBe(stats.tickSendSeconds.count);
    expect(stats.tickEncodeSeconds.count).toBe(stats.tickSendSeconds.count);
    expect(stats.tickSimulateSeconds.count).toBe(stats.tickSeconds.count);
    expect(stats.tickHandoffSeconds.sum).toBeGreaterThanOrEqual(stats.tickEncodeSeconds.sum);
    // every client still gets its 20 snapshots a second, decoded
    for (const c of w.clients) expect(c.netcode.stats.snapshotRateHz).toBeGreaterThan(18);
  });

  it('with sendsAfterTick off sends each packet inside the tick, and the hand-off ends with it', () => {
    const { stats, insideTick, encoded } = run(false);
    expect(encoded).toBeGreaterThan(4 * 20 * 1.8);
    expect(insideTick).toBe(encoded);
    expect(stats.tickSendSeconds.count).toBe(0);
    expect(stats.tickHandoffSeconds.count).toBe(stats.tickEncodeSeconds.count);
  });
});
