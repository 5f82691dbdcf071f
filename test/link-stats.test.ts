// What the server measures of a client's snapshot stream from its acks (server/snapshots.ts
// ClientLinkStats, SnapshotSendTimes, SnapshotAckReceiver): snapshot loss against a seeded model
// client that forgets old snapshots, acks out of order and hostile acks, and round trips from send
// to ack arrival.
import { describe, expect, it } from 'vitest';
import { SNAPSHOT_ACK_BYTES, writeSnapshotAck } from '../shared/protocol/snapshot.ts';
import { Rng } from '../shared/sim/rng.ts';
import { Player } from '../server/player.ts';
import { ClientLinkStats, SnapshotAckReceiver, SnapshotSendTimes } from '../server/snapshots.ts';

const EVERY = 3;

/** A client that keeps the last `memory` complete snapshots and acks like netcode/snapshot-slots.ts (newest complete, 32 bits before it). */
class ModelClient {
  private readonly held: number[] = [];
  constructor(private readonly memory: number) {}
  receive(tick: number): void {
    if (this.held.includes(tick)) return;
    this.held.push(tick);
    this.held.sort((a, b) => a - b);
    while (this.held.length > this.memory) this.held.shift();
  }
  ack(): { tick: number; bits: number } {
    const newest = this.held[this.held.length - 1];
    let bits = 0;
    for (let i = 0; i < 32; i++) if (this.held.includes(newest - (i + 1) * EVERY)) bits |= 1 << i;
    return { tick: newest, bits: bits >>> 0 };
  }
}

describe('snapshot loss from acks', () => {
  it('counts nothing lost on a clean link, and settles snapshots 33 behind the newest ack', () => {
    const l = new ClientLinkStats();
    l.restart(0);
    const c = new ModelClient(6);
    for (let tick = EVERY; tick <= 300; tick += EVERY) {
      c.receive(tick);
      const a = c.ack();
      l.ack(a.tick, a.bits, EVERY, tick);
    }
    expect(l.lost).toBe(0);
    expect(l.settled).toBe(300 / EVERY - 33); // 100 snapshots, the newest ack still speaks for the last 33
    expect(l.lossShare()).toBe(0);
  });

  it('matches the snapshots a lossy link never delivered, though the client forgets old ones and acks arrive out of order', () => {
    const rng = new Rng(7);
    for (const memory of [2, 6, 40]) {
      const l = new ClientLinkStats();
      l.restart(10); // joined at tick 10: the first snapshot it is sent is tick 12
      const c = new ModelClient(memory);
      const never = new Set<number>();
      const acks: { tick: number; bits: number }[] = [];
      let first = -1;
      const last = 3000;
      for (let tick = 12; tick <= last; tick += EVERY) {
        if (rng.next() < 0.2) never.add(tick);
        else {
          c.receive(tick);
          if (first < 0) first = tick;
          acks.push(c.ack());
        }
        // Acks are themselves delayed and reordered: deliver a random one of the waiting.
        while (acks.length > 0 && rng.next() < 0.7) {
          const a = acks.splice(Math.floor(rng.next() * acks.length), 1)[0];
          l.ack(a.tick, a.bits, EVERY, tick);
        }
      }
      for (const a of acks) l.ack(a.tick, a.bits, EVERY, last);
      // The model's ground truth over the settled range: ticks never delivered, or delivered but
      // never named by any ack (a snapshot forgotten before the client's newest passed it cannot be).
      const settledBelow = 12 + l.settled * EVERY;
      let truth = 0;
      for (let tick = 12; tick < settledBelow; tick += EVERY) if (never.has(tick)) truth++;
      expect(l.settled).toBeGreaterThan(900);
      expect(l.lost, `memory ${memory}`).toBe(truth);
      expect(l.lossShare()).toBeGreaterThan(0.15);
      expect(l.lossShare()).toBeLessThan(0.25);
    }
  });

  it('ignores acks for ticks that are not snapshot ticks, not reached, or from before the start; counts a silent stretch as lost at once', () => {
    const l = new ClientLinkStats();
    l.restart(299);
    l.ack(301, 0xffffffff, EVERY, 400); // not a snapshot tick
    l.ack(600, 0, EVERY, 400); // the room is not there yet
    l.ack(0xffffffff, 0, EVERY, 400); // SNAPSHOT_ACK_NONE
    l.ack(297, 0xffffffff, EVERY, 400); // before the start
    expect(l.settled).toBe(0);
    l.ack(300, 0, EVERY, 400);
    // Then nothing for 10,000 snapshots, then an ack: everything between is lost, settled at once.
    const far = 300 + 10_000 * EVERY;
    l.ack(far, 0, EVERY, far);
    expect(l.settled).toBe(10_000 - 32);
    expect(l.lost).toBe(10_000 - 32 - 1);
  });
});

describe('round trips from acks', () => {
  it('samples arrival minus send for the first ack naming a snapshot, smoothed with gain 1/8', () => {
    const sent = new SnapshotSendTimes(EVERY);
    const rx = new SnapshotAckReceiver();
    const p = new Player(1, 'p', 1, 8);
    p.link.restart(0);
    const buf = new Uint8Array(SNAPSHOT_ACK_BYTES);
    sent.record(3, 1000);
    sent.record(6, 1050);
    rx.receive(p, writeSnapshotAck(buf, 3, 0), 0, SNAPSHOT_ACK_BYTES, 6, 1040, sent);
    expect(p.link.rttMs).toBe(40);
    rx.receive(p, writeSnapshotAck(buf, 3, 0), 0, SNAPSHOT_ACK_BYTES, 6, 1100, sent); // the same tick again: no sample
    expect(p.link.rttSamples).toBe(1);
    rx.receive(p, writeSnapshotAck(buf, 6, 1), 0, SNAPSHOT_ACK_BYTES, 6, 1130, sent);
    expect(p.link.lastRttMs).toBe(80);
    expect(p.link.rttMs).toBe(40 + (80 - 40) / 8);
    expect(p.ackedTick).toBe(6);
  });

  it('keeps the send times of the last 64 snapshots', () => {
    const sent = new SnapshotSendTimes(EVERY);
    for (let k = 1; k <= 100; k++) sent.record(k * EVERY, k);
    expect(sent.sentMs(100 * EVERY)).toBe(100);
    expect(sent.sentMs(37 * EVERY)).toBe(37);
    expect(sent.sentMs(36 * EVERY)).toBe(-1);
    expect(sent.sentMs(100 * EVERY + 1)).toBe(-1);
  });
});
