// The shared spectator stream (server/spectator-stream.ts): spectators on the WebSocket of a room
// without views get one delta chain, encoded once per snapshot tick, and send no snapshot acks. The
// real server on a fake clock over the loopback transports: every frame a stream spectator decodes
// equals the server's quantized state, and so does every frame of a spectator on the datagram
// channel (the per-client, acknowledged stream); a spectator joining mid-match starts from a
// keyframe; one whose connection backs up is skipped, then resynchronised with a keyframe; one that
// stays backed up is closed with Backpressure; the heartbeat keeps an ack-less spectator alive.
import { afterEach, describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { ClientNetcode } from '../netcode/netcode.ts';
import type { ClientIO } from '../netcode/io.ts';
import { loadServerConfig } from '../server/config.ts';
import { LoopbackTransport, loopbackClientIO, type LoopbackPeer } from '../server/net/loopback.ts';
import { TickwireServer } from '../server/server.ts';
import { CloseCode, MsgType } from '../shared/protocol/ids.ts';
import { defaultLinkSettings } from '../shared/net/link-conditioner.ts';
import type { SnapshotFrame, SnapshotHeader } from '../shared/protocol/snapshot.ts';

const ROOM = 'watched';

/** A fake clock with the timers the clients' connections set (heartbeats, retries). */
class FakeTime {
  now = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private serial = 0;
  setTimeout = (fn: () => void, ms: number): unknown => {
    const id = ++this.serial;
    this.timers.push({ at: this.now + ms, fn, id });
    return id;
  };
  clearTimeout = (id: unknown): void => {
    this.timers = this.timers.filter((t) => t.id !== id);
  };
  run(): void {
    const due = this.timers.filter((t) => t.at <= this.now);
    if (due.length === 0) return;
    this.timers = this.timers.filter((t) => t.at > this.now);
    for (const t of due) t.fn();
  }
}

/** What one watching client saw. */
interface Watcher {
  readonly c: ClientNetcode;
  /** Its reliable loopback peer (the server's connection id). */
  peer: LoopbackPeer | undefined;
  compared: number;
  mismatched: number;
  fulls: number;
  /** Snapshot ticks decoded, in order. */
  readonly ticks: number[];
  /** Snapshot acks and input packets it sent (message types 3 and 4 on either channel). */
  acksUp: number;
  closedCode: number;
}

let srv: TickwireServer | undefined;
afterEach(async () => {
  await srv?.stop();
  srv = undefined;
});

function world(o: { stream?: boolean; maxBehindBytes?: number; resumeGraceMs?: number } = {}) {
  const time = new FakeTime();
  const nowMs = (): number => time.now;
  const config = loadServerConfig({}, {
    webrtc: true, logLevel: 'silent', resumeGraceMs: o.resumeGraceMs ?? 0, gameParams: { npcs: 200 }, clientRoomParams: { npcs: 200 }, maxMessagesPerSec: 1000,
    spectatorStream: o.stream ?? true, spectatorStreamMaxBehindBytes: o.maxBehindBytes ?? 4096,
  });
  const server = new TickwireServer(config, { game: arena, clock: { nowMs }, autoTick: false });
  srv = server;
  const reliable = new LoopbackTransport({ reliable: true, seed: 1, manual: true, nowMs });
  const datagram = new LoopbackTransport({ reliable: false, seed: 2, manual: true, nowMs, link: { ...defaultLinkSettings(), enabled: true, delayMs: 5 } });
  server.startInProcess(reliable, datagram);
  const players: ClientNetcode[] = [];
  const watchers: Watcher[] = [];
  const inputs: Record<string, number>[] = [];

  const ioFor = (i: number, w?: Watcher): ClientIO => {
    const base = loopbackClientIO(reliable, datagram, { nowMs, remoteAddress: `10.1.0.${i}` });
    const countUp = (bytes: Uint8Array): void => {
      if (w && (bytes[0] === MsgType.SnapshotAck || bytes[0] === MsgType.Input)) w.acksUp++;
    };
    return {
      nowMs, setTimeout: time.setTimeout, clearTimeout: time.clearTimeout,
      openWebSocket: (url: string) => {
        const peer = base.openWebSocket(url);
        if (w) w.peer = peer;
        const send = peer.send.bind(peer);
        peer.send = (data: Uint8Array) => {
          countUp(data);
          send(data);
        };
        return peer;
      },
      openDatagram: base.openDatagram
        ? async (d) => {
            const dg = await base.openDatagram!(d);
            return { send: (b: Uint8Array) => (countUp(b), dg.send(b)), close: () => dg.close() };
          }
        : undefined,
    } as ClientIO;
  };

  const addPlayer = (): void => {
    const i = players.length;
    const c = new ClientNetcode(arena, ioFor(i), { url: 'http://loopback', name: `p${i}`, room: ROOM, transport: 'ws' });
    c.connect();
    players.push(c);
    inputs.push({ dir: (i % 8) + 1 });
  };

  /** A spectator: on the WebSocket only (`ws`: the shared stream) or offered the datagram channel (`auto`). */
  const addWatcher = (transport: 'ws' | 'auto', pingIntervalMs = 250, silenceTimeoutMs?: number): Watcher => {
    const w: Watcher = { c: undefined as unknown as ClientNetcode, peer: undefined, compared: 0, mismatched: 0, fulls: 0, ticks: [], acksUp: 0, closedCode: 0 };
    const c = new ClientNetcode(arena, ioFor(100 + watchers.length, w), { url: 'http://loopback', name: `w${watchers.length}`, room: ROOM, transport, spectate: true, webrtcTimeoutMs: 60_000, silenceTimeoutMs }, { pingIntervalMs });
    (w as { c: ClientNetcode }).c = c;
    const ev = c.connection.events;
    const prev = ev.onSnapshot;
    ev.onSnapshot = (frame: SnapshotFrame, header: Readonly<SnapshotHeader>) => {
      prev?.(frame, header);
      if ((frame as { complete?: boolean }).complete === false) return;
      w.ticks.push(frame.tick);
      if (header.kind === 0) w.fulls++;
      const truth = server.rooms.get(ROOM)?.history.get(frame.tick);
      if (!truth) return;
      w.compared++;
      if (!frame.sameFrame(truth)) w.mismatched++;
    };
    const onClose = ev.onClose;
    ev.onClose = (reason, code) => {
      onClose?.(reason, code);
      w.closedCode = code;
    };
    c.connect();
    watchers.push(w);
    return w;
  };

  const tickMs = 1000 / config.net.tickRateHz;
  let nextTick = tickMs;
  /** Runs `ms` of fake time in 1 ms steps; promise continuations (datagram channels opening) run between steps. */
  const run = async (ms: number): Promise<void> => {
    const end = time.now + ms;
    while (time.now < end) {
      time.now += 1;
      time.run();
      reliable.pump();
      datagram.pump();
      while (time.now >= nextTick) {
        server.frame({ run: 1, skipped: 0 }); // a tick, and once a second the housekeeping (timeouts)
        nextTick += tickMs;
        players.forEach((c, i) => c.frame(time.now, inputs[i]));
        for (const w of watchers) w.c.frame(time.now, {});
      }
      reliable.pump();
      datagram.pump();
      await Promise.resolve();
    }
  };
  return { server, reliable, players, watchers, inputs, addPlayer, addWatcher, run, time };
}

/** True when `ticks` is every snapshot tick from its first to its last (the stream is reliable: nothing skipped). */
function contiguous(ticks: readonly number[], every: number): boolean {
  for (let i = 1; i < ticks.length; i++) if (ticks[i] !== ticks[i - 1] + every) return false;
  return true;
}

describe('the shared spectator stream', { timeout: 120_000 }, () => {
  it('decodes every frame exactly, with no acks; a spectator on the datagram channel keeps its acknowledged stream; joining mid-match starts from a keyframe', async () => {
    const w = world();
    for (let i = 0; i < 4; i++) w.addPlayer();
    await w.run(500);
    // pings every 10 s: only the connection's heartbeat says this one is there
    const streamed = w.addWatcher('ws', 10_000);
    const acked = w.addWatcher('auto');
    await w.run(3000);
    const late = w.addWatcher('ws');
    await w.run(6000); // past clientTimeoutMs (5 s): the heartbeat keeps the ack-less spectator
    const every = w.server.config.net.tickRateHz / w.server.config.net.snapshotRateHz;
    const room = w.server.rooms.get(ROOM)!;
    expect(room.spectators.length).toBe(3);
    expect(streamed.c.connection.welcome?.stream).toBe(true);
    expect(late.c.connection.welcome?.stream).toBe(true);
    expect(acked.c.connection.welcome?.stream).toBeUndefined();
    expect(acked.c.connection.transport).toBe('webrtc');
    expect(room.stream?.size).toBe(2);
    for (const x of [streamed, acked, late]) {
      expect(x.compared).toBeGreaterThan(80);
      expect(x.mismatched).toBe(0);
      expect(x.c.connection.counters.decodeErrors).toBe(0);
    }
    // the stream: every snapshot tick, one keyframe (the first), then deltas; nothing acknowledged
    for (const x of [streamed, late]) {
      expect(contiguous(x.ticks, every)).toBe(true);
      expect(x.fulls).toBe(1);
      expect(x.acksUp).toBe(0);
      expect(x.c.connection.counters.acksStandalone + x.c.connection.counters.acksInInput).toBe(0);
      expect(x.closedCode).toBe(0);
    }
    expect(late.ticks[0]).toBeGreaterThan(streamed.ticks[0] + 50 * every);
    // the acknowledged spectator acknowledges, as before
    expect(acked.acksUp).toBeGreaterThan(100);
    const st = w.server.stats.spectatorStream;
    expect(st.keyframes.join).toBe(2);
    expect(st.keyframes.behind).toBe(0);
    expect(st.packets.keyframe).toBeGreaterThanOrEqual(2);
    expect(st.packets.delta).toBeGreaterThanOrEqual(streamed.ticks.length + late.ticks.length - 2);
    const text = await w.server.metricsText();
    expect(text).toMatch(/tickwire_spectator_stream_packets_total\{kind="delta"\} [1-9]/);
    expect(text).toMatch(/tickwire_spectator_stream_keyframes_total\{reason="join"\} 2/);
  });

  it('skips a spectator whose connection backs up, resynchronises it with a keyframe once it drains, and closes one that stays backed up with Backpressure', async () => {
    const w = world({ maxBehindBytes: 512 });
    for (let i = 0; i < 4; i++) w.addPlayer();
    await w.run(500);
    const slow = w.addWatcher('ws');
    // a client that stops reading runs no timers either: it never takes the server for silent
    const stuck = w.addWatcher('ws', 250, 60_000);
    const fine = w.addWatcher('ws');
    await w.run(1000);
    const every = w.server.config.net.tickRateHz / w.server.config.net.snapshotRateHz;
    w.reliable.hold(slow.peer!.connId, true);
    w.reliable.hold(stuck.peer!.connId, true);
    await w.run(2000);
    const heldBytes = w.reliable.bufferedAmount(slow.peer!.connId);
    expect(heldBytes).toBeGreaterThan(512);
    // the stream stopped sending to it: what it holds stays below the threshold plus one tick's packets
    await w.run(1000);
    expect(w.reliable.bufferedAmount(slow.peer!.connId)).toBeLessThan(heldBytes + 1024);
    w.reliable.hold(slow.peer!.connId, false);
    await w.run(3000);
    const st = w.server.stats.spectatorStream;
    expect(st.keyframes.behind).toBe(1);
    expect(slow.fulls).toBe(2);
    expect(slow.mismatched).toBe(0);
    expect(slow.c.connection.counters.decodeErrors).toBe(0);
    expect(slow.closedCode).toBe(0);
    // the spectator that kept reading saw none of it
    expect(fine.fulls).toBe(1);
    expect(contiguous(fine.ticks, every)).toBe(true);
    expect(fine.mismatched).toBe(0);
    // behind past clientTimeoutMs: closed with Backpressure (its unread bytes arrive first, all exact)
    await w.run(3000);
    expect(stuck.closedCode).toBe(4100 + CloseCode.Backpressure);
    expect(stuck.mismatched).toBe(0);
    expect(stuck.c.connection.counters.decodeErrors).toBe(0);
    expect(w.server.rooms.get(ROOM)!.spectators.length).toBe(2);
    expect(w.server.rooms.get(ROOM)!.stream?.size).toBe(2);
    const text = await w.server.metricsText();
    expect(text).toMatch(/tickwire_spectator_stream_keyframes_total\{reason="behind"\} 1/);
  });

  it('a spectator that resumes on a new connection starts again from a keyframe and decodes exactly', async () => {
    const w = world({ resumeGraceMs: 15_000 });
    for (let i = 0; i < 2; i++) w.addPlayer();
    await w.run(500);
    const x = w.addWatcher('ws');
    await w.run(1500);
    const before = x.ticks.length;
    // the server drops the connection; the client resumes the same session on a new one
    w.reliable.close(x.peer!.connId, 1006, 'link lost');
    await w.run(2500);
    expect(x.c.connection.counters.resumes).toBe(1);
    expect(x.c.connection.welcome?.stream).toBe(true);
    expect(x.ticks.length).toBeGreaterThan(before + 30);
    expect(x.fulls).toBe(2);
    expect(x.mismatched).toBe(0);
    expect(x.c.connection.counters.decodeErrors).toBe(0);
    expect(x.acksUp).toBe(0);
    expect(w.server.stats.spectatorStream.keyframes.join).toBe(2);
    expect(w.server.rooms.get(ROOM)!.stream?.size).toBe(1);
  });

  it('with spectatorStream off, a WebSocket spectator gets its own acknowledged stream as before', async () => {
    const w = world({ stream: false });
    w.addPlayer();
    await w.run(300);
    const x = w.addWatcher('ws');
    await w.run(2000);
    expect(x.c.connection.welcome?.stream).toBeUndefined();
    expect(w.server.rooms.get(ROOM)!.stream).toBeUndefined();
    expect(x.mismatched).toBe(0);
    expect(x.compared).toBeGreaterThan(30);
    expect(x.acksUp).toBeGreaterThan(30);
  });
});
