// Tag, the demo game `npm start` hosts: one entity is "it" and passes it on by touching another;
// every second not "it" scores a point. NPCs chase when "it" and flee otherwise; players spawn near
// each other; every tag is a game event; the page shows names, a score table and the tags. "It"
// may also tag at arm's length (Space towards the pointer): that reach is lag-compensated, so a
// player on a slow link tags whom it saw there (ctx.lagComp, shared/sim/lagcomp.ts).
import { addComponent, query } from 'bitecs';
import { defineGame, type GameContext } from '../shared/sim/game.ts';
import { newRayHit, segmentCircle } from '../shared/sim/lagcomp.ts';
import { bool, fixed, int, uint } from '../shared/protocol/quantize.ts';
import { moveAxes, type Axes, type BotBrain, type BotScript, type Controls, type DrawView, type ScriptWorld } from '../shared/sim/view.ts';

/** Playfield size, world units: small, so everyone is within reach. */
export const TAG_WIDTH = 1200;
export const TAG_HEIGHT = 800;
/** Radius of every entity; two touch when their centres are closer than twice this. */
export const TAG_RADIUS = 14;
/** Speeds, units per second: "it" runs a little faster than everyone else, NPCs a little slower. */
export const RUN_SPEED = 190;
export const IT_SPEED = 215;
export const NPC_SPEED = 150;
export const NPC_IT_SPEED = 180;
/** An NPC that is not "it" flees once "it" is closer than this. */
export const FLEE_RANGE = 320;
/** Seconds the one who passed "it" on cannot be tagged back, and seconds before a new "it" may tag. */
export const NO_TAG_BACK_SEC = 1.5;
export const HANDOFF_SEC = 0.75;
/** How far beyond a touch "it" reaches with a tag at range (Space): the segment from its centre. */
export const TAG_REACH = 80;

function components(n: number) {
  return {
    Body: { x: new Float32Array(n), y: new Float32Array(n) },
    /** it: 1 for the one who is "it"; cool: ticks left before "it" may tag, or before a non-it may be tagged. */
    Tag: { it: new Uint8Array(n), cool: new Uint8Array(n) },
    Score: { points: new Uint16Array(n) },
    Kind: { npc: new Uint8Array(n) },
    Wander: { heading: new Float32Array(n), nextTurnTick: new Uint32Array(n) },
    Player: {},
    /** A player's reach this tick (from its input): tag 1 when it reaches towards (ax, ay). */
    Reach: { tag: new Uint8Array(n), ax: new Float32Array(n), ay: new Float32Array(n) },
  };
}
type C = ReturnType<typeof components>;
type Input = { mx: number; my: number; tag?: number; ax?: number; ay?: number };
type Ctx = GameContext<C>;

const clamp = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);
const ticksOf = (sec: number, hz: number): number => Math.min(255, Math.round(sec * hz));

/** Moves entity `e` by (dx, dy) (any length), at `speed` units/s, inside the walls. */
function move(c: C, e: number, dx: number, dy: number, speed: number, dtSec: number): void {
  const len = Math.hypot(dx, dy);
  if (len === 0) return;
  const s = (speed * dtSec) / len;
  c.Body.x[e] = clamp(c.Body.x[e] + dx * s, TAG_RADIUS, TAG_WIDTH - TAG_RADIUS);
  c.Body.y[e] = clamp(c.Body.y[e] + dy * s, TAG_RADIUS, TAG_HEIGHT - TAG_RADIUS);
}

/** The entity that is "it" among `list`, or -1. */
function findIt(c: C, list: readonly number[]): number {
  for (let i = 0; i < list.length; i++) if (c.Tag.it[list[i]] === 1) return list[i];
  return -1;
}

/** NPCs: "it" chases the nearest entity it may tag; the others flee "it" when it is near, else wander. */
function npcSystem(ctx: Ctx) {
  const npcs = ctx.query([ctx.c.Wander]);
  const bodies = ctx.query([ctx.c.Body, ctx.c.Tag]);
  const turnTicks = Math.round(1.5 * ctx.tickRateHz);
  return (x: Ctx): void => {
    const { c } = x;
    const all = bodies();
    const it = findIt(c, all);
    const list = npcs();
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      const ex = c.Body.x[e];
      const ey = c.Body.y[e];
      if (e === it) {
        let best = -1;
        let bestD = Infinity;
        for (let j = 0; j < all.length; j++) {
          const o = all[j];
          if (o === e || c.Tag.cool[o] > 0) continue;
          const d = (c.Body.x[o] - ex) ** 2 + (c.Body.y[o] - ey) ** 2;
          if (d < bestD) {
            bestD = d;
            best = o;
          }
        }
        if (best >= 0) move(c, e, c.Body.x[best] - ex, c.Body.y[best] - ey, NPC_IT_SPEED, x.dtSec);
        continue;
      }
      if (it >= 0) {
        const dx = ex - c.Body.x[it];
        const dy = ey - c.Body.y[it];
        const d = Math.hypot(dx, dy);
        if (d < FLEE_RANGE && d > 0) {
          // Away from "it", pushed off the walls so a fleeing NPC slides along them.
          const wall = 120;
          let fx = dx / d;
          let fy = dy / d;
          if (ex < wall) fx += 1 - ex / wall;
          if (ex > TAG_WIDTH - wall) fx -= 1 - (TAG_WIDTH - ex) / wall;
          if (ey < wall) fy += 1 - ey / wall;
          if (ey > TAG_HEIGHT - wall) fy -= 1 - (TAG_HEIGHT - ey) / wall;
          move(c, e, fx, fy, NPC_SPEED, x.dtSec);
          continue;
        }
      }
      if (x.tick >= c.Wander.nextTurnTick[e]) {
        // A new heading, biased towards the middle so wanderers stay near the action.
        const toMid = Math.atan2(TAG_HEIGHT / 2 - ey, TAG_WIDTH / 2 - ex);
        c.Wander.heading[e] = toMid + x.rng.range(-2, 2);
        c.Wander.nextTurnTick[e] = x.tick + turnTicks + x.rng.int(turnTicks);
      }
      move(c, e, Math.cos(c.Wander.heading[e]), Math.sin(c.Wander.heading[e]), NPC_SPEED * 0.5, x.dtSec);
    }
  };
}

/**
 * Tagging: cool-downs count down; with nobody "it" (the game started, or "it" left) someone is
 * picked; "it" touching anyone it may tag passes it on (an event `tag` {from, to}).
 */
function tagSystem(ctx: Ctx) {
  const bodies = ctx.query([ctx.c.Body, ctx.c.Tag]);
  const noTagBack = ticksOf(NO_TAG_BACK_SEC, ctx.tickRateHz);
  const handoff = ticksOf(HANDOFF_SEC, ctx.tickRateHz);
  const touch2 = (2 * TAG_RADIUS) ** 2;
  const hit = newRayHit();
  let itNow = -1;
  let cc: C;
  const taggable = (e: number): boolean => e !== itNow && cc.Tag.cool[e] === 0;
  /** The entity "it" reaches at range this tick (as its player saw the world), or -1. */
  const reach = (x: Ctx, it: number): number => {
    const c = x.c;
    if (c.Reach.tag[it] === 0) return -1;
    const x0 = c.Body.x[it];
    const y0 = c.Body.y[it];
    const dx = c.Reach.ax[it] - x0;
    const dy = c.Reach.ay[it] - y0;
    const len = Math.hypot(dx, dy);
    if (len === 0) return -1;
    const x1 = x0 + (dx / len) * (TAG_REACH + TAG_RADIUS);
    const y1 = y0 + (dy / len) * (TAG_REACH + TAG_RADIUS);
    itNow = it;
    cc = c;
    if (x.lagComp) return x.lagComp.raycast(it, x0, y0, x1, y1, hit, taggable);
    // Without lag compensation (a room outside the server): the current positions.
    const all = bodies();
    let best = -1;
    let bestT = 2;
    for (let i = 0; i < all.length; i++) {
      const e = all[i];
      if (!taggable(e)) continue;
      const t = segmentCircle(x0, y0, x1 - x0, y1 - y0, c.Body.x[e], c.Body.y[e], TAG_RADIUS);
      if (t >= 0 && t < bestT) {
        bestT = t;
        best = e;
      }
    }
    return best;
  };
  return (x: Ctx): void => {
    const { c } = x;
    const all = bodies();
    for (let i = 0; i < all.length; i++) if (c.Tag.cool[all[i]] > 0) c.Tag.cool[all[i]]--;
    let it = findIt(c, all);
    if (it < 0) {
      if (all.length === 0) return;
      it = all[x.rng.int(all.length)];
      c.Tag.it[it] = 1;
      c.Tag.cool[it] = handoff;
      x.emit?.('it', { eid: it });
      return;
    }
    if (c.Tag.cool[it] > 0) return;
    for (let i = 0; i < all.length; i++) {
      const e = all[i];
      if (e === it || c.Tag.cool[e] > 0) continue;
      if ((c.Body.x[e] - c.Body.x[it]) ** 2 + (c.Body.y[e] - c.Body.y[it]) ** 2 >= touch2) continue;
      c.Tag.it[it] = 0;
      c.Tag.cool[it] = noTagBack;
      c.Tag.it[e] = 1;
      c.Tag.cool[e] = handoff;
      x.emit?.('tag', { from: it, to: e });
      return;
    }
    const e = reach(x, it);
    if (e < 0) return;
    c.Tag.it[it] = 0;
    c.Tag.cool[it] = noTagBack;
    c.Tag.it[e] = 1;
    c.Tag.cool[e] = handoff;
    x.emit?.('tag', { from: it, to: e, reach: true });
  };
}

/** Once a second, everyone who is not "it" scores a point. */
function scoreSystem(ctx: Ctx) {
  const scored = ctx.query([ctx.c.Score, ctx.c.Tag]);
  return (x: Ctx): void => {
    if (x.tick % x.tickRateHz !== 0) return;
    const list = scored();
    for (let i = 0; i < list.length; i++) if (x.c.Tag.it[list[i]] === 0) x.c.Score.points[list[i]] = Math.min(65535, x.c.Score.points[list[i]] + 1);
  };
}

/** Gives `e` a body, a tag and a score at (x, y). */
function addBody(ctx: Ctx, e: number, x: number, y: number): void {
  const { c, world } = ctx;
  for (const comp of [c.Body, c.Tag, c.Score, c.Kind]) addComponent(world, e, comp);
  c.Body.x[e] = x;
  c.Body.y[e] = y;
}

/**
 * Where a joining player starts: near a player already there (90-200 units away), else near the
 * middle, and at least 160 units from "it" when a spot that far is found in a few tries.
 */
function spawnPoint(ctx: Ctx, out: { x: number; y: number }): void {
  const { c, rng } = ctx;
  const players = query(ctx.world, [c.Player]);
  const all = query(ctx.world, [c.Body, c.Tag]) as readonly number[];
  const it = findIt(c, all);
  let ax = TAG_WIDTH / 2;
  let ay = TAG_HEIGHT / 2;
  if (players.length > 0) {
    const p = players[rng.int(players.length)];
    ax = c.Body.x[p];
    ay = c.Body.y[p];
  }
  const m = 3 * TAG_RADIUS;
  for (let attempt = 0; attempt < 12; attempt++) {
    const a = rng.range(-Math.PI, Math.PI);
    const d = rng.range(90, 200);
    out.x = clamp(ax + Math.cos(a) * d, m, TAG_WIDTH - m);
    out.y = clamp(ay + Math.sin(a) * d, m, TAG_HEIGHT - m);
    if (it < 0 || Math.hypot(out.x - c.Body.x[it], out.y - c.Body.y[it]) >= 160) return;
  }
}

// ---- the client view ----

const axes: Axes = { x: 0, y: 0 };
const steer: Input = { mx: 0, my: 0, tag: 0, ax: 0, ay: 0 };

function controls(c: Controls): Input {
  moveAxes(c, axes);
  steer.mx = axes.x;
  steer.my = axes.y;
  // Space (or F) reaches towards the pointer, else straight ahead.
  steer.tag = c.keys.has('Space') || c.keys.has('KeyF') ? 1 : 0;
  const self = c.self;
  if (c.pointer) {
    steer.ax = c.pointer.x;
    steer.ay = c.pointer.y;
  } else if (self) {
    steer.ax = self.x + axes.x * TAG_REACH;
    steer.ay = self.y + axes.y * TAG_REACH;
  }
  return steer;
}

// What drawEntity reads: set by draw before each frame's visit (no closure per frame).
let g: CanvasRenderingContext2D;
let view: DrawView;

function drawEntity(eid: number, x: number, y: number): void {
  const scale = view.pixelsPerUnit;
  const self = eid === view.selfEid;
  const it = view.field(eid, 'Tag.it') === 1;
  const npc = view.field(eid, 'Kind.npc') === 1;
  const immune = !it && (view.field(eid, 'Tag.cool') ?? 0) > 0;
  g.globalAlpha = immune ? 0.45 : 1;
  g.beginPath();
  g.arc(x, y, TAG_RADIUS, 0, Math.PI * 2);
  g.fillStyle = it ? '#ff4d4d' : self ? '#ffd23f' : npc ? '#b07a45' : '#3f8fe0';
  g.fill();
  if (self || it) {
    g.lineWidth = 3 / scale;
    g.strokeStyle = self ? '#ffffff' : '#ffb0b0';
    g.stroke();
  }
  if (it) {
    g.beginPath();
    g.arc(x, y, TAG_RADIUS + 10 / scale, 0, Math.PI * 2);
    g.strokeStyle = 'rgba(255,77,77,0.55)';
    g.lineWidth = 2 / scale;
    g.stroke();
  }
  g.globalAlpha = 1;
  const top = y - TAG_RADIUS - 4 / scale;
  const name = view.name(eid);
  view.label(name ?? (npc ? 'npc' : ''), x, top, self ? '#ffe27a' : undefined);
  if (it) view.label('IT', x, top - 15 / scale, '#ff6b6b');
}

const who = (eid: number, nameOf: (eid: number) => string | undefined): string => nameOf(eid) ?? `npc ${eid}`;
const eidOf = (data: unknown, key: string): number => {
  const v = (data as Record<string, unknown> | undefined)?.[key];
  return typeof v === 'number' ? v : -1;
};

/** Chases the nearest entity it may tag while "it"; flees "it" when near, else drifts about. */
export const tagBot: BotScript = {
  name: 'tag',
  description: 'tag: chase the nearest taggable entity while "it", flee "it" when it is near, else wander',
  games: ['tag'],
  needsWorld: true,
  create(ctx): BotBrain {
    const out: Input = { mx: 0, my: 0 };
    // The same steering plus a reach towards the target, returned when one is within reach.
    const act: Input = { mx: 0, my: 0, tag: 1, ax: 0, ay: 0 };
    let wanderX = 0;
    let wanderY = 0;
    let nextTurnMs = 0;
    const setDir = (dx: number, dy: number): void => {
      const len = Math.hypot(dx, dy);
      if (len === 0) {
        out.mx = 0;
        out.my = 0;
        return;
      }
      // Snap to the eight directions, as keys would.
      out.mx = dx / len > 0.38 ? 1 : dx / len < -0.38 ? -1 : 0;
      out.my = dy / len > 0.38 ? 1 : dy / len < -0.38 ? -1 : 0;
    };
    return {
      next(nowMs: number, w: ScriptWorld | undefined): Input {
        if (nowMs >= nextTurnMs) {
          const a = ctx.rng.range(-Math.PI, Math.PI);
          wanderX = Math.cos(a);
          wanderY = Math.sin(a);
          nextTurnMs = nowMs + 600 + ctx.rng.range(0, 900);
        }
        const me = w ? w.indexOf(w.selfEid) : -1;
        if (!w || me < 0) {
          setDir(wanderX, wanderY);
          return out;
        }
        const sx = w.field(me, 'Body.x') ?? 0;
        const sy = w.field(me, 'Body.y') ?? 0;
        const iAmIt = w.field(me, 'Tag.it') === 1;
        let target = -1;
        let bestD = Infinity;
        for (let i = 0; i < w.count(); i++) {
          if (i === me) continue;
          const it = w.field(i, 'Tag.it') === 1;
          if (iAmIt ? (w.field(i, 'Tag.cool') ?? 0) > 0 : !it) continue;
          const d = Math.hypot((w.field(i, 'Body.x') ?? 0) - sx, (w.field(i, 'Body.y') ?? 0) - sy);
          if (d < bestD) {
            bestD = d;
            target = i;
          }
        }
        if (target < 0) {
          setDir(wanderX + (TAG_WIDTH / 2 - sx) / TAG_WIDTH, wanderY + (TAG_HEIGHT / 2 - sy) / TAG_HEIGHT);
          return out;
        }
        const dx = (w.field(target, 'Body.x') ?? 0) - sx;
        const dy = (w.field(target, 'Body.y') ?? 0) - sy;
        if (iAmIt) {
          setDir(dx, dy);
          if (bestD <= TAG_REACH + 2 * TAG_RADIUS) {
            // Reach for it where it is drawn: lag compensation makes that count on a slow link.
            act.mx = out.mx;
            act.my = out.my;
            act.ax = sx + dx;
            act.ay = sy + dy;
            return act;
          }
        } else if (bestD < FLEE_RANGE) {
          // Away from "it", off the walls.
          const wall = 120;
          let fx = -dx / (bestD || 1);
          let fy = -dy / (bestD || 1);
          if (sx < wall) fx += 1 - sx / wall;
          if (sx > TAG_WIDTH - wall) fx -= 1 - (TAG_WIDTH - sx) / wall;
          if (sy < wall) fy += 1 - sy / wall;
          if (sy > TAG_HEIGHT - wall) fy -= 1 - (TAG_HEIGHT - sy) / wall;
          setDir(fx, fy);
        } else setDir(wanderX * 0.5 + (TAG_WIDTH / 2 - sx) / TAG_WIDTH, wanderY * 0.5 + (TAG_HEIGHT / 2 - sy) / TAG_HEIGHT);
        return out;
      },
    };
  },
};

const spot = { x: 0, y: 0 };

/** The tag game. Parameter `npcs` (default 5, 0..32) sets the NPC count. */
export const tag = defineGame<C, Input>({
  name: 'tag',
  maxEntities: 128,
  components,
  networked: {
    Body: { x: fixed(0, TAG_WIDTH, 1 / 16), y: fixed(0, TAG_HEIGHT, 1 / 16) },
    Tag: { it: bool(), cool: uint(8) },
    Score: { points: uint(16) },
    Kind: { npc: bool() },
  },
  local: ['Wander', 'Player', 'Reach'],
  input: { mx: int(-1, 1), my: int(-1, 1), tag: bool(), ax: fixed(0, TAG_WIDTH, 1 / 4), ay: fixed(0, TAG_HEIGHT, 1 / 4) },
  defaultParams: { npcs: 5 },
  position: { x: 'Body.x', y: 'Body.y' },
  // The reach is tested against every body as the reaching player drew it.
  lagCompensation: { hitboxes: { Body: { kind: 'circle', radius: TAG_RADIUS } }, trigger: 'tag' },
  // Anyone may name a room; such a room starts with 4 NPCs, and its creator may ask for 0-12.
  clientRooms: { params: { npcs: 4 }, settable: { npcs: { min: 0, max: 12 } } },
  client: {
    world: { width: TAG_WIDTH, height: TAG_HEIGHT },
    controls,
    help: 'WASD / arrows, or hold the mouse or a finger where to run. Red is "it": touch someone to pass it on, or press Space to reach towards the pointer; every second not "it" scores',
    scoreboard: { field: 'Score.points', title: 'score', mark: { field: 'Tag.it', text: 'IT' } },
    describeEvent(name, data, nameOf) {
      if (name === 'tag') return `${who(eidOf(data, 'from'), nameOf)} tagged ${who(eidOf(data, 'to'), nameOf)}`;
      if (name === 'it') return `${who(eidOf(data, 'eid'), nameOf)} is it`;
      return undefined;
    },
    draw(g2, v) {
      g = g2;
      view = v;
      v.forEach(drawEntity);
    },
    bot: tagBot,
  },
  stepPlayer(c, eid, input, dtSec) {
    c.Reach.tag[eid] = input.tag ?? 0;
    c.Reach.ax[eid] = input.ax ?? 0;
    c.Reach.ay[eid] = input.ay ?? 0;
    if (input.mx === 0 && input.my === 0) return;
    move(c, eid, input.mx, input.my, c.Tag.it[eid] === 1 ? IT_SPEED : RUN_SPEED, dtSec);
  },
  setup(ctx) {
    const { c, world, rng } = ctx;
    const n = clamp(Math.floor(ctx.params.npcs ?? 5), 0, 32);
    for (let i = 0; i < n; i++) {
      const e = ctx.spawn();
      const a = rng.range(-Math.PI, Math.PI);
      const d = rng.range(60, 260);
      addBody(ctx, e, TAG_WIDTH / 2 + Math.cos(a) * d * 1.5, TAG_HEIGHT / 2 + Math.sin(a) * d);
      addComponent(world, e, c.Wander);
      c.Kind.npc[e] = 1;
      c.Wander.heading[e] = a;
      c.Wander.nextTurnTick[e] = i * 7;
    }
  },
  systems: (ctx) => [npcSystem(ctx), tagSystem(ctx), scoreSystem(ctx)],
  feedEvents: ['it', 'tag'],
  spawnPlayer(ctx) {
    spawnPoint(ctx, spot);
    const e = ctx.spawn();
    addBody(ctx, e, spot.x, spot.y);
    addComponent(ctx.world, e, ctx.c.Player);
    addComponent(ctx.world, e, ctx.c.Reach);
    return e;
  },
});
