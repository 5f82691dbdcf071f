// Clock sync with a fake clock: the server tick estimate from snapshot arrivals and pongs is
// within one tick of the truth after two seconds and keeps tracking when the server's clock jumps;
// the input clock detects starvations, realigns labels and dilates input production.
import { describe, expect, it } from 'vitest';
import { InputClock, ServerClock } from '../netcode/clock.ts';
import { Rng } from '../shared/sim/rng.ts';
import { LoopbackWorld } from './helpers/client-loopback.ts';

const TICK_MS = 1000 / 60;

/**
 * Drives a ServerClock with a simulated server: step k runs at startMs + k * TICK_MS (+ `shiftTicks`
 * after `shiftAtMs`, a stall that makes the server fall behind), snapshots every 3 ticks, pongs
 * every 250 ms, one-way delay 75 ± 20 ms, 5% loss. Returns the largest |estimate - truth| in ticks
 * within each window.
 */
function simulate(o: { seconds: number; shiftAtMs?: number; shiftTicks?: number; windows: [number, number][] }): number[] {
  const rng = new Rng(17);
  const clock = new ServerClock(60);
  const events: { at: number; kind: 'snap' | 'pong'; tick: number; rtt: number }[] = [];
  const startMs = 5.5;
  const shiftAt = o.shiftAtMs ?? Infinity;
  const shift = o.shiftTicks ?? 0;
  // Server tick k starts at wall time w(k); after the stall every step runs `shift` ticks later.
  const wallOf = (k: number): number => {
    const w = startMs + k * TICK_MS;
    return w >= shiftAt ? w + shift * TICK_MS : w;
  };
  const truth = (t: number): number => {
    const base = (t - startMs) / TICK_MS;
    return t >= shiftAt + shift * TICK_MS ? base - shift : Math.min(base, (shiftAt - startMs) / TICK_MS);
  };
  const delay = (): number => 75 + (rng.next() * 2 - 1) * 20;
  const lost = (): boolean => rng.next() < 0.05;
  const total = (o.seconds * 1000) / TICK_MS;
  for (let k = 0; k < total; k++) {
    if ((k + 1) % 3 === 0 && !lost()) events.push({ at: wallOf(k) + delay(), kind: 'snap', tick: k + 1, rtt: 0 });
  }
  for (let sent = 0; sent < o.seconds * 1000; sent += 250) {
    if (lost()) continue;
    const arriveServer = sent + delay();
    // Answered by the first step at or after its arrival.
    let k = Math.max(0, Math.floor((arriveServer - startMs) / TICK_MS) - shift - 1);
    while (wallOf(k) < arriveServer) k++;
    const back = wallOf(k) + delay();
    events.push({ at: back, kind: 'pong', tick: k, rtt: back - sent });
  }
  events.sort((a, b) => a.at - b.at);
  const worst = o.windows.map(() => 0);
  let e = 0;
  let newest = -1;
  for (let t = 0; t < o.seconds * 1000; t += 1) {
    while (e < events.length && events[e].at <= t) {
      const ev = events[e++];
      if (ev.kind === 'pong') clock.onPong(ev.rtt, ev.tick, ev.at);
      else if (ev.tick > newest) {
        newest = ev.tick;
        clock.onSnapshot(ev.tick, ev.at);
      }
    }
    o.windows.forEach(([from, to], i) => {
      if (t >= from && t < to) worst[i] = Math.max(worst[i], Math.abs(clock.serverTick(t) - truth(t)));
    });
  }
  return worst;
}

describe('ServerClock', () => {
  it('is within one tick of the server after two seconds under 150 ms RTT, 20 ms jitter, 5% loss', () => {
    const [afterTwoSeconds] = simulate({ seconds: 10, windows: [[2000, 10000]] });
    expect(afterTwoSeconds).toBeLessThan(1);
  });

  it('keeps estimating: follows the server when its clock falls behind by 30 ticks', () => {
    const [before, after] = simulate({ seconds: 12, shiftAtMs: 5000, shiftTicks: 30, windows: [[2000, 5000], [8000, 12000]] });
    expect(before).toBeLessThan(1);
    expect(after).toBeLessThan(1);
  });

  it('measures RTT, its jitter and the snapshot arrival jitter', () => {
    const c = new ServerClock(60);
    const rng = new Rng(3);
    for (let i = 0; i < 200; i++) c.onPong(150 + (rng.next() * 2 - 1) * 20, 0, i * 250);
    expect(c.rttMs).toBeGreaterThan(140);
    expect(c.rttMs).toBeLessThan(160);
    expect(c.rttJitterMs).toBeGreaterThan(4);
    expect(c.pathRttMs()).toBeCloseTo(c.rttMs - TICK_MS / 2, 6);
    for (let k = 1; k < 600; k++) c.onSnapshot(k * 3, k * 50 + 75 + (rng.next() * 2 - 1) * 20);
    expect(c.jitterMs).toBeGreaterThan(5);
    expect(c.jitterMs).toBeLessThan(15);
  });
});

describe('ServerClock after a move (restartTimeline)', () => {
  it('learns the new timeline at once but keeps the jitter it measured: the first arrivals there do not replace it', () => {
    const rng = new Rng(5);
    const c = new ServerClock(60);
    for (let k = 1; k < 200; k++) c.onSnapshot(k * 3, k * 50 + 20 + (rng.next() * 2 - 1) * 3);
    const learned = c.jitterMs;
    expect(learned).toBeLessThan(3);
    // the room moved: its ticks continue 30 ticks later than here; the first arrivals of the new
    // owner come in a burst (a full snapshot, a resume), then regularly as before
    c.restartTimeline();
    const fresh = new ServerClock(60);
    const arrivals: [number, number][] = [[600, 10_500], [603, 10_512], [606, 10_515], [609, 10_590]];
    for (let k = 4; k < 14; k++) arrivals.push([597 + 3 * k, 10_500 + 50 * (k - 1) + (rng.next() * 2 - 1) * 3]);
    for (const [tick, at] of arrivals) {
      c.onSnapshot(tick, at);
      fresh.onSnapshot(tick, at);
    }
    // a clock that had measured nothing takes the burst as the link's jitter; the moved one keeps what it measured
    expect(fresh.jitterMs).toBeGreaterThan(5 * learned);
    expect(c.jitterMs).toBe(learned);
    // and its estimate of the new owner's tick is as good as the fresh clock's
    expect(Math.abs(c.serverTick(11_300) - fresh.serverTick(11_300))).toBeLessThan(1);
  });
});

describe('InputClock', () => {
  it('bounds the whole target wait, a packet\'s hold included, by maxSafetyTicks', () => {
    const ic = new InputClock(60);
    ic.holdTicks = 1; // 30 input packets a second
    ic.start(0, 100, 0, 500); // a jitter that asks for far more than the bound
    expect(ic.targetWaitMs).toBeCloseTo(6 * ic.tickMs, 6);
    // with little jitter the hold adds to the wait the jitter asks for
    const calm = new InputClock(60);
    calm.holdTicks = 1;
    calm.start(0, 100, 0, 0);
    expect(calm.targetWaitMs).toBeCloseTo(1.5 * calm.tickMs, 6);
  });

  it('produces one input per tick at zero dilation and drops the backlog after a stall', () => {
    const ic = new InputClock(60);
    const prefill = ic.start(0, 100, 0, 0);
    expect(prefill).toBe(2); // half a tick of safety plus the one-tick start margin, rounded up
    const labels = [ic.takeTarget(), ic.takeTarget()];
    let produced = 0;
    for (let t = 1; t <= 1000; t++) {
      const due = ic.advance(t);
      for (let i = 0; i < due; i++) labels.push(ic.takeTarget());
      produced += due;
    }
    expect(produced).toBeGreaterThanOrEqual(59);
    expect(produced).toBeLessThanOrEqual(61);
    expect(labels.every((l, i) => i === 0 || l === labels[i - 1] + 1)).toBe(true);
    expect(ic.advance(3000)).toBe(1); // two seconds without frames: one input, not 120
    expect(ic.stalls).toBe(1);
  });

  it('speeds up when inputs wait too little, slows down when they wait too long, within bounds', () => {
    const ic = new InputClock(60);
    ic.start(0, 100, 40, 0);
    let seq = 0;
    let tick = 300;
    // Acks say each input waited (arrival - send - path RTT) ms at the server.
    const feed = (waitMs: number): void => {
      for (let i = 0; i < 30; i++) {
        const target = ic.takeTarget();
        ic.recordSend(seq, target, 1000);
        tick = target + 1;
        ic.onAck(tick, seq, 1000 + 80 + waitMs, 80, 2);
        seq++;
      }
    };
    feed(0);
    expect(ic.dilation).toBeGreaterThan(0);
    expect(ic.dilation).toBeLessThanOrEqual(0.05);
    feed(120);
    expect(ic.dilation).toBeLessThan(0);
    expect(ic.dilation).toBeGreaterThanOrEqual(-0.15);
    expect(ic.starvations).toBe(0);
    void tick;
  });

  it('counts starvations and skips from acks, raises the target wait, and realigns labels', () => {
    const ic = new InputClock(60);
    ic.start(0, 100, 0, 0);
    for (let s = 0; s < 20; s++) ic.recordSend(s, 200 + s, 0);
    ic.onAck(203, 2, 100, 50, 0); // first ack: reference
    const targetBefore = ic.targetWaitMs;
    ic.onAck(206, 4, 150, 50, 0); // 3 ticks, ack +2: one starved step
    expect(ic.starvations).toBe(1);
    expect(ic.targetWaitMs).toBeGreaterThan(targetBefore);
    ic.onAck(209, 9, 200, 50, 0); // 3 ticks, ack +5: two inputs skipped
    expect(ic.skipped).toBe(2);
    // Fresh ack: input 12 was applied by step 211 (snapshot 212) but labeled 212: labels shift by -1.
    const next = ic.nextTarget;
    ic.onAck(212, 12, 250, 50, 0);
    expect(ic.relabels).toBe(1);
    expect(ic.nextTarget).toBe(next - 1);
    expect(ic.targetOf(13)).toBe(212);
  });
});

describe('InputClock after a move (a restart with the resend queued)', () => {
  it('counts the queued inputs toward the prefill and labels the new inputs after them', () => {
    const plain = new InputClock(60);
    const prefill = plain.start(0, 100, 0, 0);
    const first = plain.nextTarget;
    expect(prefill).toBeGreaterThanOrEqual(2);
    const ic = new InputClock(60);
    expect(ic.start(0, 100, 0, 0, 0, 1)).toBe(prefill - 1);
    expect(ic.nextTarget).toBe(first + 1);
    // a resend deeper than the wait: nothing due now, production resumes once the server is through the excess
    const deep = new InputClock(60);
    expect(deep.start(0, 100, 0, 0, 0, prefill + 3)).toBe(0);
    expect(deep.nextTarget).toBe(first + prefill + 3);
    expect(deep.advance(2.5 * deep.tickMs)).toBe(0);
    let due = 0;
    let ms = 2.5 * deep.tickMs;
    while (due === 0 && ms < 200) due = deep.advance((ms += 1));
    // the wait it keeps is the prefill's (less than `prefill` ticks): the first new input is due 3-4 ticks in
    expect(due).toBe(1);
    expect(ms).toBeGreaterThanOrEqual(3 * deep.tickMs);
    expect(ms).toBeLessThanOrEqual(4 * deep.tickMs + 1);
  });

  it('drains the deep buffer a restart leaves on a predicted wait: the wait follows the dilation between acks, until it reaches the target', () => {
    const feedDeep = (ic: InputClock): void => {
      // a reference ack, then a fresh one: input 5 (labelled 303) applied by step 303, having waited 120 ms
      ic.onAck(301, 2, 1100, 20, 0);
      ic.recordSend(5, 303, 1000);
      ic.onAck(304, 5, 1000 + 20 + 120, 20, 0);
    };
    const moved = new InputClock(60);
    moved.start(1000, 300, 10, 0, 0, 0, true);
    feedDeep(moved);
    const plain = new InputClock(60);
    plain.start(1000, 300, 10, 0, 0, 0, false);
    feedDeep(plain);
    expect(moved.waitMs).toBeCloseTo(120, 6);
    expect(moved.dilation).toBeLessThan(0);
    expect(plain.dilation).toBe(moved.dilation);
    const d = moved.dilation;
    moved.advance(1300);
    plain.advance(1300);
    // 300 ms at dilation d since the start: inputs produced that much slower wait that much shorter
    expect(moved.waitMs).toBeCloseTo(120 + d * 300, 6);
    expect(plain.waitMs).toBe(120);
  });

  it('takes no wait sample and no label shift from acks of inputs sent before the restart', () => {
    const ic = new InputClock(60);
    ic.start(0, 100, 0, 0);
    for (let s = 0; s < 10; s++) ic.recordSend(s, 101 + s, 0);
    // the room moved: the clock restarts 2 s later on the new owner's timeline, inputs 0..9 resent
    ic.stop();
    ic.start(2000, 300, 0, 0, 0, 4);
    expect(ic.targetOf(9)).toBeNaN();
    ic.onAck(303, 6, 2050, 20, 0);
    ic.onAck(306, 9, 2100, 20, 0);
    expect(Number.isNaN(ic.waitMs)).toBe(true);
    expect(ic.relabels).toBe(0);
    expect(ic.dilation).toBe(0);
  });
});

describe('clock sync end to end (loopback server, fake clock)', () => {
  it('tracks the server tick within one tick from two seconds on, under 150 ms RTT, 20 ms jitter, 5% loss', () => {
    const w = new LoopbackWorld({ npcs: 5 });
    const c = w.addClient({ link: { enabled: true, delayMs: 75, jitterMs: 20, lossPct: 5 }, seed: 21, framePhaseMs: 7 });
    let worst = 0;
    let samples = 0;
    w.run(8000, (cl, now) => {
      if (now < 2000 + 200) return; // connect + two seconds
      worst = Math.max(worst, Math.abs(cl.netcode.serverClock.serverTick(now) - w.serverTickAt(now)));
      samples++;
    });
    expect(samples).toBeGreaterThan(300);
    expect(worst).toBeLessThan(1);
    expect(c.netcode.stats.rttMs).toBeGreaterThan(140);
  });
});
