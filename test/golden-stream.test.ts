// Golden snapshot stream of a game without interest rules: arena-v1, 50 clients, 500 NPCs, 10 s on a
// simulated clock over the loopback, every snapshot packet the server sends hashed. Interest
// management must leave such games' wire bytes exactly as they were; the hash changes only with a
// deliberate change of the snapshot format or of what the stream reacts to (inputs, acks): then
// update the constant and say why in the commit. The clients send as clients did then (an input
// packet a tick, every ack its own datagram): with the default 30 packets a second and acks inside
// them the server acknowledges other baselines, and the stream differs for that reason alone.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { Connection } from '../netcode/connection.ts';
import { loadServerConfig } from '../server/config.ts';
import { LoopbackTransport, loopbackClientIO } from '../server/net/loopback.ts';
import { TickwireServer } from '../server/server.ts';
import { DeltaSnapshotEncoder } from '../server/snapshots.ts';
import { MsgType } from '../shared/protocol/ids.ts';
import { Rng } from '../shared/sim/rng.ts';

/** The stream as this test measured it before interest management existed (commit b6ba400). */
const GOLDEN = { packets: 10100, bytes: 1160750, sha256: 'c4b1d3208737a841da2c664e252d46f4' };

describe('golden snapshot stream (arena-v1, no interest rules)', () => {
  it('sends exactly the bytes it sent before views existed', async () => {
    let now = 0;
    const nowMs = (): number => now;
    const config = loadServerConfig({}, { webrtc: false, logLevel: 'silent', resumeGraceMs: 0, roomCapacity: 64, gameParams: { npcs: 500 } });
    const server = new TickwireServer(config, { game: arena, clock: { nowMs }, autoTick: false });
    const t = new LoopbackTransport({ reliable: true, manual: true, nowMs });
    const h = createHash('sha256');
    let packets = 0;
    let bytes = 0;
    const send = t.send.bind(t);
    t.send = (id, b) => {
      if (b[0] === MsgType.Snapshot) {
        h.update(b);
        packets++;
        bytes += b.length;
      }
      return send(id, b);
    };
    server.startInProcess(t);
    const rng = new Rng(9);
    const clients = Array.from({ length: 50 }, (_, i) => {
      const io = { ...loopbackClientIO(t, undefined, { nowMs, remoteAddress: `10.0.0.${i}` }), setTimeout: () => 0, clearTimeout: () => undefined };
      const c = new Connection(arena, io, { url: 'http://loopback', name: `b${i}`, transport: 'ws', inputPacketRateHz: 60, ackHoldMs: 0 });
      c.connect();
      return { c, dir: 0 };
    });
    for (let k = 0; k < 60 * 10; k++) {
      now += 1000 / 60;
      const room = server.rooms.list[0];
      for (const x of clients) {
        if (k % 17 === 0) x.dir = rng.int(9);
        if (x.c.state === 'active') x.c.sendInput({ dir: x.dir }, (room?.ctx.tick ?? 0) + 1);
      }
      t.pump();
      server.frame({ run: 1, skipped: 0 });
      t.pump();
      if (k % 60 === 0) await new Promise((r) => setImmediate(r));
    }
    expect(server.rooms.list[0].encoder).toBeInstanceOf(DeltaSnapshotEncoder);
    expect(server.rooms.list[0].interest).toBeUndefined();
    expect({ packets, bytes, sha256: h.digest('hex').slice(0, 32) }).toEqual(GOLDEN);
    for (const x of clients) x.c.close();
    t.pump();
    await server.stop();
  }, 60_000);
});
