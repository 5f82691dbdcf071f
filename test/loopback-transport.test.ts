// The loopback transport: the transport contract without sockets (admission, ordered open, exact
// bytes both ways, never-synchronous delivery, closes in order from either side), its link
// settings (delay, loss, duplication; the reliable lane never loses), and the real server running
// many clients over it with every sampled client's decoded state equal to the server's.
import { afterEach, describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { ClientNetcode } from '../netcode/netcode.ts';
import { defaultLinkSettings } from '../shared/net/link-conditioner.ts';
import { MsgType } from '../shared/protocol/ids.ts';
import type { SnapshotFrame } from '../shared/protocol/snapshot.ts';
import { loadServerConfig } from '../server/config.ts';
import { LoopbackTransport, loopbackClientIO, type LoopbackPeer } from '../server/net/loopback.ts';
import type { ConnectRequest, TransportEvents } from '../server/net/transport.ts';
import { TickwireServer } from '../server/server.ts';

/** Transport events that record everything, admitting ids from 1 (0 for tokens in `refuse`). */
class Recorder implements TransportEvents {
  readonly log: string[] = [];
  readonly messages: { id: number; bytes: number[] }[] = [];
  readonly refuse = new Set<string>();
  private next = 1;
  admit(req: ConnectRequest): number {
    if (req.token && this.refuse.has(req.token)) return 0;
    const id = this.next++;
    this.log.push(`admit ${id} ${req.remoteAddress}`);
    return id;
  }
  onOpen(id: number): void {
    this.log.push(`open ${id}`);
  }
  onMessage(id: number, bytes: Uint8Array): void {
    this.messages.push({ id, bytes: Array.from(bytes) });
    this.log.push(`msg ${id} ${bytes[0]}`);
  }
  onClose(id: number): void {
    this.log.push(`close ${id}`);
  }
}

/** A manual-mode loopback on a fake clock. */
function manual(reliable: boolean, link = { ...defaultLinkSettings(), enabled: true }) {
  const clock = { now: 0 };
  const t = new LoopbackTransport({ reliable, manual: true, nowMs: () => clock.now, link, seed: 5 });
  const ev = new Recorder();
  t.attach(ev);
  const advance = (ms: number): void => {
    clock.now += ms;
    t.pump();
  };
  return { t, ev, clock, advance };
}

function received(peer: LoopbackPeer): number[][] {
  const got: number[][] = [];
  peer.onmessage = (e) => got.push(Array.from(e.data as Uint8Array));
  return got;
}

describe('loopback transport: the contract', () => {
  it('admits, opens the server side before the client side, and delivers exact bytes both ways, never synchronously', () => {
    const { t, ev, advance } = manual(true);
    const peer = t.connect({ remoteAddress: '10.0.0.7' });
    const opened: string[] = [];
    peer.onopen = () => opened.push(ev.log.includes(`open ${peer.connId}`) ? 'after-server' : 'before-server');
    const got = received(peer);
    expect(ev.log).toEqual(['admit 1 10.0.0.7']);
    expect(peer.readyState).toBe(0);
    advance(0);
    expect(peer.readyState).toBe(1);
    expect(opened).toEqual(['after-server']);
    expect(t.connectionCount()).toBe(1);

    const up = new Uint8Array([MsgType.Control, 1, 2, 255]);
    peer.send(up);
    up[1] = 99; // the transport copied it
    expect(ev.messages).toEqual([]);
    advance(0);
    expect(ev.messages).toEqual([{ id: 1, bytes: [MsgType.Control, 1, 2, 255] }]);

    const backing = new Uint8Array(10).fill(7);
    backing.set([MsgType.Snapshot, 0, 128], 3);
    expect(t.send(1, backing.subarray(3, 6))).toBe('sent');
    expect(got).toEqual([]);
    expect(t.bufferedAmount(1)).toBe(3); // bytes waiting in the link
    advance(0);
    expect(got).toEqual([[MsgType.Snapshot, 0, 128]]);
    expect(t.send(42, new Uint8Array([1]))).toBe('closed');
  });

  it('closes in order from either side: each side sees what was sent before the close, onClose exactly once', () => {
    const { t, ev, advance } = manual(true);
    const a = t.connect();
    const b = t.connect();
    advance(0);
    const gotA = received(a);
    const closedA: number[] = [];
    a.onclose = (e) => closedA.push(e.code);
    t.send(a.connId, new Uint8Array([MsgType.Control, 9]));
    t.close(a.connId, 4102, 'bye');
    expect(ev.log.filter((l) => l === `close ${a.connId}`)).toHaveLength(1);
    advance(0);
    expect(gotA).toEqual([[MsgType.Control, 9]]);
    expect(closedA).toEqual([4102]);
    expect(a.readyState).toBe(3);

    b.send(new Uint8Array([MsgType.Input, 1]));
    b.close();
    b.close();
    expect(ev.log.filter((l) => l.startsWith(`close ${b.connId}`))).toHaveLength(0);
    advance(0);
    const tail = ev.log.slice(-2);
    expect(tail).toEqual([`msg ${b.connId} ${MsgType.Input}`, `close ${b.connId}`]);
    expect(t.connectionCount()).toBe(0);
    t.close(b.connId); // already gone: nothing more
    expect(ev.log.filter((l) => l === `close ${b.connId}`)).toHaveLength(1);
  });

  it('refuses what admit refuses: the client end closes with 1013 and nothing reaches the server', async () => {
    const { t, ev, advance } = manual(false);
    ev.refuse.add('bad');
    const peer = t.connect({ token: 'bad' });
    const codes: number[] = [];
    peer.onclose = (e) => codes.push(e.code);
    await Promise.resolve();
    advance(0);
    expect(codes).toEqual([1013]);
    peer.send(new Uint8Array([MsgType.Input]));
    advance(0);
    expect(ev.log).toEqual([]);
  });
});

describe('loopback transport: link settings', () => {
  it('delays by the configured latency and keeps order on the reliable lane', () => {
    const link = { ...defaultLinkSettings(), enabled: true, delayMs: 40 };
    const { t, ev, advance } = manual(true, link);
    const peer = t.connect();
    advance(40);
    expect(peer.readyState).toBe(0); // open crosses up then down: 80 ms
    advance(40);
    expect(peer.readyState).toBe(1);
    for (let i = 0; i < 5; i++) peer.send(new Uint8Array([MsgType.Control, i]));
    advance(39);
    expect(ev.messages).toHaveLength(0);
    advance(1);
    expect(ev.messages.map((m) => m.bytes[1])).toEqual([0, 1, 2, 3, 4]);
  });

  it('loses and duplicates datagrams at about the configured rates, repeatably; the reliable lane loses nothing', () => {
    const run = (reliable: boolean, lossyDatagrams = false) => {
      const clock = { now: 0 };
      const link = { ...defaultLinkSettings(), enabled: true, lossPct: 20, duplicatePct: 10, jitterMs: 2 };
      const t = new LoopbackTransport({ reliable, manual: true, nowMs: () => clock.now, link, seed: 11, lossyDatagrams });
      const ev = new Recorder();
      t.attach(ev);
      const peer = t.connect({ token: 'x'.repeat(32) });
      clock.now += 10;
      t.pump();
      for (let i = 0; i < 5000; i++) {
        peer.send(new Uint8Array([MsgType.Input, i & 255, i >> 8]));
        clock.now += 1;
        t.pump();
      }
      clock.now += 100;
      t.pump();
      return ev.messages.map((m) => m.bytes[1] | (m.bytes[2] << 8));
    };
    const lossy = run(false);
    const distinct = new Set(lossy).size;
    expect(distinct / 5000).toBeGreaterThan(0.76);
    expect(distinct / 5000).toBeLessThan(0.84);
    expect((lossy.length - distinct) / distinct).toBeGreaterThan(0.07);
    expect((lossy.length - distinct) / distinct).toBeLessThan(0.13);
    expect(run(false)).toEqual(lossy); // same seed, same traffic, same result
    const stream = run(true);
    expect(stream).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    expect(new Set(run(true, true)).size).toBeLessThan(4500); // a WebSocket-only client under loss
  });
});

describe('the real server over the loopback transport', { timeout: 60_000 }, () => {
  let srv: TickwireServer | undefined;
  afterEach(async () => {
    await srv?.stop();
    srv = undefined;
  });

  it('runs 120 clients in one process with no sockets: all join, move to the datagram channel, and every sampled client decodes exactly the server state', async () => {
    const N = 120;
    // A fake clock: the server ticks, the clients run frames and the links deliver on it, so the
    // figures do not depend on what else the machine is doing.
    const clock = { now: 0 };
    const nowMs = (): number => clock.now;
    const config = loadServerConfig({}, { webrtc: true, logLevel: 'silent', roomCapacity: N, gameParams: { npcs: 200 }, clientRoomParams: { npcs: 200 }, maxMessagesPerSec: 1000 });
    srv = new TickwireServer(config, { game: arena, clock: { nowMs }, autoTick: false });
    const reliable = new LoopbackTransport({ reliable: true, seed: 1, manual: true, nowMs });
    const datagram = new LoopbackTransport({ reliable: false, seed: 2, manual: true, nowMs, link: { ...defaultLinkSettings(), enabled: true, lossPct: 2, jitterMs: 3, delayMs: 5 } });
    srv.startInProcess(reliable, datagram);
    const server = srv;
    const sampled = new Set([0, 1, N / 2, N - 1]);
    let compared = 0;
    let mismatched = 0;
    const clients = Array.from({ length: N }, (_, i) => {
      const io = loopbackClientIO(reliable, datagram, { nowMs, remoteAddress: `10.0.${i >> 8}.${i & 255}` });
      const c = new ClientNetcode(arena, io, { url: 'http://loopback', name: `c${i}`, room: 'big', webrtcTimeoutMs: 60_000 });
      if (sampled.has(i)) {
        const ev = c.connection.events;
        const prev = ev.onSnapshot;
        ev.onSnapshot = (frame: SnapshotFrame, header) => {
          prev?.(frame, header);
          const truth = server.rooms.get('big')?.history.get(frame.tick);
          if (!truth) return;
          compared++;
          if (!frame.sameFrame(truth)) mismatched++;
        };
      }
      c.connect();
      return c;
    });
    const inputs = clients.map((_, i) => ({ dir: (i % 8) + 1 }));
    const tickMs = 1000 / config.net.tickRateHz;
    let nextTick = tickMs;
    /** Runs `ms` of fake time in 1 ms steps; promise continuations (datagram channels opening) run between steps. */
    const run = async (ms: number): Promise<void> => {
      const end = clock.now + ms;
      while (clock.now < end) {
        clock.now += 1;
        reliable.pump();
        datagram.pump();
        while (clock.now >= nextTick) {
          server.tickOnce();
          nextTick += tickMs;
          clients.forEach((c, i) => c.frame(clock.now, inputs[i]));
        }
        reliable.pump();
        datagram.pump();
        await Promise.resolve();
      }
    };
    try {
      for (let i = 0; i < 100 && !clients.every((c) => c.connection.state === 'active' && c.connection.transport === 'webrtc'); i++) await run(50);
      expect(clients.every((c) => c.connection.state === 'active')).toBe(true);
      expect(clients.every((c) => c.connection.transport === 'webrtc')).toBe(true);
      const room = server.rooms.get('big')!;
      expect(room.players).toHaveLength(N);
      expect(server.sessions.countOn('loopback')).toBe(N);
      const snaps0 = clients.map((c) => c.connection.counters.snapshots);
      const applied0 = room.players.map((p) => p.inputs.stats.applied);
      await run(3000);
      const perSec = clients.map((c, i) => (c.connection.counters.snapshots - snaps0[i]) / 3);
      console.log(`loopback, ${N} clients: snapshots per client per second min ${Math.min(...perSec).toFixed(1)}, mean ${(perSec.reduce((a, b) => a + b, 0) / N).toFixed(2)}`);
      // 20 snapshots/s; a snapshot of 320 entities is split into parts, each lost with 2% on the datagram link
      expect(Math.min(...perSec)).toBeGreaterThan(15);
      expect(perSec.reduce((a, b) => a + b, 0) / N).toBeGreaterThan(18.5);
      const applied = room.players.map((p, i) => p.inputs.stats.applied - applied0[i]);
      // 180 ticks in 3 s: one input applied per tick, but inputs lost on the datagram link (beyond
      // redundancy) are skipped, and at 30 input packets a second a late packet starves two ticks
      expect(Math.min(...applied)).toBeGreaterThan(140);
      expect(compared).toBeGreaterThan(4 * 50);
      expect(mismatched).toBe(0);
      // 30 input packets a second; a snapshot ack rides in one when it is due within ackHoldMs (20),
      // else it travels alone: here frames follow the ticks, so about half of them ride
      console.log(`loopback, ${N} clients: messages in ${server.stats.messagesIn.loopback}, acks in inputs ${server.stats.acksInInput}, alone ${server.stats.acksStandalone}`);
      expect(server.stats.messagesIn.loopback).toBeGreaterThan(N * 30 * 3);
      expect(server.stats.acksInInput).toBeGreaterThan(N * 5 * 3);
      expect(server.stats.acksStandalone).toBeGreaterThan(0);
    } finally {
      for (const c of clients) c.connection.close();
    }
  });
});
