// Lag compensation end to end: the real server on the loopback transport (fake clock) with a
// ClientNetcode shooter behind 150 ms RTT, 20 ms jitter and 5% loss, aiming exactly at where it draws
// fast targets. With rewind the server hits what the shooter saw; without, it misses.
import { describe, expect, it } from 'vitest';
import { createGallery, SHOT_RANGE, TARGET_RADIUS, type GalleryShot } from '../games/gallery.ts';
import { segmentCircle } from '../shared/sim/lagcomp.ts';
import { LoopbackWorld, type LoopbackClient } from './helpers/client-loopback.ts';

interface Aim {
  target: number;
  drawnX: number;
  drawnY: number;
  screenHit: number;
}

/** Where entity `eid` is drawn in the client's remote view, or undefined. */
function drawn(c: LoopbackClient, eid: number): { x: number; y: number } | undefined {
  const v = c.netcode.remote;
  const row = v.indexOf(eid);
  if (row < 0) return undefined;
  return { x: v.values[row * v.fieldCount], y: v.values[row * v.fieldCount + 1] };
}

describe('lag compensation over the loopback transport', () => {
  it('a shooter on a 150 ms link hits what it drew with rewind, and misses without', () => {
    const shots: GalleryShot[] = [];
    const errors: number[] = [];
    const aims = new Map<number, Aim>();
    const game = createGallery({
      onShot(s) {
        shots.push(s);
        const aim = aims.get(s.seq);
        const p = { x: 0, y: 0 };
        if (aim && s.lagComp?.positionAt(s.shooter, aim.target, p)) errors.push(Math.hypot(p.x - aim.drawnX, p.y - aim.drawnY));
      },
    });
    const w = new LoopbackWorld({ game, seed: 3 });
    const c = w.addClient({ seed: 11, link: { enabled: true, delayMs: 75, jitterMs: 20, lossPct: 5 } });
    c.input = { fire: 0, ax: 0, ay: 0 };
    const conn = c.netcode.connection;
    const send = conn.sendInput.bind(conn);
    let pending: Aim | undefined;
    conn.sendInput = (input, target, flush) => {
      const seq = send(input, target, flush);
      if (input.fire === 1 && pending) aims.set(seq, pending);
      return seq;
    };
    let frame = 0;
    w.run(20_000, (cl, now) => {
      frame++;
      cl.input = { fire: 0, ax: 0, ay: 0 };
      pending = undefined;
      if (now < 2000 || frame % 12 !== 0) return;
      const self = { x: 0, y: 0 };
      if (!cl.netcode.localPosition(self)) return;
      const v = cl.netcode.remote;
      const targets = [] as number[];
      for (let i = 0; i < v.count; i++) if (v.ids[i] !== cl.netcode.eid) targets.push(v.ids[i]);
      if (targets.length === 0) return;
      const target = targets[frame % targets.length];
      const p = drawn(cl, target);
      if (!p) return;
      // The shot as the shooter's screen shows it: the first drawn target on the segment.
      const ax = Math.round(p.x * 8) / 8;
      const ay = Math.round(p.y * 8) / 8;
      const len = Math.hypot(ax - self.x, ay - self.y);
      const dx = ((ax - self.x) / len) * SHOT_RANGE;
      const dy = ((ay - self.y) / len) * SHOT_RANGE;
      let screenHit = -1;
      let best = 2;
      for (const e of targets) {
        const q = drawn(cl, e);
        const t = q ? segmentCircle(self.x, self.y, dx, dy, q.x, q.y, TARGET_RADIUS) : -1;
        if (t >= 0 && t < best) {
          best = t;
          screenHit = e;
        }
      }
      pending = { target, drawnX: p.x, drawnY: p.y, screenHit };
      cl.input = { fire: 1, ax, ay };
    });
    const judged = shots.filter((s) => aims.has(s.seq) && aims.get(s.seq)!.screenHit >= 0);
    const withRewind = judged.filter((s) => s.hitRewind === aims.get(s.seq)!.screenHit).length / judged.length;
    const without = judged.filter((s) => s.hitLive === aims.get(s.seq)!.screenHit).length / judged.length;
    errors.sort((a, b) => a - b);
    const p99 = errors[Math.floor(errors.length * 0.99)] ?? Infinity;
    console.log(`lagcomp loopback: ${judged.length} screen hits, rewind ${(withRewind * 100).toFixed(1)}%, no rewind ${(without * 100).toFixed(1)}%, rewind error p99 ${p99.toFixed(3)} units, claims ${JSON.stringify(w.server.stats.lagComp.claims)}`);
    expect(judged.length).toBeGreaterThan(60);
    expect(withRewind).toBeGreaterThanOrEqual(0.97);
    expect(without).toBeLessThan(0.5);
    expect(p99).toBeLessThan(0.5);
    expect(w.server.stats.lagComp.claims.accepted).toBeGreaterThan(judged.length * 0.9);
  }, 60_000);
});
