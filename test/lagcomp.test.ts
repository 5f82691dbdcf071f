// Lag compensation parts: the hit-test geometry (property tests), the rewind history's bounds and
// sampling, the view-claim codec, and how a room checks, clamps and counts the claims it uses.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createGallery, type GalleryShot } from '../games/gallery.ts';
import { ClaimRing, LagHistory, newLagCompStats, type LagCompSettings } from '../server/lagcomp.ts';
import { Player } from '../server/player.ts';
import { Room } from '../server/rooms.ts';
import { FullSnapshotEncoder, newEncoderStats } from '../server/snapshots.ts';
import { runTick } from '../server/tick.ts';
import { DEFAULT_NET_CONFIG } from '../shared/config.ts';
import { DecodeError } from '../shared/protocol/errors.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { createViewClaims, readViewClaims, viewClaimBytes, writeViewClaims } from '../shared/protocol/view-claim.ts';
import { segmentBox, segmentCircle } from '../shared/sim/lagcomp.ts';
import { gameProblems } from '../shared/sim/validate.ts';
import { tag } from '../games/tag.ts';

const coord = fc.double({ min: -100, max: 100, noNaN: true });
const size = fc.double({ min: 0.5, max: 40, noNaN: true });

/** Distance from (px, py) to the segment (x0, y0) + t (dx, dy), t in [0, 1]. */
function segmentDistance(x0: number, y0: number, dx: number, dy: number, px: number, py: number): number {
  const a = dx * dx + dy * dy;
  const t = a === 0 ? 0 : Math.max(0, Math.min(1, ((px - x0) * dx + (py - y0) * dy) / a));
  return Math.hypot(x0 + dx * t - px, y0 + dy * t - py);
}

/** Distance from (px, py) to the box of half extents (hw, hh) at (cx, cy), 0 inside. */
function boxDistance(px: number, py: number, cx: number, cy: number, hw: number, hh: number): number {
  const ex = Math.max(0, Math.abs(px - cx) - hw);
  const ey = Math.max(0, Math.abs(py - cy) - hh);
  return Math.hypot(ex, ey);
}

describe('hit-test geometry', () => {
  it('segment vs circle: hits exactly when the segment comes within the radius, entering on the circle', () => {
    fc.assert(
      fc.property(coord, coord, coord, coord, coord, coord, size, (x0, y0, x1, y1, cx, cy, r) => {
        const dx = x1 - x0;
        const dy = y1 - y0;
        const t = segmentCircle(x0, y0, dx, dy, cx, cy, r);
        const d = segmentDistance(x0, y0, dx, dy, cx, cy);
        if (Math.abs(d - r) < 1e-6) return; // grazing: either answer is right
        expect(t >= 0).toBe(d < r);
        if (t < 0) return;
        expect(t).toBeLessThanOrEqual(1);
        const inside = Math.hypot(x0 - cx, y0 - cy) <= r;
        if (inside) expect(t).toBe(0);
        else {
          expect(Math.abs(Math.hypot(x0 + dx * t - cx, y0 + dy * t - cy) - r)).toBeLessThan(1e-6 * Math.max(1, r));
          // nothing of the segment before the entry is inside
          for (let k = 0; k < 8; k++) expect(Math.hypot(x0 + dx * t * (k / 8) - cx, y0 + dy * t * (k / 8) - cy)).toBeGreaterThanOrEqual(r - 1e-6);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('segment vs box: hits exactly when the segment meets the box, entering on its edge', () => {
    fc.assert(
      fc.property(coord, coord, coord, coord, coord, coord, size, size, (x0, y0, x1, y1, cx, cy, hw, hh) => {
        const dx = x1 - x0;
        const dy = y1 - y0;
        const t = segmentBox(x0, y0, dx, dy, cx, cy, hw, hh);
        // the nearest approach, sampled finely, decides (skip near-touching cases)
        let nearest = Infinity;
        for (let k = 0; k <= 2000; k++) nearest = Math.min(nearest, boxDistance(x0 + (dx * k) / 2000, y0 + (dy * k) / 2000, cx, cy, hw, hh));
        const step = Math.hypot(dx, dy) / 2000;
        if (nearest > 0 && nearest < step + 1e-6) return;
        if (nearest === 0) expect(t).toBeGreaterThanOrEqual(0);
        else expect(t).toBe(-1);
        if (t < 0) return;
        expect(boxDistance(x0 + dx * t, y0 + dy * t, cx, cy, hw, hh)).toBeLessThan(1e-6 * Math.max(1, hw, hh));
        if (t > 0) expect(boxDistance(x0 + dx * t * 0.999, y0 + dy * t * 0.999, cx, cy, hw, hh)).toBeGreaterThan(0);
      }),
      { numRuns: 1500 },
    );
  });

  it('a circle inside a box: whatever hits the circle hits the box first (or as early)', () => {
    fc.assert(
      fc.property(coord, coord, coord, coord, coord, coord, size, (x0, y0, x1, y1, cx, cy, r) => {
        const tc = segmentCircle(x0, y0, x1 - x0, y1 - y0, cx, cy, r);
        const tb = segmentBox(x0, y0, x1 - x0, y1 - y0, cx, cy, r, r);
        if (tc >= 0) {
          expect(tb).toBeGreaterThanOrEqual(0);
          expect(tb).toBeLessThanOrEqual(tc + 1e-9);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('a zero-length segment hits only from inside', () => {
    expect(segmentCircle(1, 1, 0, 0, 0, 0, 2)).toBe(0);
    expect(segmentCircle(5, 5, 0, 0, 0, 0, 2)).toBe(-1);
    expect(segmentBox(1, 1, 0, 0, 0, 0, 2, 2)).toBe(0);
    expect(segmentBox(5, 5, 0, 0, 0, 0, 2, 2)).toBe(-1);
  });
});

describe('the rewind history', () => {
  const xs = new Float32Array(16);
  const ys = new Float32Array(16);
  const shapeOf = (e: number): number => (e % 2 === 0 ? 0 : -1); // even ids have a hitbox

  it('keeps exactly its slots: older ticks are gone, the newest are found, and nothing grows', () => {
    const h = new LagHistory(5, 16, 3);
    const arrays = [h.x, h.y, h.shape, h.ids, h.counts, h.ticks];
    for (let k = 0; k < 40; k++) {
      for (let e = 0; e < 16; e++) xs[e] = k * 100 + e;
      h.capture(k * 3, [5, 2, 0, 4, 7], shapeOf, xs, ys);
    }
    expect(h.newest).toBe(39 * 3);
    expect(h.oldest).toBe(35 * 3);
    for (let k = 35; k < 40; k++) expect(h.slotOf(k * 3)).toBeGreaterThanOrEqual(0);
    expect(h.slotOf(34 * 3)).toBe(-1);
    expect(h.slotOf(39 * 3 + 1)).toBe(-1); // not a snapshot tick
    expect(h.slotOf(-3)).toBe(-1);
    const s = h.slotOf(37 * 3);
    // only entities with a hitbox, ids ascending, their positions at that tick
    expect(Array.from(h.ids.subarray(s * 16, s * 16 + h.counts[s]))).toEqual([0, 2, 4]);
    expect(h.x[s * 16 + 4]).toBe(3704);
    expect([h.x, h.y, h.shape, h.ids, h.counts, h.ticks]).toEqual(arrays);
    arrays.forEach((a, i) => expect(a).toBe([h.x, h.y, h.shape, h.ids, h.counts, h.ticks][i]));
  });

  it('a slot reused for a later tick forgets the entities it held before', () => {
    const h = new LagHistory(2, 16, 1);
    h.capture(0, [0, 2, 4], shapeOf, xs, ys);
    h.capture(1, [0], shapeOf, xs, ys);
    h.capture(2, [2], shapeOf, xs, ys); // reuses slot of tick 0
    const s = h.slotOf(2);
    expect(h.shape[s * 16 + 0]).toBe(0);
    expect(h.shape[s * 16 + 4]).toBe(0);
    expect(h.shape[s * 16 + 2]).toBe(1);
    expect(h.counts[s]).toBe(1);
  });
});

describe('view-claim messages', () => {
  it('round-trip and reject a fraction past the snapshot interpolated towards, a bad count and a bad length', () => {
    const c = createViewClaims();
    c.count = 2;
    c.seq.set([7, 6]);
    c.tick.set([300, 297]);
    c.span.set([3, 0]);
    c.frac.set([700, 9000]);
    const out = new Uint8Array(viewClaimBytes(16));
    const bytes = writeViewClaims(out, c).slice();
    expect(bytes.length).toBe(viewClaimBytes(2));
    const back = readViewClaims(bytes, createViewClaims());
    expect([back.count, back.seq[1], back.tick[0], back.span[0], back.frac[0], back.frac[1]]).toEqual([2, 6, 300, 3, 700, 9000]);
    const field = (b: Uint8Array): string => {
      try {
        readViewClaims(b, createViewClaims());
        return 'accepted';
      } catch (err) {
        expect(err).toBeInstanceOf(DecodeError);
        return (err as DecodeError).field;
      }
    };
    const bad = bytes.slice();
    bad[2 + 7] = 0;
    bad[2 + 8] = 3; // frac 768 = 3 ticks with span 3
    expect(field(bad)).toBe('frac');
    expect(field(Uint8Array.from([5, 0]))).toBe('count');
    expect(field(Uint8Array.from([5, 17, ...new Array(17 * 9).fill(0)]))).toBe('count');
    expect(field(bytes.subarray(0, bytes.length - 1))).toBe('length');
    expect(field(Uint8Array.from([4, ...bytes.subarray(1)]))).toBe('type');
  });
});

describe('claims in a room', () => {
  const settings: LagCompSettings = { maxRewindMs: 1000, maxInterpMs: 250, toleranceMs: 100 };

  /** A gallery room with one player; fire() applies one firing input whose claim says `render`. */
  function setup(rttMs?: number) {
    const shots: GalleryShot[] = [];
    const game = createGallery({ onShot: (s) => shots.push(s) });
    const schema = compileSchema(game);
    const stats = newLagCompStats();
    const room = new Room('r', game, schema, DEFAULT_NET_CONFIG, 4, 1, {}, (s, _n, st) => new FullSnapshotEncoder(s, st), 0, newEncoderStats(), undefined, { settings, stats });
    const p = new Player(1, 'p', schema.inputFields.length, 8);
    room.addPlayer(p);
    if (rttMs !== undefined) p.link.rttSample(rttMs);
    const host = { drainNetEvents: () => undefined, rooms: [room] };
    for (let i = 0; i < 240; i++) runTick(host); // 4 s of history
    let seq = 0;
    const claims = createViewClaims();
    const fire = (render: number | undefined, repeatTicks = 0): GalleryShot => {
      seq++;
      if (render !== undefined) {
        claims.count = 1;
        claims.seq[0] = seq;
        claims.tick[0] = Math.floor(render);
        claims.span[0] = 0;
        claims.frac[0] = Math.round((render - Math.floor(render)) * 256);
        p.claims.offer(claims, room.ctx.tick);
      }
      p.inputs.offer(seq, [1, 100, 100], 0);
      const before = shots.length;
      runTick(host);
      for (let i = 0; i < repeatTicks; i++) runTick(host); // the input repeated: no new shot
      expect(shots.length).toBe(before + 1);
      return shots[shots.length - 1];
    };
    return { room, p, stats, fire, tickMs: 1000 / DEFAULT_NET_CONFIG.tickRateHz };
  }

  it('the validation accepts tag and gallery and refuses broken declarations', () => {
    expect(gameProblems(tag)).toEqual([]);
    expect(gameProblems(createGallery())).toEqual([]);
    const broken = { ...createGallery(), lagCompensation: { hitboxes: { Nope: { kind: 'circle', radius: -1 } }, trigger: 'zz' } } as unknown as typeof tag;
    const problems = gameProblems(broken).join('\n');
    expect(problems).toMatch(/hitboxes.Nope: components\(\) has no such component/);
    expect(problems).toMatch(/radius must be a positive/);
    expect(problems).toMatch(/trigger "zz": not an input field/);
  });

  it('an honest claim is used as sent and counted accepted', () => {
    const { room, stats, fire } = setup(150);
    const now = room.ctx.tick;
    const view = now - 9 - 10.5; // a round trip (9 ticks) and 10.5 ticks of interpolation behind
    const shot = fire(view);
    expect(shot.viewTick).toBeCloseTo(view, 2);
    expect(stats.claims.accepted).toBe(1);
  });

  it('a claim older than the round trip and the interpolation delay allow is clamped and counted', () => {
    const { room, stats, fire, tickMs } = setup(150);
    const now = room.ctx.tick;
    const shot = fire(now - 50);
    // clamped to arrival - RTT - maxInterp - tolerance
    expect(shot.viewTick).toBeCloseTo(now - 150 / tickMs - (250 + 100) / tickMs, 6);
    expect(stats.claims.clamped_inconsistent).toBe(1);
  });

  it('a claim newer than the client could have drawn is clamped and counted', () => {
    const { room, stats, fire } = setup(150);
    const shot = fire(room.ctx.tick + 30);
    expect(shot.viewTick).toBeLessThanOrEqual(room.ctx.tick);
    expect(stats.claims.clamped_future).toBe(1);
  });

  it('a claim beyond the cap is clamped to lagCompMaxRewindMs and counted', () => {
    const { room, stats, fire, tickMs } = setup(); // no round trip measured yet: only the cap applies
    const now = room.ctx.tick;
    const shot = fire(now - 200);
    expect(shot.viewTick).toBeCloseTo(shot.tick - 1000 / tickMs, 6);
    expect(stats.claims.clamped_cap).toBe(1);
  });

  it('without a claim the view is estimated from the newest earlier claim; a repeated input is counted once', () => {
    const { room, stats, fire } = setup(150);
    const first = fire(room.ctx.tick - 20);
    const second = fire(undefined, 3);
    expect(second.viewTick).toBeCloseTo(first.viewTick + 1, 6);
    expect(stats.claims).toMatchObject({ accepted: 1, estimated: 1 });
  });

  it('a claim ring keeps the first copy of each claim', () => {
    const r = new ClaimRing();
    const c = createViewClaims();
    c.count = 1;
    c.seq[0] = 9;
    c.tick[0] = 100;
    r.offer(c, 50);
    c.tick[0] = 10;
    r.offer(c, 52);
    expect(r.render[9]).toBe(100);
    expect(r.arrived[9]).toBe(50);
    expect(r.duplicates).toBe(1);
  });
});
