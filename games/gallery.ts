// Gallery: the lag-compensation workload (bench/lagcomp.ts, test/lagcomp-integration.test.ts).
// Targets run fast across the field, turning at seeded random moments and bouncing off the walls;
// players stand still along the bottom edge and fire hitscan shots at an aim point. Each shot is
// tested twice: against the world as the shooter drew it (ctx.lagComp, the rewind) and against the
// current positions (no rewind), and handed to the `onShot` callback given at creation. Not in the
// registry: it exists to be measured.
import { addComponent } from 'bitecs';
import { defineGame, type AnyGame, type GameContext } from '../shared/sim/game.ts';
import { newRayHit, segmentCircle, type LagCompensation, type RayHit } from '../shared/sim/lagcomp.ts';
import { bool, fixed } from '../shared/protocol/quantize.ts';

export const GALLERY_WIDTH = 1000;
export const GALLERY_HEIGHT = 600;
/** Target hitbox radius and speed (units per second). */
export const TARGET_RADIUS = 12;
export const TARGET_SPEED = 240;
/** Shots reach this far. */
export const SHOT_RANGE = 1500;

function components(n: number) {
  return {
    Body: { x: new Float32Array(n), y: new Float32Array(n) },
    Target: {},
    Motion: { vx: new Float32Array(n), vy: new Float32Array(n), nextTurnTick: new Uint32Array(n) },
    Shooter: { fire: new Uint8Array(n), ax: new Float32Array(n), ay: new Float32Array(n) },
  };
}
type C = ReturnType<typeof components>;
type Input = { fire: number; ax: number; ay: number };
type Ctx = GameContext<C>;

/** One shot as the server judged it. */
export interface GalleryShot {
  /** Shooter entity and the sequence of the input that fired. */
  readonly shooter: number;
  readonly seq: number;
  /** Room tick the shot was judged at, and the view tick it was rewound to. */
  readonly tick: number;
  readonly viewTick: number;
  /** Entity hit with rewind and without (current positions), or -1. */
  readonly hitRewind: number;
  readonly hitLive: number;
  /** The shot's segment. */
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
  /** The room's lag compensation, valid during the callback (for position look-ups and timing). */
  readonly lagComp: LagCompensation | undefined;
}

/** Settings of a gallery. */
export interface GalleryOptions {
  /** Called for every shot fired (a new input with fire set). */
  onShot?(shot: GalleryShot): void;
}

/** Moves every target on; turns at random ticks, bounces off the walls. */
function moveSystem(ctx: Ctx) {
  const targets = ctx.query([ctx.c.Target]);
  return (x: Ctx): void => {
    const { c } = x;
    const list = targets();
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      if (x.tick >= c.Motion.nextTurnTick[e]) {
        const a = x.rng.range(-Math.PI, Math.PI);
        c.Motion.vx[e] = Math.cos(a) * TARGET_SPEED;
        c.Motion.vy[e] = Math.sin(a) * TARGET_SPEED;
        c.Motion.nextTurnTick[e] = x.tick + Math.round(x.tickRateHz * (0.4 + x.rng.next()));
      }
      let nx = c.Body.x[e] + c.Motion.vx[e] * x.dtSec;
      let ny = c.Body.y[e] + c.Motion.vy[e] * x.dtSec;
      if (nx < 40 || nx > GALLERY_WIDTH - 40) {
        c.Motion.vx[e] = -c.Motion.vx[e];
        nx = Math.min(GALLERY_WIDTH - 40, Math.max(40, nx));
      }
      if (ny < 40 || ny > GALLERY_HEIGHT - 160) {
        c.Motion.vy[e] = -c.Motion.vy[e];
        ny = Math.min(GALLERY_HEIGHT - 160, Math.max(40, ny));
      }
      c.Body.x[e] = nx;
      c.Body.y[e] = ny;
    }
  };
}

/** Judges every shot fired this tick, with and without rewind. */
function shootSystem(ctx: Ctx, o: GalleryOptions) {
  const shooters = ctx.query([ctx.c.Shooter]);
  const targets = ctx.query([ctx.c.Target]);
  const hit: RayHit = newRayHit();
  return (x: Ctx): void => {
    const { c } = x;
    const list = shooters();
    for (let i = 0; i < list.length; i++) {
      const s = list[i];
      if (c.Shooter.fire[s] === 0) continue;
      const lc = x.lagComp;
      const seq = lc ? lc.inputSeq(s) : 0;
      if (seq < 0) continue; // the previous input repeated: no new shot
      const x0 = c.Body.x[s];
      const y0 = c.Body.y[s];
      const dx = c.Shooter.ax[s] - x0;
      const dy = c.Shooter.ay[s] - y0;
      const len = Math.hypot(dx, dy);
      if (len === 0) continue;
      const x1 = x0 + (dx / len) * SHOT_RANGE;
      const y1 = y0 + (dy / len) * SHOT_RANGE;
      const hitRewind = lc ? lc.raycast(s, x0, y0, x1, y1, hit) : -1;
      let hitLive = -1;
      let bestT = 2;
      const all = targets();
      for (let k = 0; k < all.length; k++) {
        const t = segmentCircle(x0, y0, x1 - x0, y1 - y0, c.Body.x[all[k]], c.Body.y[all[k]], TARGET_RADIUS);
        if (t >= 0 && t < bestT) {
          bestT = t;
          hitLive = all[k];
        }
      }
      o.onShot?.({ shooter: s, seq, tick: x.tick, viewTick: lc ? lc.viewTick(s) : x.tick, hitRewind, hitLive, x0, y0, x1, y1, lagComp: lc });
    }
  };
}

/** A gallery game; `targets` parameter (default 4, 1..32) sets the target count. */
export function createGallery(o: GalleryOptions = {}): AnyGame {
  return defineGame<C, Input>({
    name: 'gallery',
    maxEntities: 128,
    components,
    networked: { Body: { x: fixed(0, GALLERY_WIDTH, 1 / 16), y: fixed(0, GALLERY_HEIGHT, 1 / 16) } },
    local: ['Target', 'Motion', 'Shooter'],
    input: { fire: bool(), ax: fixed(0, GALLERY_WIDTH, 1 / 8), ay: fixed(0, GALLERY_HEIGHT, 1 / 8) },
    defaultParams: { targets: 4 },
    position: { x: 'Body.x', y: 'Body.y' },
    lagCompensation: { hitboxes: { Target: { kind: 'circle', radius: TARGET_RADIUS } }, trigger: 'fire' },
    tickWhenEmpty: false,
    stepPlayer(c, eid, input) {
      c.Shooter.fire[eid] = input.fire;
      c.Shooter.ax[eid] = input.ax;
      c.Shooter.ay[eid] = input.ay;
    },
    setup(ctx) {
      const n = Math.max(1, Math.min(32, Math.floor(ctx.params.targets ?? 4)));
      for (let i = 0; i < n; i++) {
        const e = ctx.spawn();
        addComponent(ctx.world, e, ctx.c.Body);
        addComponent(ctx.world, e, ctx.c.Target);
        addComponent(ctx.world, e, ctx.c.Motion);
        ctx.c.Body.x[e] = 100 + ((i * 211) % (GALLERY_WIDTH - 200));
        ctx.c.Body.y[e] = 80 + ((i * 97) % (GALLERY_HEIGHT - 260));
      }
    },
    systems: (ctx) => [moveSystem(ctx), shootSystem(ctx, o)],
    spawnPlayer(ctx, info) {
      const e = ctx.spawn();
      addComponent(ctx.world, e, ctx.c.Body);
      addComponent(ctx.world, e, ctx.c.Shooter);
      ctx.c.Body.x[e] = 100 + ((info.sessionId * 173) % (GALLERY_WIDTH - 200));
      ctx.c.Body.y[e] = GALLERY_HEIGHT - 40;
      return e;
    },
  });
}
