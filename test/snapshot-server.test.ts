// Snapshots end to end on a real server over the WebSocket: clients join (full snapshots, split to
// the MTU), then get deltas; every complete frame a client decodes equals the server's frame of that
// tick; the fallbacks and shared sections show in the stats and in /metrics.
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_NET_CONFIG } from '../shared/config.ts';
import type { Connection } from '../netcode/connection.ts';
import type { SnapshotFrame } from '../shared/protocol/snapshot.ts';
import type { TickwireServer } from '../server/server.ts';
import { connectClient, startTestServer, urlOf, waitFor } from './helpers/server.ts';
import { frameDiff } from './helpers/snapshot-world.ts';

let srv: TickwireServer | undefined;
const clients: Connection[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await srv?.stop();
  srv = undefined;
});

describe('snapshots over a real server', () => {
  it('streams exact deltas to several clients, with full snapshots only at join', async () => {
    srv = await startTestServer({ gameParams: { npcs: 500 }, net: { ...DEFAULT_NET_CONFIG, maxPacketBytes: 1000 } });
    const mismatches: string[] = [];
    let checked = 0;
    for (let i = 0; i < 4; i++) {
      const s = srv;
      const c = await connectClient(s, { transport: 'ws', name: `c${i}` }, {
        onSnapshot(frame: SnapshotFrame) {
          const room = s.rooms.list[0];
          const truth = room?.history.get(frame.tick);
          if (!truth) return;
          checked++;
          const d = frameDiff(frame, truth);
          if (d) mismatches.push(`tick ${frame.tick}: ${d}`);
        },
      });
      expect(c.state).toBe('active');
      clients.push(c);
    }
    let tick = clients[0].welcome!.tick;
    const timer = setInterval(() => {
      tick++;
      for (const [i, c] of clients.entries()) c.sendInput({ dir: (Math.floor(tick / 20) + i) % 9 }, tick);
    }, 1000 / 60);
    try {
      await waitFor(() => clients.every((c) => c.counters.snapshots >= 30), 15_000, '30 snapshots per client');
    } finally {
      clearInterval(timer);
    }
    expect(mismatches).toEqual([]);
    expect(checked).toBeGreaterThan(100);
    const e = srv.stats.encoder;
    expect(e.deltaSnapshots).toBeGreaterThan(100);
    // A 500-NPC full snapshot does not fit 1000 bytes: joins were split, and nothing exceeded the MTU.
    expect(e.fullNoAck).toBeGreaterThanOrEqual(4);
    expect(e.splitSnapshots).toBeGreaterThanOrEqual(4);
    expect(e.largestPacketBytes).toBeLessThanOrEqual(1000);
    expect(e.fullSnapshots).toBeLessThan(e.deltaSnapshots / 10);
    // The full snapshots of the joins were not repeated while their acks were on the way.
    expect(e.fullSnapshots).toBeLessThanOrEqual(8);
    // Clients with the same baseline shared sections.
    expect(e.sectionsShared).toBeGreaterThan(0);
    const metrics = await (await fetch(`${urlOf(srv)}/metrics`)).text();
    expect(metrics).toMatch(/tickwire_snapshots_total\{kind="delta"\} [1-9]/);
    expect(metrics).toMatch(/tickwire_snapshots_total\{kind="full"\} [1-9]/);
  });
});
