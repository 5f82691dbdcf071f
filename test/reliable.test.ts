// Reliable sequencing: exactly once, in order, across lost connections, with bounded buffers.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReliableReceiver, ReliableSender } from '../shared/reliable.ts';

describe('reliable sequencing', () => {
  it('delivers every message exactly once and in order across any pattern of connection drops', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ send: fc.integer({ min: 0, max: 5 }), deliverShare: fc.double({ min: 0, max: 1, noNaN: true }), ackLost: fc.boolean() }), { maxLength: 40 }), (rounds) => {
        const tx = new ReliableSender<number>(10_000);
        const rx = new ReliableReceiver();
        const got: number[] = [];
        let next = 0;
        let inFlight: { seq: number; msg: number }[] = [];
        for (const r of rounds) {
          for (let i = 0; i < r.send; i++) {
            const msg = next++;
            inFlight.push({ seq: tx.push(msg, 1), msg });
          }
          // The connection delivers a prefix (TCP is ordered), then drops.
          const n = Math.floor(inFlight.length * r.deliverShare);
          for (const m of inFlight.slice(0, n)) if (rx.accept(m.seq) === 'deliver') got.push(m.msg);
          if (!r.ackLost) tx.ack(rx.lastDelivered);
          // Reconnect: the receiver says what it has; the sender resends the rest in order.
          tx.ack(rx.lastDelivered);
          inFlight = tx.unacked().map((u) => ({ ...u }));
        }
        for (const m of inFlight) if (rx.accept(m.seq) === 'deliver') got.push(m.msg);
        expect(got).toEqual(Array.from({ length: next }, (_, i) => i));
      }),
      { numRuns: 2000 },
    );
  });

  it('flags duplicates and gaps', () => {
    const rx = new ReliableReceiver();
    expect(rx.accept(1)).toBe('deliver');
    expect(rx.accept(1)).toBe('duplicate');
    expect(rx.accept(3)).toBe('gap');
    expect(rx.accept(2)).toBe('deliver');
    expect([rx.duplicates, rx.gaps, rx.lastDelivered]).toEqual([1, 1, 2]);
  });

  it('bounds the resend buffer by count and bytes, and ignores acks from the future', () => {
    const tx = new ReliableSender<string>(2, 100);
    expect(tx.push('a', 10)).toBe(1);
    expect(tx.push('b', 10)).toBe(2);
    expect(tx.push('c', 10)).toBe(0);
    tx.ack(99);
    expect(tx.pendingCount).toBe(2);
    tx.ack(1);
    expect(tx.unacked().map((m) => m.msg)).toEqual(['b']);
    expect(tx.push('big', 95)).toBe(0);
  });
});
