// A crash of the WebRTC stack (a native abort in its process) must not end a match: sessions move
// to the WebSocket, players keep their entities and keep moving, and the WebRTC process restarts.
import { afterEach, describe, expect, it } from 'vitest';
import type { RtcProcessTransport } from '../server/net/rtc-process.ts';
import type { TickwireServer } from '../server/server.ts';
import type { Connection } from '../netcode/connection.ts';
import { connectClient, startTestServer, waitFor } from './helpers/server.ts';

let srv: TickwireServer | undefined;
const clients: Connection[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await srv?.stop();
  srv = undefined;
});

describe('WebRTC process crash mid-match', () => {
  it('keeps the match running over the WebSocket, restarts the WebRTC process, and clients return to it', async () => {
    srv = await startTestServer({ webrtc: true, webrtcProcess: true });
    const rtc = srv.rtc as RtcProcessTransport;
    expect(rtc.isUp()).toBe(true);
    const pid0 = rtc.pid();
    for (let i = 0; i < 2; i++) clients.push(await connectClient(srv, { transport: 'auto', name: `p${i}` }));
    await waitFor(() => clients.every((c) => c.transport === 'webrtc'), 10_000, 'both on webrtc');
    const room = srv.rooms.get(clients[0].welcome!.room)!;
    const sessions = clients.map((c) => srv!.sessions.get(c.welcome!.sessionId)!);
    await waitFor(() => sessions.every((s) => s.unreliableKind() === 'webrtc'), 3000, 'server side on webrtc');

    let tick = room.ctx.tick;
    const timer = setInterval(() => {
      tick++;
      for (const c of clients) c.sendInput({ dir: 7 }, tick); // south
    }, 1000 / 60);
    try {
      await waitFor(() => sessions.every((s) => (s.inputs?.stats.applied ?? 0) > 10), 5000, 'inputs before the crash');
      const eids = clients.map((c) => c.eid);
      const y0 = eids.map((e) => room.ctx.c.Position.y[e]);
      const tick0 = room.ctx.tick;
      const applied0 = sessions.map((s) => s.inputs!.stats.applied);

      rtc.crash();
      await waitFor(() => sessions.every((s) => s.unreliableKind() === 'ws'), 5000, 'sessions moved to the WebSocket');
      await waitFor(() => clients.every((c) => c.transport === 'ws'), 5000, 'clients moved to the WebSocket');
      // The match goes on: ticks advance, inputs arrive over the WebSocket, entities move, nobody is lost.
      await waitFor(() => sessions.every((s, i) => s.inputs!.stats.applied > applied0[i] + 30), 5000, 'inputs after the crash');
      expect(room.ctx.tick).toBeGreaterThan(tick0 + 30);
      expect(room.players.length).toBe(2);
      clients.forEach((c, i) => {
        expect(room.replicated()).toContain(eids[i]);
        expect(c.eid).toBe(eids[i]);
        expect(room.ctx.c.Position.y[eids[i]]).toBeGreaterThan(y0[i]);
      });
      const snaps = clients.map((c) => c.counters.snapshots);
      await waitFor(() => clients.every((c, i) => c.counters.snapshots > snaps[i] + 5), 3000, 'snapshots over the WebSocket');

      expect(await rtc.whenUp(10_000)).toBe(true);
      expect(rtc.restarts).toBe(1);
      expect(rtc.pid()).not.toBe(pid0);
      // ... and the clients move back to WebRTC on their own.
      await waitFor(() => clients.every((c) => c.transport === 'webrtc') && sessions.every((s) => s.unreliableKind() === 'webrtc'), 20_000, 'back on webrtc');
      const rtcIn = srv!.stats.bytesIn.webrtc;
      await waitFor(() => srv!.stats.bytesIn.webrtc > rtcIn + 1000, 5000, 'traffic over the new webrtc process');
      expect(room.players.length).toBe(2);
    } finally {
      clearInterval(timer);
    }
  }, 60_000);
});
