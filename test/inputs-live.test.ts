// Inputs that miss their tick: a client on a lossy link with no input redundancy, read back from
// /metrics (tickwire_inputs_total) and GET /rooms against the server's per-player input buffers.
import { afterEach, describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { conditionClientIO } from '../netcode/conditioned-io.ts';
import { Connection, type ClientIO } from '../netcode/connection.ts';
import type { InputStats } from '../server/inputs.ts';
import type { Player } from '../server/player.ts';
import type { RoomInfo } from '../server/rooms.ts';
import type { TickwireServer } from '../server/server.ts';
import { DEFAULT_NET_CONFIG } from '../shared/config.ts';
import { defaultLinkSettings } from '../shared/net/link-conditioner.ts';
import { MsgType } from '../shared/protocol/ids.ts';
import { nodeClientIO } from '../tools/node-client/io.ts';
import { promValue } from '../tools/measure/prom.ts';
import { scrapeMetrics, startTestServer, urlOf, waitFor } from './helpers/server.ts';

let srv: TickwireServer | undefined;
const conns: Connection[] = [];
afterEach(async () => {
  for (const c of conns.splice(0)) c.close();
  await srv?.stop();
  srv = undefined;
});

/** A WebSocket-only client whose unreliable messages cross a seeded lossy link; records the input packets that got through. */
interface LossyClient {
  conn: Connection;
  /** Sequence of every input packet the link delivered to the WebSocket, in order. */
  delivered: number[];
  /** Input count of every delivered packet. */
  counts: number[];
}

async function lossyClient(server: TickwireServer, o: { lossPct: number; seed: number; room: string; name: string }): Promise<LossyClient> {
  const base = nodeClientIO({ webrtc: false });
  const delivered: number[] = [];
  const counts: number[] = [];
  // The inner I/O sees what the conditioner let through.
  const inner: ClientIO = {
    ...base,
    openWebSocket(url) {
      const ws = base.openWebSocket(url);
      const send = ws.send.bind(ws);
      ws.send = (bytes: Uint8Array) => {
        if (bytes[0] === MsgType.Input) {
          delivered.push(bytes[1] | (bytes[2] << 8));
          counts.push(bytes[7] & 0x1f); // bits 0-4: the count (bit 7: a snapshot ack rides along)
        }
        send(bytes);
      };
      return ws;
    },
  };
  const link = conditionClientIO(inner, {
    settings: { ...defaultLinkSettings(), enabled: true, lossPct: o.lossPct },
    seed: o.seed,
    timers: { nowMs: () => performance.now(), setTimer: (fn, ms) => setTimeout(fn, ms) },
    lossyWebSocket: true,
  });
  // one packet per tick: each input packet here is one input (the loss counts below rely on it)
  const conn = new Connection(arena, link.io, { url: urlOf(server), name: o.name, transport: 'ws', room: o.room, inputPacketRateHz: 60 });
  conns.push(conn);
  conn.connect();
  await waitFor(() => conn.state === 'active', 5000, `${o.name} welcome`);
  return { conn, delivered, counts };
}

/** Sends one input per room tick from each client (one packet each), `n` inputs in all, then waits for the server to apply what arrived. */
async function driveInputs(server: TickwireServer, clients: Connection[], n: number): Promise<void> {
  const rooms = clients.map((c) => server.rooms.get(c.welcome!.room)!);
  const last = rooms.map((r) => r.ctx.tick);
  let sent = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      clients.forEach((c, i) => {
        while (last[i] < rooms[i].ctx.tick && c.counters.inputsSent < n) {
          last[i]++;
          c.sendInput({ dir: 1 + (c.counters.inputsSent % 8) }, last[i] + 2);
        }
      });
      sent = Math.min(...clients.map((c) => c.counters.inputsSent));
      if (sent >= n) {
        clearInterval(timer);
        resolve();
      }
    }, 4);
  });
  // Let the last packets arrive and be applied.
  await waitFor(() => clients.every((c) => server.sessions.get(c.welcome!.sessionId)!.player!.inputs.pendingCount() === 0), 2000, 'inputs applied');
  await new Promise((r) => setTimeout(r, 100));
}

function playerOf(server: TickwireServer, c: Connection): Player {
  return server.sessions.get(c.welcome!.sessionId)!.player!;
}

/** Sequences missing between the first and last delivered sequence (no wrap in these runs). */
function missing(delivered: number[]): number {
  return delivered[delivered.length - 1] - delivered[0] + 1 - new Set(delivered).size;
}

describe('inputs that miss their tick', () => {
  it('counts lost and repeated inputs over a lossy link, in /metrics as in the player input buffer', async () => {
    srv = await startTestServer({ net: { ...DEFAULT_NET_CONFIG, inputRedundancy: 1 }, resumeGraceMs: 0 });
    const client = await lossyClient(srv, { lossPct: 20, seed: 11, room: 'lossy', name: 'lossy' });
    // The server's NetConfig reaches the client through welcome: one input per packet.
    expect(client.conn.welcome!.inputRedundancy).toBe(1);
    expect(client.conn.inputRedundancy).toBe(1);
    const player = playerOf(srv, client.conn);
    await driveInputs(srv, [client.conn], 240);
    expect(new Set(client.counts)).toEqual(new Set([1]));
    const st: InputStats = { ...player.inputs.stats };
    const linkLost = missing(client.delivered);
    expect(linkLost).toBeGreaterThan(10); // about 20% of 240
    // Every delivered input was received and applied once; every input the link lost was skipped.
    expect(st.received).toBe(client.delivered.length);
    expect(st.applied).toBe(client.delivered.length);
    expect(st.duplicates).toBe(0);
    expect(st.late).toBe(0);
    expect(st.dropped).toBe(linkLost);
    expect(player.inputs.lastAppliedSeq).toBe(client.delivered[client.delivered.length - 1]);
    // With no redundancy, a lost input usually leaves its tick with nothing to apply.
    expect(st.repeated).toBeGreaterThan(0);

    // The player leaves (no resume window: the session ends with its socket; the conditioned link
    // drops the queued `leave` when it closes): its counters stop, and the process totals (one
    // player) equal them exactly.
    client.conn.close();
    await waitFor(() => srv!.sessions.size === 0, 3000, 'session ended');
    const final = player.inputs.stats;
    const { samples } = await scrapeMetrics(srv);
    const outcome = (o: string): number => promValue(samples, 'tickwire_inputs_total', { outcome: o });
    expect(outcome('lost')).toBeGreaterThan(0);
    expect(outcome('repeated')).toBeGreaterThan(0);
    expect({
      received: outcome('received'), applied: outcome('applied'), duplicates: outcome('duplicate'), late: outcome('late'), dropped: outcome('lost'), repeated: outcome('repeated'),
    }).toEqual({ ...final });
    expect(final.dropped).toBe(st.dropped);
  }, 20_000);

  it('GET /rooms gives each room the input counters of its players', async () => {
    srv = await startTestServer({ net: { ...DEFAULT_NET_CONFIG, inputRedundancy: 1 }, resumeGraceMs: 0 });
    const lossy = await lossyClient(srv, { lossPct: 25, seed: 5, room: 'far', name: 'far' });
    const clean = await lossyClient(srv, { lossPct: 0, seed: 6, room: 'near', name: 'near' });
    await driveInputs(srv, [lossy.conn, clean.conn], 180);
    const sum = (room: string): { applied: number; repeated: number; lost: number; late: number } => {
      const out = { applied: 0, repeated: 0, lost: 0, late: 0 };
      for (const p of srv!.rooms.get(room)!.players) {
        out.applied += p.inputs.stats.applied;
        out.repeated += p.inputs.stats.repeated;
        out.lost += p.inputs.stats.dropped;
        out.late += p.inputs.stats.late;
      }
      return out;
    };
    // every delivered input applied, or counted late when a loaded machine delivered it after its
    // tick (the last ones may still wait for their tick)
    const settled = (room: string, delivered: number): boolean => sum(room).applied + sum(room).late === delivered;
    await waitFor(() => settled('far', lossy.delivered.length) && settled('near', clean.delivered.length), 10_000, 'delivered inputs applied');
    const before = { far: sum('far'), near: sum('near') };
    const body = (await (await fetch(`${urlOf(srv)}/rooms`)).json()) as { rooms: RoomInfo[] };
    const after = { far: sum('far'), near: sum('near') };
    const listed = Object.fromEntries(body.rooms.map((r) => [r.name, r.inputs]));
    for (const room of ['far', 'near'] as const) {
      for (const k of ['applied', 'repeated', 'lost'] as const) {
        expect(listed[room][k], `${room} ${k}`).toBeGreaterThanOrEqual(before[room][k]);
        expect(listed[room][k], `${room} ${k}`).toBeLessThanOrEqual(after[room][k]);
      }
    }
    expect(listed.far.applied).toBe(lossy.delivered.length - before.far.late);
    expect(listed.near.applied).toBe(clean.delivered.length - before.near.late);
    expect(listed.far.lost).toBe(missing(lossy.delivered));
    expect(listed.far.lost).toBeGreaterThan(5);
    expect(listed.near.lost).toBe(0);

    // A player's counts leave with them (no resume window: the session ends with its socket).
    lossy.conn.close();
    await waitFor(() => srv!.rooms.get('far')!.players.length === 0, 3000, 'far player left');
    const again = (await (await fetch(`${urlOf(srv)}/rooms`)).json()) as { rooms: RoomInfo[] };
    expect(again.rooms.find((r) => r.name === 'far')!.inputs).toEqual({ applied: 0, repeated: 0, lost: 0 });
    expect(again.rooms.find((r) => r.name === 'near')!.inputs.applied).toBe(clean.delivered.length);
  }, 20_000);
});
