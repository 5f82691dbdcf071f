// Interpolation: the timeline keeps snapshots in tick order; sampling picks the two snapshots
// around the render tick (also across a lost one), extrapolates at most the configured time and
// then holds; angles take the short way; the delay adapts to jitter and loss; the render clock
// glides. End to end, remote entities are drawn close to where the server had them at that tick.
import { describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { DEFAULT_INTERPOLATION, EntityView, interpolationDelayMs, Interpolator, RenderClock, SnapshotTimeline } from '../netcode/interpolation.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { SnapshotFrame } from '../shared/protocol/snapshot.ts';
import { Rng } from '../shared/sim/rng.ts';
import { LoopbackWorld } from './helpers/client-loopback.ts';

const schema = compileSchema(arena);
const F = Object.fromEntries(schema.fields.map((f, i) => [`${f.component}.${f.field}`, i])) as Record<string, number>;
const ALL = (1 << schema.components.length) - 1;

/** A frame at `tick` with entities [id, x, y, angle?]. */
function frame(tick: number, entities: [number, number, number, number?][]): SnapshotFrame {
  const f = new SnapshotFrame(schema, 16);
  f.tick = tick;
  f.count = entities.length;
  entities.forEach(([id, x, y, a], i) => {
    f.ids[i] = id;
    f.masks[i] = ALL;
    const row = i * f.fieldCount;
    f.values[row + F['Kind.value']] = 1;
    f.values[row + F['Position.x']] = schema.fields[F['Position.x']].q.quantize(x);
    f.values[row + F['Position.y']] = schema.fields[F['Position.y']].q.quantize(y);
    f.values[row + F['Facing.angle']] = schema.fields[F['Facing.angle']].q.quantize(a ?? 0);
    f.values[row + F['Health.hp']] = 100;
  });
  return f;
}

const xOf = (v: EntityView, id: number): number => v.values[v.indexOf(id) * v.fieldCount + F['Position.x']];
const angleOf = (v: EntityView, id: number): number => v.values[v.indexOf(id) * v.fieldCount + F['Facing.angle']];

describe('SnapshotTimeline', () => {
  it('keeps snapshots in tick order, slots late ones in, refuses duplicates and drops the oldest when full', () => {
    const t = new SnapshotTimeline(schema, 4);
    for (const tick of [30, 36, 33]) expect(t.insert(frame(tick, [[1, 0, 0]]))).toBe(true);
    expect(t.insert(frame(33, [[1, 0, 0]]))).toBe(false);
    expect([0, 1, 2].map((i) => t.at(i).tick)).toEqual([30, 33, 36]);
    t.insert(frame(42, [[1, 0, 0]]));
    t.insert(frame(39, [[1, 0, 0]]));
    expect(t.size).toBe(4);
    expect([0, 1, 2, 3].map((i) => t.at(i).tick)).toEqual([33, 36, 39, 42]);
    expect(t.insert(frame(27, [[1, 0, 0]]))).toBe(false); // older than everything kept
    expect(t.floorIndex(40)).toBe(2);
    expect(t.floorIndex(10)).toBe(-1);
  });
});

describe('Interpolator', () => {
  const timeline = new SnapshotTimeline(schema, 8);
  // Entity 1 moves +30 x per snapshot (10 per tick); snapshot 39 was lost; entity 2 spawns at 36.
  timeline.insert(frame(30, [[1, 100, 50]]));
  timeline.insert(frame(33, [[1, 130, 50]]));
  timeline.insert(frame(36, [[1, 160, 50], [2, 500, 500]]));
  timeline.insert(frame(42, [[1, 220, 50], [2, 500, 500]]));
  const interp = new Interpolator(schema, 60, { maxExtrapolationMs: 100 });
  const v = new EntityView(schema);

  it('picks the pair of snapshots around the render tick', () => {
    interp.sample(timeline, 34.5, v);
    expect(v.mode).toBe('interpolate');
    expect([v.fromTick, v.toTick]).toEqual([33, 36]);
    expect(xOf(v, 1)).toBeCloseTo(145, 5);
    expect(v.indexOf(2)).toBe(-1); // not spawned yet at 34.5
    interp.sample(timeline, 33, v);
    expect(xOf(v, 1)).toBeCloseTo(130, 5);
    // Across the lost snapshot 39: between 36 and 42.
    interp.sample(timeline, 40, v);
    expect([v.fromTick, v.toTick]).toEqual([36, 42]);
    expect(xOf(v, 1)).toBeCloseTo(200, 5);
    expect(xOf(v, 2)).toBeCloseTo(500, 5);
  });

  it('extrapolates past the newest snapshot for at most maxExtrapolationMs, then holds', () => {
    interp.sample(timeline, 45, v); // 3 ticks = 50 ms past 42, at 10 units per tick
    expect(v.mode).toBe('extrapolate');
    expect(xOf(v, 1)).toBeCloseTo(250, 5);
    interp.sample(timeline, 48, v); // exactly the 100 ms cap
    expect(xOf(v, 1)).toBeCloseTo(280, 5);
    interp.sample(timeline, 60, v); // far past it: held at the cap
    expect(v.mode).toBe('hold');
    expect(v.extrapolatedTicks).toBeCloseTo(6, 9);
    expect(xOf(v, 1)).toBeCloseTo(280, 5);
    expect(xOf(v, 2)).toBeCloseTo(500, 5); // standing still stays still
    interp.sample(timeline, 10, v); // before everything: the oldest, held
    expect(v.mode).toBe('hold');
    expect(xOf(v, 1)).toBeCloseTo(100, 5);
  });

  it('turns angles the short way round and steps over teleports', () => {
    const t = new SnapshotTimeline(schema, 4);
    t.insert(frame(0, [[1, 10, 10, 3.0]]));
    t.insert(frame(3, [[1, 1900, 10, -3.0]])); // wraps through PI; x jumps across the map
    interp.sample(t, 1.5, v);
    const a = angleOf(v, 1);
    expect(Math.abs(Math.abs(a) - Math.PI)).toBeLessThan(0.05); // through PI, not through 0
    expect(xOf(v, 1)).toBeCloseTo(10, 5); // a teleport is not swept across the map
    interp.sample(t, 3, v);
    expect(xOf(v, 1)).toBeCloseTo(1900, 5);
  });

  it('adapts the delay to jitter and loss', () => {
    const o = DEFAULT_INTERPOLATION;
    const tickMs = 1000 / 60;
    const calm = interpolationDelayMs(o, tickMs, 50, 0, 0);
    expect(calm).toBeCloseTo(50 + tickMs / 2, 6);
    expect(interpolationDelayMs(o, tickMs, 50, 10, 0)).toBeCloseTo(80, 6);
    expect(interpolationDelayMs(o, tickMs, 50, 10, 0.05)).toBeCloseTo(130, 6); // one lost snapshot bridged
    expect(interpolationDelayMs(o, tickMs, 50, 10, 0.01)).toBeCloseTo(105, 6);
  });
});

describe('RenderClock', () => {
  it('runs with real time, glides towards a moved target within the warp bound, and snaps after a big jump', () => {
    const tickMs = 1000 / 60;
    const c = new RenderClock(tickMs, { maxWarp: 0.1 });
    c.advance(0, 100);
    c.advance(tickMs * 60, 160);
    expect(c.tick).toBeCloseTo(160, 6);
    // The target moves 3 ticks back (a bigger delay): no jump back, the clock slows down.
    let prev = c.tick;
    for (let i = 61; i <= 200; i++) {
      c.advance(i * tickMs, 100 + i - 3);
      const step = c.tick - prev;
      expect(step).toBeGreaterThanOrEqual(0.9 - 1e-9);
      expect(step).toBeLessThanOrEqual(1.1 + 1e-9);
      prev = c.tick;
    }
    expect(Math.abs(c.tick - (100 + 200 - 3))).toBeLessThan(0.3);
    c.advance(201 * tickMs, 1000);
    expect(c.tick).toBe(1000);
    expect(c.snaps).toBe(1);
  });
});

describe('interpolation end to end (loopback server, fake clock)', () => {
  it('draws remote entities within a few units of the server state at the same tick under 150 ms RTT, 20 ms jitter, 5% loss', () => {
    const w = new LoopbackWorld({ npcs: 40 });
    const link = { enabled: true, delayMs: 75, jitterMs: 20, lossPct: 5 };
    const c = w.addClient({ link, seed: 31, framePhaseMs: 2 });
    const other = w.addClient({ link, seed: 32, framePhaseMs: 11 });
    const rng = new Rng(4);
    let turnAtMs = 0;
    // The server's positions after every tick, to compare with what the client draws at fractional ticks.
    const history = new Map<number, Float64Array>();
    const pos = w.room.ctx.c.Position;
    const errors: number[] = [];
    const N = 64;
    w.afterTick = () => void history.set(w.room.ctx.tick, Float64Array.from({ length: 2 * N }, (_, i) => (i < N ? pos.x[i] : pos.y[i - N])));
    w.run(10000, (cl, now) => {
      if (cl === other) {
        // A remote player wandering like an arena-v1 bot: a new direction every 250..750 ms.
        if (now >= turnAtMs) {
          other.input.dir = rng.int(9);
          turnAtMs = now + 250 + rng.next() * 500;
        }
        return;
      }
      if (now < 3000) return;
      const r = cl.netcode.renderTick(now);
      const lo = Math.floor(r);
      const a = history.get(lo);
      const b = history.get(lo + 1);
      if (!a || !b) return;
      cl.netcode.sampleRemote(r, (eid, x, y) => {
        if (eid >= N) return;
        const f = r - lo;
        const sx = a[eid] + (b[eid] - a[eid]) * f;
        const sy = a[N + eid] + (b[N + eid] - a[N + eid]) * f;
        errors.push(Math.hypot(x - sx, y - sy));
      });
    });
    errors.sort((p, q) => p - q);
    const mean = errors.reduce((s, e) => s + e, 0) / errors.length;
    const p99 = errors[Math.floor(errors.length * 0.99)];
    console.log(`loopback render error: mean ${mean.toFixed(3)} p99 ${p99.toFixed(3)} max ${errors[errors.length - 1].toFixed(3)} units over ${errors.length} samples`);
    expect(errors.length).toBeGreaterThan(10000);
    expect(mean).toBeLessThan(1);
    expect(p99).toBeLessThan(4);
    expect(c.netcode.stats.interpDelayMs).toBeGreaterThan(100);
  });
});
