// The client netcode against the real server: headless Node clients (the shared ClientNetcode over
// WebRTC datachannels) behind the seeded link conditioner at 150 ms RTT, 20 ms jitter and 5% loss.
// Measures the rendered positions of remote entities against the server's own state at the same
// tick (recorded every tick), and the share of inputs that reached the server before their tick.
import { performance } from 'node:perf_hooks';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeClientIO } from '../tools/node-client/io.ts';
import { ClientNetcode } from '../netcode/netcode.ts';
import { defaultLinkSettings } from '../shared/net/link-conditioner.ts';
import { conditionClientIO } from '../netcode/conditioned-io.ts';
import { Rng } from '../shared/sim/rng.ts';
import type { TickwireServer } from '../server/server.ts';
import { startTestServer, urlOf, waitFor } from './helpers/server.ts';

const BOTS = 3;
const NPCS = 40;
const WARMUP_MS = 3000;
/** Measured time outside process stalls to collect, ms; the run extends (up to MAX_MEASURE_MS) to get it on a busy machine. */
const MEASURE_MS = 10_000;
const MAX_MEASURE_MS = 24_000;
const ROOM = 'netcode-it';
/** A heartbeat gap longer than this is a stall of the process, ms. */
const STALL_MS = 20;

let srv: TickwireServer | undefined;
const bots: ClientNetcode[] = [];
afterAll(async () => {
  for (const b of bots) b.close();
  await srv?.stop();
});

/** Render samples of one client, preallocated (tick, time, eid, x, y per sample) to keep GC out of the measurement. */
class Samples {
  static readonly W = 5;
  readonly data = new Float64Array(Samples.W * 100_000);
  count = 0;
  push(tick: number, atMs: number, eid: number, x: number, y: number): void {
    if ((this.count + 1) * Samples.W > this.data.length) return;
    const o = this.count++ * Samples.W;
    this.data[o] = tick;
    this.data[o + 1] = atMs;
    this.data[o + 2] = eid;
    this.data[o + 3] = x;
    this.data[o + 4] = y;
  }
}

/** Percentile of a sorted array. */
const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

describe('client netcode against the real server under 150 ms RTT, 20 ms jitter, 5% loss', () => {
  it('draws remote entities where the server had them (p99 < 4 units) and gets >= 99% of inputs in before their tick', async () => {
    srv = await startTestServer({ webrtc: true, gameParams: { npcs: NPCS } });
    const link = { ...defaultLinkSettings(), enabled: true, delayMs: 75, jitterMs: 20, lossPct: 5 };
    const timers = { nowMs: () => performance.now(), setTimer: (fn: () => void, ms: number) => setTimeout(fn, ms) };
    const sent: Map<number, number>[] = [];
    const sentAtMs: Map<number, number>[] = [];
    for (let i = 0; i < BOTS; i++) {
      const io = conditionClientIO(nodeClientIO({ webrtc: true }), { settings: link, seed: 1000 + i, timers }).io;
      // An input packet a tick, as this test was written for: at the default 30 packets a second the
      // on-time share under this link measured 0.984-0.998 in two loaded runs (a lost packet costs
      // two ticks); the rates' own bounds are test/input-batching.test.ts's and test/client-prediction.test.ts's.
      const bot = new ClientNetcode(srv.game, io, { url: urlOf(srv), name: `bot${i}`, room: ROOM, transport: 'auto', webrtcTimeoutMs: 8000, inputPacketRateHz: 60 });
      // Record the target tick each input carried when it left.
      const targets = new Map<number, number>();
      const sendMs = new Map<number, number>();
      const send = bot.connection.sendInput.bind(bot.connection);
      bot.connection.sendInput = (input, targetTick, flush) => {
        const seq = send(input, targetTick, flush);
        targets.set(seq, targetTick);
        sendMs.set(seq, performance.now());
        return seq;
      };
      sent.push(targets);
      sentAtMs.push(sendMs);
      bots.push(bot);
      bot.connect();
    }
    await waitFor(() => bots.every((b) => b.stats.state === 'active' || b.connection.state === 'active'), 8000, 'welcomes');
    await waitFor(() => bots.every((b) => b.connection.transport === 'webrtc'), 15_000, 'WebRTC channels');
    const room = srv.rooms.get(ROOM)!;
    const sessions = bots.map((b) => srv!.sessions.get(b.connection.welcome!.sessionId)!);

    // The server's state after every tick, and the tick each input first arrived at.
    const history = new Map<number, Float32Array>();
    const pos = room.ctx.c.Position as { x: Float32Array; y: Float32Array };
    const maxEid = 256;
    const tickOnce = srv.tickOnce.bind(srv);
    const ranAtMs = new Map<number, number>();
    srv.tickOnce = () => {
      ranAtMs.set(room.ctx.tick, performance.now());
      tickOnce();
      const snap = new Float32Array(2 * maxEid);
      snap.set(pos.x.subarray(0, maxEid));
      snap.set(pos.y.subarray(0, maxEid), maxEid);
      history.set(room.ctx.tick, snap);
    };
    const arrived: Map<number, number>[] = sessions.map(() => new Map());
    sessions.forEach((s, i) => {
      const inputs = s.inputs!;
      const offer = inputs.offer.bind(inputs);
      inputs.offer = (seq, values, offset) => {
        if (!arrived[i].has(seq)) arrived[i].set(seq, room.ctx.tick);
        offer(seq, values, offset);
      };
    });

    const t0 = performance.now();
    // A 5 ms heartbeat: gaps in it are stalls of this whole process (server and clients share it).
    const beats: number[] = [];
    let stalledMs = 0;
    const heartbeat = setInterval(() => {
      const now = performance.now();
      const gap = beats.length > 0 ? now - beats[beats.length - 1] : 0;
      if (gap > STALL_MS && now > t0 + WARMUP_MS) stalledMs += gap;
      beats.push(now);
    }, 5);
    // Frames at 60 Hz: arena-v1 bot inputs (a new direction every 250..750 ms) and render samples.
    const rngs = bots.map((_, i) => new Rng(77 + i));
    const turnAt = bots.map(() => 0);
    const dirs = bots.map(() => ({ dir: 0 }));
    const samples = bots.map(() => new Samples());
    const visitors = samples.map((list) => {
      const v = { tick: 0, atMs: 0, visit: (eid: number, x: number, y: number): void => list.push(v.tick, v.atMs, eid, x, y) };
      return v;
    });
    const measureFrom = t0 + WARMUP_MS;
    const firstSeq: number[] = bots.map(() => -1);
    const repeatedAtStart: number[] = bots.map(() => 0);
    const timer = setInterval(() => {
      const now = performance.now();
      bots.forEach((b, i) => {
        if (now >= turnAt[i]) {
          dirs[i].dir = rngs[i].int(9);
          turnAt[i] = now + 250 + rngs[i].next() * 500;
        }
        b.frame(now, dirs[i]);
        if (now < measureFrom) return;
        if (firstSeq[i] < 0) {
          firstSeq[i] = b.connection.nextInputSeq;
          repeatedAtStart[i] = sessions[i].inputs!.stats.repeated;
        }
        const r = b.renderTick(now);
        if (!Number.isFinite(r)) return;
        visitors[i].tick = r;
        visitors[i].atMs = now;
        b.sampleRemote(r, visitors[i].visit);
      });
    }, 1000 / 60);
    try {
      await new Promise((r) => setTimeout(r, WARMUP_MS + MEASURE_MS));
      // Each stall also spoils the few hundred ms after it: measure on until enough quiet time was seen.
      const quietMs = (): number => performance.now() - measureFrom - 3 * stalledMs;
      while (quietMs() < MEASURE_MS && performance.now() - measureFrom < MAX_MEASURE_MS) await new Promise((r) => setTimeout(r, 250));
    } finally {
      clearInterval(timer);
      clearInterval(heartbeat);
    }
    const measuredMs = performance.now() - measureFrom;
    const lastSeq = bots.map((b) => b.connection.nextInputSeq);
    // Server steps without a fresh input during the measurement (after it, the clients are silent).
    const starvedSteps = sessions.reduce((sum, x, i) => sum + x.inputs!.stats.repeated - repeatedAtStart[i], 0);
    // Let the last inputs land before counting.
    await new Promise((r) => setTimeout(r, 400));

    // Stalls of the shared process (over STALL_MS without the event loop turning: the machine is busy,
    // and the server, its WebRTC worker and the clients share it). An input whose way from the
    // client's frame to the server's step crossed one is reported apart: no netcode can keep a
    // deadline through a frozen process.
    const stalls: [number, number][] = [];
    for (let k = 1; k < beats.length; k++) if (beats[k] - beats[k - 1] > STALL_MS) stalls.push([beats[k - 1], beats[k]]);
    const crossesStall = (fromMs: number, toMs: number): boolean => stalls.some(([a, b]) => a < toMs + 5 && b > fromMs - 5);
    // Rendered position vs the server's at the same (fractional) tick. Samples drawn soon after a
    // stall (while the delayed snapshots catch up) are reported apart, as for inputs.
    const recoveryMs = 400;
    const afterStall = (atMs: number): boolean => stalls.some(([a, b]) => atMs > a && atMs < b + recoveryMs);
    const allErrors: number[] = [];
    const errors: number[] = [];
    let unmatched = 0;
    for (const list of samples) {
      const d = list.data;
      const W = Samples.W;
      for (let k = 0; k < list.count; k++) {
        const [tick, atMs, eid, x, y] = [d[W * k], d[W * k + 1], d[W * k + 2], d[W * k + 3], d[W * k + 4]];
        const lo = Math.floor(tick);
        const a = history.get(lo);
        const b = history.get(lo + 1);
        if (!a || !b || eid >= maxEid) {
          unmatched++;
          continue;
        }
        const f = tick - lo;
        const sx = a[eid] + (b[eid] - a[eid]) * f;
        const sy = a[maxEid + eid] + (b[maxEid + eid] - a[maxEid + eid]) * f;
        const e = Math.hypot(x - sx, y - sy);
        allErrors.push(e);
        if (!afterStall(atMs)) errors.push(e);
      }
    }
    errors.sort((p, q) => p - q);
    allErrors.sort((p, q) => p - q);
    const mean = errors.reduce((s, e) => s + e, 0) / errors.length;

    // Inputs sent in the measured window that reached the server at or before their target tick.
    let onTime = 0;
    let total = 0;
    let inStall = 0;
    let onTimeInStall = 0;
    bots.forEach((_, i) => {
      for (let s = firstSeq[i]; s < lastSeq[i]; s++) {
        const seq = s & 0xffff;
        const target = sent[i].get(seq);
        if (target === undefined) continue;
        const at = arrived[i].get(seq);
        const ok = at !== undefined && at <= target;
        const ran = ranAtMs.get(target);
        if (ran === undefined || crossesStall(sentAtMs[i].get(seq)!, ran)) {
          inStall++;
          if (ok) onTimeInStall++;
          continue;
        }
        total++;
        if (ok) onTime++;
      }
    });
    const report = {
      bots: BOTS, npcs: NPCS, link: '75 ms ± 20 ms each way, 5% loss (datagrams)', measuredSec: +(measuredMs / 1000).toFixed(1),
      renderError: {
        samples: errors.length, unmatched, mean: +mean.toFixed(3), p50: +pct(errors, 0.5).toFixed(3), p99: +pct(errors, 0.99).toFixed(3), max: +errors[errors.length - 1].toFixed(3),
        withStallRecovery: { samples: allErrors.length, mean: +(allErrors.reduce((sum, e) => sum + e, 0) / allErrors.length).toFixed(3), p99: +pct(allErrors, 0.99).toFixed(3) },
      },
      inputs: {
        sent: total, onTime, share: +(onTime / total).toFixed(4),
        acrossProcessStalls: inStall, onTimeThere: onTimeInStall, shareWithThem: +((onTime + onTimeInStall) / (total + inStall)).toFixed(4),
        processStalls: stalls.length, stalledMs: Math.round(stalls.reduce((sum, [a, b]) => sum + b - a, 0)), serverStarvedSteps: starvedSteps,
      },
      clients: bots.map((b) => ({ rttMs: +b.stats.rttMs.toFixed(1), jitterMs: +b.stats.jitterMs.toFixed(1), lossPct: +b.stats.lossPct.toFixed(1), interpDelayMs: +b.stats.interpDelayMs.toFixed(1), inputWaitMs: +b.stats.inputWaitMs.toFixed(1), corrections: b.corrections(), starved: b.inputClock.starvations, skipped: b.inputClock.skipped, stalls: b.inputClock.stalls, relabels: b.inputClock.relabelTicks })),
    };
    console.log(`netcode integration: ${JSON.stringify(report)}`);
    // Enough was measured outside stalls (on an idle machine that is everything).
    expect(errors.length).toBeGreaterThan(BOTS * NPCS * 60 * 3);
    expect(total).toBeGreaterThan(BOTS * 60 * 3);
    expect(pct(errors, 0.99)).toBeLessThan(4);
    expect(onTime / total).toBeGreaterThanOrEqual(0.99);
    // Stalls of the shared process are not the netcode's doing, but they must stay the exception.
    expect((onTime + onTimeInStall) / (total + inStall)).toBeGreaterThan(0.95);
    for (const b of bots) expect(b.connection.transport).toBe('webrtc');
  }, 55_000);
});
