// Bot parts: behaviour scripts, the thin bot's snapshot acks (against the decoding receiver on a
// recorded server stream), and the bots CLI's argument parsing.
import { describe, expect, it } from 'vitest';
import { arena, DIR_X, DIR_Y } from '../games/arena.ts';
import { ThinConnection, ThinSnapshotTracker, FrameWorld } from '../tools/bots/bot.ts';
import { nodeClientIO } from '../tools/node-client/io.ts';
import { Connection } from '../netcode/connection.ts';
import { SnapshotReceiver } from '../netcode/receiver.ts';
import { DEFAULT_NET_CONFIG } from '../shared/config.ts';
import { MsgType } from '../shared/protocol/ids.ts';
import { startTestServer, urlOf, waitFor } from './helpers/server.ts';
import { parseBotsArgs } from '../tools/bots/cli.ts';
import { arenaDirToward, arenaWalk, chaseNearest, getScript, idle, registerScript, scriptNames, WALK_CHANGE_MAX_MS, WALK_CHANGE_MIN_MS } from '../tools/bots/scripts.ts';
import type { ClientIO, WebSocketLike } from '../netcode/connection.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { readSnapshotAck, SnapshotFrame, SnapshotKind, writeSnapshotHeader, SNAPSHOT_HEADER_BYTES } from '../shared/protocol/snapshot.ts';
import { Rng } from '../shared/sim/rng.ts';

const ctx = (botIndex: number, seed: number) => ({ botIndex, rng: new Rng(seed), inputRateHz: 60, gameName: arena.name });

describe('behaviour scripts', () => {
  it('arena-v1 walk: a new input from 0..8 every 250..750 ms, repeatable per seed', () => {
    const run = (seed: number): { changes: number[]; dirs: number[] } => {
      const brain = arenaWalk.create(ctx(0, seed));
      const changes: number[] = [];
      const dirs: number[] = [];
      let last = -1;
      let lastChangeMs = 0;
      // 10 minutes of input steps at 60 Hz; count a change whenever the schedule fires
      for (let step = 0; step < 36_000; step++) {
        const t = (step * 1000) / 60;
        const d = brain.next(t, undefined).dir;
        dirs.push(d);
        if (step === 0 || d !== last) {
          if (step > 0) changes.push(t - lastChangeMs);
          lastChangeMs = t;
        }
        last = d;
      }
      return { changes, dirs };
    };
    const a = run(7);
    expect(run(7).dirs).toEqual(a.dirs);
    expect(run(8).dirs).not.toEqual(a.dirs);
    const counts = new Array(9).fill(0);
    for (const d of a.dirs) counts[d]++;
    for (const c of counts) expect(c / a.dirs.length).toBeGreaterThan(0.07); // uniform over 9 choices: about 0.111 each
    // a visible change can skip a same-value redraw, so intervals are at least the minimum and
    // mostly within the maximum (plus one input step of quantization)
    const step = 1000 / 60;
    expect(Math.min(...a.changes)).toBeGreaterThanOrEqual(WALK_CHANGE_MIN_MS - step);
    const within = a.changes.filter((c) => c <= WALK_CHANGE_MAX_MS + step).length / a.changes.length;
    expect(within).toBeGreaterThan(0.8);
    // the mean of a uniform 250..750 ms interval is 500 ms; same-value redraws (1/9) lengthen visible ones slightly
    const meanMs = a.changes.reduce((s, c) => s + c, 0) / a.changes.length;
    expect(meanMs).toBeGreaterThan(500);
    expect(meanMs).toBeLessThan(620);
  });

  it('idle sends zeros; names are registered and a custom script takes a few lines', () => {
    expect(idle.create(ctx(0, 1)).next(0, undefined)).toEqual({});
    expect(scriptNames()).toEqual(expect.arrayContaining(['arena-v1', 'idle', 'chase-nearest']));
    registerScript({ name: 'always-east', description: 'walks east', needsWorld: false, create: () => ({ next: () => ({ dir: 1 }) }) });
    expect(getScript('always-east').create(ctx(0, 1)).next(0, undefined)).toEqual({ dir: 1 });
    expect(() => getScript('nope')).toThrow(/known: .*arena-v1/);
  });

  it('maps a vector to the nearest of the 8 arena directions', () => {
    for (let d = 1; d <= 8; d++) expect(arenaDirToward(DIR_X[d] * 10, DIR_Y[d] * 10)).toBe(d);
    expect(arenaDirToward(0, 0)).toBe(0);
    expect(arenaDirToward(10, 1)).toBe(1);
  });

  it('chase-nearest walks toward the nearest other player, ignoring NPCs', () => {
    const schema = compileSchema(arena);
    const world = new FrameWorld(schema);
    const f = new SnapshotFrame(schema);
    const put = (i: number, id: number, kind: number, x: number, y: number): void => {
      f.ids[i] = id;
      f.masks[i] = (1 << schema.components.length) - 1;
      for (let k = 0; k < schema.fields.length; k++) {
        const fd = schema.fields[k];
        const name = `${fd.component}.${fd.field}`;
        const v = name === 'Kind.value' ? kind : name === 'Position.x' ? x : name === 'Position.y' ? y : 0;
        f.values[i * f.fieldCount + k] = fd.q.quantize(v);
      }
    };
    put(0, 1, 0, 1000, 1000); // me
    put(1, 2, 1, 1010, 1000); // an NPC right next to me
    put(2, 3, 0, 1000, 600); // a player to the north (y grows downwards)
    put(3, 4, 0, 1900, 1900); // a farther player
    f.count = 4;
    f.tick = 30;
    world.frame = f;
    world.selfEid = 1;
    expect(world.field(2, 'Position.y')).toBe(600);
    const brain = chaseNearest.create(ctx(0, 1));
    expect(brain.next(0, world).dir).toBe(3); // N
    expect(brain.next(10, undefined).dir).toBe(0); // no world yet: idle
  });
});

/** A fake open WebSocket that records what is sent. */
function fakeSocket(): WebSocketLike & { sent: Uint8Array[] } {
  return { binaryType: 'arraybuffer', readyState: 1, sent: [], send(d: Uint8Array) { this.sent.push(d.slice()); }, close() {}, onopen: null, onmessage: null, onclose: null, onerror: null };
}

describe('thin bots acknowledge snapshots from their header', () => {
  it('counts, acks and drops exactly by the header rules (parts, duplicates, missing baselines)', () => {
    const ws = fakeSocket();
    const io: ClientIO = { openWebSocket: () => ws, nowMs: () => 0 };
    const conn = new ThinConnection(arena, io, { url: 'http://127.0.0.1:1', name: 'thin', transport: 'ws' });
    conn.connect();
    // tickRateHz 60, snapshotRateHz 20: one snapshot every 3 ticks
    conn.welcome = { tickRateHz: 60, snapshotRateHz: 20 } as unknown as NonNullable<ThinConnection['welcome']>;
    const seen: number[] = [];
    conn.onThinSnapshot = (h) => seen.push(h.tick);
    const packet = (tick: number, part = 0, parts = 1, baseline = -1): Uint8Array => {
      const b = new Uint8Array(SNAPSHOT_HEADER_BYTES + 20); // the body is never read
      writeSnapshotHeader(b, baseline >= 0 ? SnapshotKind.Delta : SnapshotKind.Full, tick, 7, true, part, parts, baseline);
      return b;
    };
    const ackOf = (b: Uint8Array): { tick: number; bits: number } => readSnapshotAck(b, { tick: 0, bits: 0 });
    // 30 full; 33 in two parts; 36 lost; 42 (delta on 33) before 39 (reordered); 33 again; 45 delta on 36 (never held)
    for (const p of [packet(30), packet(33, 0, 2), packet(33, 1, 2), packet(42, 0, 1, 33), packet(39, 0, 1, 30), packet(33, 1, 2), packet(45, 0, 1, 36)]) conn.onBytes(p);
    expect(seen).toEqual([30, 33, 33, 42, 39]);
    expect(conn.counters.snapshots).toBe(4);
    expect(conn.missingBaseline).toBe(1);
    expect(conn.counters.bytesDown).toBe(7 * (SNAPSHOT_HEADER_BYTES + 20));
    const acks = ws.sent.map(ackOf);
    expect(acks).toHaveLength(7); // one ack per packet
    expect(acks[0]).toEqual({ tick: 30, bits: 0 });
    expect(acks[1]).toEqual({ tick: 30, bits: 0 }); // 33 incomplete
    expect(acks[2]).toEqual({ tick: 33, bits: 0b1 });
    expect(acks[3]).toEqual({ tick: 42, bits: 0b1100 }); // 39 no, 36 no, 33 yes, 30 yes
    expect(acks[4]).toEqual({ tick: 42, bits: 0b1101 }); // 39 arrived late
    expect(acks[6]).toEqual(acks[4]);
    // a short packet is a decode error, not a throw, and sends no ack
    conn.onBytes(new Uint8Array([3, 0, 1]));
    expect(conn.counters.decodeErrors).toBe(1);
    expect(ws.sent).toHaveLength(7);
  });

  it('counts snapshots as hearing from the server: a thin bot with nothing else to receive does not take the link for silent', async () => {
    const srv = await startTestServer({ gameParams: { npcs: 20 } });
    const conn = new ThinConnection(arena, nodeClientIO({ webrtc: false }), { url: urlOf(srv), name: 'quiet', transport: 'ws', silenceTimeoutMs: 1000 });
    try {
      conn.connect();
      await waitFor(() => conn.state === 'active', 5000, 'thin bot joined');
      // no pings, no chat: only snapshots arrive for three silence timeouts
      await new Promise((r) => setTimeout(r, 3500));
      expect(conn.counters.snapshots).toBeGreaterThan(40);
      expect(conn.counters.resumes).toBe(0);
      expect(conn.state).toBe('active');
      expect(srv.stats.resumes).toBe(0);
    } finally {
      conn.close();
      await srv.stop();
    }
  }, 15_000);

  it('sends the same ack as the decoding receiver for a real server stream under loss, duplication and reordering', async () => {
    // small packets so snapshots split into parts; deltas against the acked baselines
    const srv = await startTestServer({ gameParams: { npcs: 60 }, net: { ...DEFAULT_NET_CONFIG, maxPacketBytes: 256 } });
    const recorded: Uint8Array[] = [];
    const base = nodeClientIO({ webrtc: false });
    const io: ClientIO = {
      nowMs: base.nowMs,
      openWebSocket(url) {
        const ws = base.openWebSocket(url);
        return new Proxy(ws, {
          set(target, prop, value) {
            if (prop === 'onmessage' && typeof value === 'function') {
              const inner = value as (ev: { data: unknown }) => void;
              (target as WebSocketLike).onmessage = (ev) => {
                const b = new Uint8Array(ev.data as ArrayBuffer);
                if (b[0] === MsgType.Snapshot) recorded.push(b.slice());
                inner(ev);
              };
              return true;
            }
            return Reflect.set(target, prop, value);
          },
        });
      },
    };
    const conn = new Connection(arena, io, { url: urlOf(srv), name: 'rec', transport: 'ws' });
    try {
      conn.connect();
      await waitFor(() => recorded.length >= 150, 15_000, 'recorded snapshot packets');
    } finally {
      conn.close();
      await srv.stop();
    }
    const schema = compileSchema(arena);
    const parts = new Set<number>();
    for (const b of recorded) parts.add(b[9]);
    expect(Math.max(...parts), 'snapshots split into parts').toBeGreaterThan(1);
    expect(recorded.some((b) => (b[1] & 3) === SnapshotKind.Delta), 'delta snapshots').toBe(true);
    let missingBaselines = 0;
    for (const seed of [1, 2, 3]) {
      const rng = new Rng(seed);
      // perturb: drop 15%, duplicate 10%, swap neighbours 15%
      const stream: Uint8Array[] = [];
      for (const b of recorded) {
        if (rng.next() < 0.15) continue;
        stream.push(b);
        if (rng.next() < 0.1) stream.push(b);
      }
      for (let i = 1; i < stream.length; i++) if (rng.next() < 0.15) [stream[i - 1], stream[i]] = [stream[i], stream[i - 1]];
      const receiver = new SnapshotReceiver(schema, 3);
      const thin = new ThinSnapshotTracker(3);
      let compared = 0;
      for (const b of stream) {
        let rErr = false;
        let tErr = false;
        try {
          receiver.receive(b);
        } catch {
          rErr = true;
        }
        try {
          thin.receive(b);
        } catch {
          tErr = true;
        }
        expect(tErr, `seed ${seed}`).toBe(rErr);
        expect(Array.from(thin.ack()), `seed ${seed} packet ${compared}`).toEqual(Array.from(receiver.ack()));
        compared++;
      }
      expect(thin.newestTick).toBe(receiver.newestTick);
      expect(compared).toBeGreaterThan(100);
      missingBaselines += receiver.counters.missingBaseline;
    }
    expect(missingBaselines, 'the perturbation made some deltas undecodable').toBeGreaterThan(0);
  }, 30_000);
});

describe('bots CLI arguments', () => {
  it('parses every option with defaults', () => {
    const o = parseBotsArgs(['--url', 'http://127.0.0.1:9000/', '--count', '30', '--seconds', '5', '--transport', 'webrtc', '--ramp', '10', '--script', 'idle', '--seed', '9', '--latency-ms', '40', '--jitter-ms', '10', '--loss-pct', '2.5', '--json']);
    expect(o).toMatchObject({ url: 'http://127.0.0.1:9000', count: 30, seconds: 5, transport: 'webrtc', rampPerSec: 10, script: 'idle', seed: 9, json: true, fullBots: 2, conditions: { latencyMs: 40, jitterMs: 10, lossPct: 2.5 } });
    const d = parseBotsArgs(['--url', 'http://h:1']);
    expect(d).toMatchObject({ count: 10, seconds: 10, transport: 'ws', rampPerSec: 50, script: 'arena-v1', seed: 1, json: false, fullBots: 1 });
    expect(d.conditions).toBeUndefined();
    expect(d.nice).toBeUndefined();
    expect(parseBotsArgs(['--url', 'http://h:1', '--nice', '10']).nice).toBe(10);
    // --matchmake: the bots get seats there, and --url defaults to it
    expect(parseBotsArgs(['--matchmake', 'http://m:8080/'])).toMatchObject({ url: 'http://m:8080', matchmake: 'http://m:8080' });
    expect(parseBotsArgs(['--url', 'http://a:1', '--matchmake', 'http://m:2'])).toMatchObject({ url: 'http://a:1', matchmake: 'http://m:2' });
  });
  it('rejects bad input with a message', () => {
    expect(() => parseBotsArgs([])).toThrow(/--url \(or --matchmake\) is required/);
    expect(() => parseBotsArgs(['--url', 'http://h:1', '--transport', 'udp'])).toThrow(/webrtc or ws/);
    expect(() => parseBotsArgs(['--url', 'http://h:1', '--count', '0'])).toThrow(/--count/);
    expect(() => parseBotsArgs(['--url', 'http://h:1', '--loss-pct', '120'])).toThrow(/--loss-pct/);
    expect(() => parseBotsArgs(['--url', 'http://h:1', '--bogus'])).toThrow();
    expect(() => parseBotsArgs(['--url', 'http://h:1', '--nice', '20'])).toThrow(/--nice/);
  });
});
