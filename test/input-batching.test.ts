// Input packets below the tick rate and snapshot acks inside them, against the real server on a
// fake clock: each rate sends the packets it says, each carrying the ticks since the previous one
// plus the redundancy; acks ride in input packets and still flow, alone, from a client that sends
// no inputs; batched inputs survive loss; a packet without an ack is handled as before.
import { describe, expect, it } from 'vitest';
import { BitReader } from '../shared/protocol/bits.ts';
import { MsgType } from '../shared/protocol/ids.ts';
import { createInputPacket, readInputPacket } from '../shared/protocol/input.ts';
import { LoopbackWorld } from './helpers/client-loopback.ts';

describe('input packets below the tick rate, acks inside them', () => {
  for (const hz of [60, 30, 20]) {
    it(`${hz} packets a second: each carries the ticks since the last plus 3 packets of redundancy, and the snapshot ack when one is waiting`, () => {
      const w = new LoopbackWorld({ npcs: 10 });
      const c = w.addClient({ connection: { inputPacketRateHz: hz }, framePhaseMs: 2.7 });
      const conn = c.netcode.connection;
      const schema = w.schema;
      const packet = createInputPacket(schema);
      const reader = new BitReader();
      const counts: number[] = [];
      let withAck = 0;
      let alone = 0;
      const send = conn.sendUnreliable.bind(conn);
      conn.sendUnreliable = (bytes) => {
        if (bytes[0] === MsgType.Input) {
          const p = readInputPacket(reader, bytes, schema, packet);
          counts.push(p.count);
          if (p.hasAck) withAck++;
        } else if (bytes[0] === MsgType.SnapshotAck) {
          alone++;
        }
        send(bytes);
      };
      let dir = 0;
      w.run(1000);
      const packets0 = conn.counters.inputPackets;
      const applied0 = c.session!.inputs!.stats.applied;
      const acksIn0 = w.server.stats.acksInInput;
      w.run(5000, (cl) => {
        cl.input.dir = (dir = (dir + 1) % 9);
      });
      const k = 60 / hz;
      expect(conn.inputTicksPerPacket).toBe(k);
      const packets = conn.counters.inputPackets - packets0;
      // 4 s of ticks, at the packet rate (the input clock dilates time by a few percent at most)
      expect(packets).toBeGreaterThan(4 * hz * 0.93);
      expect(packets).toBeLessThan(4 * hz * 1.07);
      // steady state: k new inputs and 3 packets (3k inputs) of redundancy, within the 16 of a packet
      const steady = counts.slice(-20);
      expect(Math.min(...steady)).toBe(Math.min(16, 4 * k));
      // every tick applied a fresh input: no repeats, no losses on a clean link
      const s = c.session!.inputs!.stats;
      expect(s.applied - applied0).toBeGreaterThan(4 * 60 * 0.97);
      expect(s.dropped).toBe(0);
      // acks: every snapshot acked (20 a second), most in input packets; the server records them
      expect(withAck + alone).toBeGreaterThan(5 * 20 * 0.9);
      expect(withAck).toBeGreaterThan(alone);
      expect(w.server.stats.acksInInput - acksIn0).toBeGreaterThan(4 * 20 * 0.5);
      expect(c.session!.player!.ackedTick).toBeGreaterThanOrEqual(w.room.ctx.tick - 6);
      expect(conn.counters.acksInInput).toBe(withAck);
      expect(conn.counters.acksStandalone).toBe(alone);
    });
  }

  it('a client that sends no inputs acknowledges every snapshot alone, at once: acks never stop', () => {
    const w = new LoopbackWorld({ npcs: 10 });
    const idle = w.addClient({ framePhaseMs: 1.1 });
    const conn = idle.netcode.connection;
    conn.sendInput = () => conn.nextInputSeq; // a spectator: never an input
    w.run(4000);
    const p = idle.session!.player!;
    expect(conn.counters.inputPackets).toBe(0);
    expect(conn.counters.acksInInput).toBe(0);
    expect(conn.counters.acksStandalone).toBeGreaterThan(3 * 20);
    // (the last one may still be on its way)
    expect(w.server.stats.acksStandalone).toBeGreaterThanOrEqual(conn.counters.acksStandalone - 1);
    expect(w.server.stats.acksStandalone).toBeLessThanOrEqual(conn.counters.acksStandalone);
    expect(p.ackedTick).toBeGreaterThanOrEqual(w.room.ctx.tick - 3);
    expect(w.nowMs - p.lastAckMs).toBeLessThan(2 * 50); // within two snapshot intervals
  });

  it('an ack that cannot wait for an input packet leaves alone after ackHoldMs', () => {
    const w = new LoopbackWorld({ npcs: 10 });
    // 10 packets a second: a packet is due within 20 ms only a fifth of the time
    const c = w.addClient({ connection: { inputPacketRateHz: 10, ackHoldMs: 20 }, framePhaseMs: 2.7 });
    w.run(4000);
    const conn = c.netcode.connection;
    expect(conn.snapshotAckHoldMs).toBe(20);
    expect(conn.counters.acksStandalone).toBeGreaterThan(conn.counters.acksInInput);
    expect(conn.counters.acksStandalone + conn.counters.acksInInput).toBeGreaterThan(3 * 20);
    expect(c.session!.player!.ackedTick).toBeGreaterThanOrEqual(w.room.ctx.tick - 3);
    // the default hold: one packet interval + 1 ms, at most 3/4 of the 50 ms snapshot interval
    for (const [hz, hold] of [[60, 1000 / 60 + 1], [30, 1000 / 30 + 1], [20, 37.5]]) {
      const wh = new LoopbackWorld({ npcs: 0 });
      const ch = wh.addClient({ connection: { inputPacketRateHz: hz } });
      wh.run(300);
      expect(ch.netcode.connection.snapshotAckHoldMs).toBeCloseTo(hold, 6);
    }
    // with ackHoldMs 0 every ack is a datagram of its own
    const w0 = new LoopbackWorld({ npcs: 10 });
    const c0 = w0.addClient({ connection: { ackHoldMs: 0 } });
    w0.run(3000);
    expect(c0.netcode.connection.counters.acksInInput).toBe(0);
    expect(w0.server.stats.acksInInput).toBe(0);
    expect(c0.session!.player!.ackedTick).toBeGreaterThanOrEqual(w0.room.ctx.tick - 3);
  });

  // At 20 packets a second the wait the input clock buys under loss (a lost packet's inputs come
  // 3 ticks late) fills the default 8-input server buffer to overflow: 20 Hz wants inputBufferMax 12.
  for (const [hz, bufferMax] of [[30, 8], [20, 12]]) {
    it(`batched inputs survive 15% loss at ${hz} packets a second (inputBufferMax ${bufferMax}): the redundancy of three packets leaves almost nothing lost`, () => {
      const w = new LoopbackWorld({ npcs: 10, net: { inputBufferMax: bufferMax } });
      const c = w.addClient({ connection: { inputPacketRateHz: hz }, link: { enabled: true, lossPct: 15, delayMs: 20, jitterMs: 4 }, seed: 11 });
      let dir = 0;
      w.run(8000, (cl) => {
        cl.input.dir = (dir = (dir + 1) % 9);
      });
      const s = c.session!.inputs!.stats;
      expect(c.link.up.stats.dropped).toBeGreaterThan(10);
      expect(s.applied).toBeGreaterThan(7 * 60 * 0.9);
      // a lost input needs four packets in a row lost (15%^4: 0.05% of packets)
      expect(s.dropped).toBeLessThanOrEqual(3);
      expect(s.repeated).toBeLessThanOrEqual(6);
      // inputs were applied in sequence: every seq the server applied first at a tick later than the one before
      const ticks = [...c.appliedTick.entries()].sort((a, b) => a[0] - b[0]).map(([, t]) => t);
      expect(ticks.length).toBeGreaterThan(400);
      for (let i = 1; i < ticks.length; i++) expect(ticks[i]).toBeGreaterThan(ticks[i - 1]);
    });
  }
});

describe('input delay by input packet rate', () => {
  /**
   * Sampling-to-application delay of one client's inputs, in-process on a fake clock (no load, no
   * scheduling noise): when each input was sampled, against the time of the server tick that
   * applied it. Returns the mean, ms.
   */
  function meanDelayMs(hz: number, link: object): number {
    const w = new LoopbackWorld({ npcs: 10 });
    const c = w.addClient({ connection: { inputPacketRateHz: hz }, link, framePhaseMs: 5.3, seed: 3 });
    const tickTimes = new Map<number, number>();
    w.afterTick = () => tickTimes.set(w.room.ctx.tick - 1, w.lastTickMs);
    const conn = c.netcode.connection;
    const sampledAt = new Map<number, number>();
    const send = conn.sendInput.bind(conn);
    conn.sendInput = (input, target, flush) => {
      const seq = send(input, target, flush);
      expect(conn.inputSampledAtMs(seq)).toBe(w.nowMs);
      sampledAt.set(seq, w.nowMs);
      return seq;
    };
    w.run(6000);
    let sum = 0;
    let n = 0;
    for (const [seq, tick] of c.appliedTick) {
      const sampled = sampledAt.get(seq) ?? NaN;
      const at = tickTimes.get(tick);
      if (!Number.isFinite(sampled) || at === undefined || at < 2000) continue;
      sum += at - sampled;
      n++;
    }
    expect(n).toBeGreaterThan(200);
    return sum / n;
  }

  it('adds one tick per extra tick of input a packet carries (measured in-process: 60, 30, 20 packets a second)', () => {
    const tickMs = 1000 / 60;
    for (const link of [{}, { enabled: true, delayMs: 30, jitterMs: 5 }]) {
      const d = [60, 30, 20].map((hz) => meanDelayMs(hz, link));
      console.log(`input delay, link ${JSON.stringify(link)}: 60 Hz ${d[0].toFixed(1)} ms, 30 Hz ${d[1].toFixed(1)} ms, 20 Hz ${d[2].toFixed(1)} ms`);
      // the input clock holds the oldest input of each packet as safe as a packet per tick would:
      // a packet of k ticks adds k - 1 ticks to every input's delay (within half a tick)
      expect(d[1] - d[0]).toBeGreaterThan(0.5 * tickMs);
      expect(d[1] - d[0]).toBeLessThan(1.5 * tickMs);
      expect(d[2] - d[0]).toBeGreaterThan(1.5 * tickMs);
      expect(d[2] - d[0]).toBeLessThan(2.5 * tickMs);
    }
  });
});
