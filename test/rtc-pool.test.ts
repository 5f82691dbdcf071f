// The WebRTC side as several supervised processes: sessions are spread over them, and a crash of
// one moves only its own sessions to the WebSocket while the others stay on WebRTC; it restarts on
// its own and its clients return.
import { afterEach, describe, expect, it } from 'vitest';
import { udpSlice, webrtcProcessCount, type RtcPoolTransport } from '../server/net/rtc-pool.ts';
import { loadServerConfig } from '../server/config.ts';
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

describe('WebRTC process count and port slices', () => {
  it('defaults to half the cores, at least 1 and at most 4; an explicit count wins', () => {
    expect([1, 2, 3, 4, 8, 16, 64].map((c) => webrtcProcessCount(0, c))).toEqual([1, 1, 1, 2, 4, 4, 4]);
    expect(webrtcProcessCount(3, 2)).toBe(3);
    expect(loadServerConfig({ TICKWIRE_WEBRTC_PROCESSES: '2' }).webrtcProcesses).toBe(2);
    expect(() => loadServerConfig({ TICKWIRE_WEBRTC_PROCESSES: '33' })).toThrow(/webrtcProcesses/);
    expect(() => loadServerConfig({}, { webrtcProcesses: 3, udpPortMin: 20000, udpPortMax: 20001 })).toThrow(/UDP ports/);
    expect(() => loadServerConfig({}, { port: 8082, signalingPort: 8081, webrtcProcesses: 2 })).toThrow(/signaling ports/);
  });

  it('cuts the UDP range into disjoint slices that cover it', () => {
    const slices = [0, 1, 2].map((i) => udpSlice(20000, 20999, i, 3));
    expect(slices).toEqual([{ udpPortMin: 20000, udpPortMax: 20332 }, { udpPortMin: 20333, udpPortMax: 20665 }, { udpPortMin: 20666, udpPortMax: 20999 }]);
  });
});

describe('several WebRTC processes', () => {
  it('spreads sessions over the processes; a crash of one moves only its sessions to the WebSocket, and it restarts on its own', async () => {
    srv = await startTestServer({ webrtc: true, webrtcProcess: true, webrtcProcesses: 2 });
    const pool = srv.rtc as RtcPoolTransport;
    expect(pool.processes).toHaveLength(2);
    expect(pool.isUp()).toBe(true);
    const ports = pool.processes.map((p) => p.signalingPort);
    expect(new Set(ports).size).toBe(2);
    for (let i = 0; i < 4; i++) clients.push(await connectClient(srv, { transport: 'auto', name: `p${i}`, webrtcTimeoutMs: 8000 }));
    await waitFor(() => clients.every((c) => c.transport === 'webrtc'), 15_000, 'all on webrtc');
    const sessions = clients.map((c) => srv!.sessions.get(c.welcome!.sessionId)!);
    await waitFor(() => sessions.every((s) => s.unreliableKind() === 'webrtc'), 3000, 'server side on webrtc');
    // round robin: two sessions on each process, each welcome naming its process's port
    const owners = sessions.map((s) => pool.processOf(s.unreliable!.id));
    expect([...owners].sort()).toEqual([0, 0, 1, 1]);
    clients.forEach((c, i) => expect(c.welcome!.signalingPort).toBe(ports[owners[i]]));
    expect(pool.connectionCount()).toBe(4);

    const victim = pool.processes[0];
    const survivor = pool.processes[1];
    const pid0 = victim.pid();
    const survivorPid = survivor.pid();
    const onVictim = sessions.filter((_, i) => owners[i] === 0);
    const onSurvivor = sessions.filter((_, i) => owners[i] === 1);
    const survivorClients = clients.filter((_, i) => owners[i] === 1);
    victim.crash();
    await waitFor(() => onVictim.every((s) => s.unreliableKind() === 'ws'), 5000, "the crashed process's sessions moved to the WebSocket");
    // the other process's sessions never left WebRTC, and their snapshots keep coming over it
    expect(onSurvivor.every((s) => s.unreliableKind() === 'webrtc')).toBe(true);
    expect(survivorClients.every((c) => c.transport === 'webrtc')).toBe(true);
    const snaps = survivorClients.map((c) => c.counters.snapshots);
    const out0 = srv.stats.messagesOut.webrtc;
    await waitFor(() => survivorClients.every((c, i) => c.counters.snapshots > snaps[i] + 10), 3000, 'snapshots on the surviving process');
    // every snapshot the survivors got since the crash came over WebRTC (but the one each may have had in flight then)
    const gained = survivorClients.reduce((n, c, i) => n + c.counters.snapshots - snaps[i], 0);
    expect(gained).toBeGreaterThan(20);
    expect(srv.stats.messagesOut.webrtc - out0).toBeGreaterThanOrEqual(gained - 2 * survivorClients.length);
    expect(onSurvivor.every((s) => s.unreliableKind() === 'webrtc')).toBe(true);
    expect(survivor.restarts).toBe(0);
    expect(survivor.pid()).toBe(survivorPid);

    expect(await victim.whenUp(10_000)).toBe(true);
    expect(victim.restarts).toBe(1);
    expect(victim.pid()).not.toBe(pid0);
    expect(pool.restarts).toBe(1);
    // ... and its clients return to WebRTC on their own
    await waitFor(() => clients.every((c) => c.transport === 'webrtc') && sessions.every((s) => s.unreliableKind() === 'webrtc'), 25_000, 'back on webrtc');
    expect(sessions.every((s) => s.state === 'active')).toBe(true);
  }, 60_000);
});
