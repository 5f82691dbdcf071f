// The arena benchmark games (see docs/scenario-arena-v1.md and docs/scenario-arena-v2.md), written
// only against the public game API: players move by input, NPCs wander and reflect off the walls,
// and hp changes at random; the client view draws facing lines and hp bars. arena-v1 is the small
// arena where everyone sees everything; arenaGame() builds the same game on another map (arena-v2).
import { addComponent } from 'bitecs';
import { defineGame, type GameContext, type GameDefinition, type InterestRules } from '../shared/sim/game.ts';
import { angle, fixed, uint } from '../shared/protocol/quantize.ts';
import { moveAxes, type Axes, type Controls, type DrawView } from '../shared/sim/view.ts';

/** Side of the square world, in world units. */
export const WORLD_SIZE = 2048;
/** Player speed, units per second. */
export const PLAYER_SPEED = 200;
/** NPC speed, units per second. */
export const NPC_SPEED = 100;
/** Seconds between NPC heading changes. */
export const NPC_TURN_SEC = 2;
/** Entity kinds (the Kind.value field). */
export const KIND_PLAYER = 0;
export const KIND_NPC = 1;
/** Radii per kind, in world units. */
export const RADIUS = [16, 12] as const;

const D = Math.SQRT1_2;
/** Unit vectors for input directions 1..8 (0 = idle): E, NE, N, NW, W, SW, S, SE; y grows downwards. */
export const DIR_X = [0, 1, D, 0, -D, -1, -D, 0, D] as const;
export const DIR_Y = [0, 0, -D, -1, -D, 0, D, 1, D] as const;
/** Facing angle of each direction, radians. */
export const DIR_ANGLE = DIR_X.map((x, i) => (i === 0 ? 0 : Math.atan2(DIR_Y[i], x)));

const f32 = (n: number): Float32Array => new Float32Array(n);

function components(n: number) {
  return {
    Kind: { value: new Uint8Array(n) },
    Position: { x: f32(n), y: f32(n) },
    Facing: { angle: f32(n) },
    Health: { hp: new Uint8Array(n) },
    Velocity: { x: f32(n), y: f32(n) },
    Wander: { nextTurnTick: new Uint32Array(n) },
    Player: {},
  };
}
type C = ReturnType<typeof components>;
type Input = { dir: number };
type Ctx = GameContext<C>;

const clamp = (v: number, lo: number, hi: number): number => (v < lo ? lo : v > hi ? hi : v);

function spawnNpc(ctx: Ctx, index: number, turnPeriodTicks: number, size: number): void {
  const { c, world, rng } = ctx;
  const eid = ctx.spawn();
  for (const comp of [c.Kind, c.Position, c.Facing, c.Health, c.Velocity, c.Wander]) addComponent(world, eid, comp);
  c.Kind.value[eid] = KIND_NPC;
  c.Position.x[eid] = rng.range(0, size);
  c.Position.y[eid] = rng.range(0, size);
  c.Health.hp[eid] = 100;
  c.Velocity.x[eid] = 0;
  c.Velocity.y[eid] = 0;
  c.Wander.nextTurnTick[eid] = index % turnPeriodTicks; // phase offset per NPC
}

/** NPCs pick a new heading (or stop, p = 0.25) every NPC_TURN_SEC, move, and reflect off the bounds of a square world of side `size`. */
function npcSystem(ctx: Ctx, size: number) {
  const npcs = ctx.query([ctx.c.Wander]);
  const period = Math.round(NPC_TURN_SEC * ctx.tickRateHz);
  const speed = NPC_SPEED;
  return (x: Ctx): void => {
    const { Position: p, Velocity: v, Facing: fa, Wander: w } = x.c;
    const list = npcs();
    for (let i = 0; i < list.length; i++) {
      const e = list[i];
      if (x.tick >= w.nextTurnTick[e]) {
        w.nextTurnTick[e] = x.tick + period;
        if (x.rng.next() < 0.25) {
          v.x[e] = 0;
          v.y[e] = 0;
        } else {
          const a = x.rng.range(-Math.PI, Math.PI);
          v.x[e] = Math.cos(a) * speed;
          v.y[e] = Math.sin(a) * speed;
          fa.angle[e] = a;
        }
      }
      let nx = p.x[e] + v.x[e] * x.dtSec;
      let ny = p.y[e] + v.y[e] * x.dtSec;
      if (nx < 0 || nx > size) {
        nx = nx < 0 ? -nx : 2 * size - nx;
        v.x[e] = -v.x[e];
        fa.angle[e] = Math.atan2(v.y[e], v.x[e]);
      }
      if (ny < 0 || ny > size) {
        ny = ny < 0 ? -ny : 2 * size - ny;
        v.y[e] = -v.y[e];
        fa.angle[e] = Math.atan2(v.y[e], v.x[e]);
      }
      p.x[e] = nx;
      p.y[e] = ny;
    }
  };
}

/** Once a second, 2% of all entities (chosen at random) get a new random hp in 0..100. */
function hpSystem(ctx: Ctx) {
  const living = ctx.query([ctx.c.Health]);
  return (x: Ctx): void => {
    if (x.tick % x.tickRateHz !== 0) return;
    const list = living();
    const n = Math.round(list.length * 0.02);
    for (let k = 0; k < n; k++) x.c.Health.hp[list[x.rng.int(list.length)]] = x.rng.int(101);
  };
}

/** Direction input (0..8) of a pair of axes, indexed (y + 1) * 3 + (x + 1). */
const DIR_OF_AXES = [4, 3, 2, 5, 0, 1, 6, 7, 8] as const;
const axes: Axes = { x: 0, y: 0 };
const controlled: Input = { dir: 0 };

/** Keys or the held pointer to one of the eight directions (allocates nothing). */
function controls(c: Controls): Input {
  const a = moveAxes(c, axes);
  controlled.dir = DIR_OF_AXES[(a.y + 1) * 3 + (a.x + 1)];
  return controlled;
}

// What drawEntity reads: set by draw before each frame's visit (no closure per frame).
let g: CanvasRenderingContext2D;
let view: DrawView;

/** One entity as the arena has always looked: a disc, its facing, an hp bar and the player's name. */
function drawEntity(eid: number, x: number, y: number): void {
  const scale = view.pixelsPerUnit;
  const self = eid === view.selfEid;
  const npc = view.field(eid, 'Kind.value') === KIND_NPC;
  const r = npc ? RADIUS[1] : RADIUS[0];
  g.beginPath();
  g.arc(x, y, r, 0, Math.PI * 2);
  g.fillStyle = self ? '#ffd23f' : npc ? '#b07a45' : '#3f8fe0';
  g.fill();
  if (self) {
    g.lineWidth = 3 / scale;
    g.strokeStyle = '#ffffff';
    g.stroke();
    g.beginPath();
    g.arc(x, y, r + 8 / scale + 4, 0, Math.PI * 2);
    g.strokeStyle = 'rgba(255,210,63,0.45)';
    g.stroke();
  }
  const a = view.field(eid, 'Facing.angle') ?? 0;
  g.beginPath();
  g.moveTo(x, y);
  g.lineTo(x + Math.cos(a) * r, y + Math.sin(a) * r);
  g.lineWidth = 2 / scale;
  g.strokeStyle = '#0b0e13';
  g.stroke();
  const bh = Math.max(3, 4 / scale);
  const by = y - r - bh - 4 / scale;
  g.fillStyle = '#2a0f12';
  g.fillRect(x - r, by, r * 2, bh);
  const share = Math.max(0, Math.min(1, (view.field(eid, 'Health.hp') ?? 100) / 100));
  g.fillStyle = share > 0.5 ? '#4cc26a' : share > 0.25 ? '#e0b43f' : '#e05050';
  g.fillRect(x - r, by, r * 2 * share, bh);
  const name = view.name(eid);
  if (name !== undefined) view.label(name, x, by);
}

/** What distinguishes one arena from another. */
export interface ArenaOptions {
  /** Game name (part of the config hash). */
  readonly name: string;
  /** Side of the square world, world units. */
  readonly worldSize: number;
  /** Default NPC count (parameter `npcs`). */
  readonly npcs: number;
  /** What each player sees; omitted: everything. */
  readonly interest?: InterestRules<C>;
}

/** An arena game on a square world of `worldSize` (arena-v1's rules on any map). Parameter `npcs` sets the NPC count. */
export function arenaGame(o: ArenaOptions): GameDefinition<C, Input> {
  const size = o.worldSize;
  return defineGame<C, Input>({
    name: o.name,
    maxEntities: 4096,
    components,
    networked: {
      Kind: { value: uint(1) },
      Position: { x: fixed(0, size, 1 / 16), y: fixed(0, size, 1 / 16) },
      Facing: { angle: angle(8) },
      Health: { hp: uint(7) },
    },
    local: ['Velocity', 'Wander', 'Player'],
    input: { dir: uint(4) },
    defaultParams: { npcs: o.npcs },
    position: { x: 'Position.x', y: 'Position.y' },
    ...(o.interest ? { interest: o.interest } : {}),
    // A room a client creates by naming it starts with 50 NPCs (its creator may ask for 0-100), not
    // the benchmark's 500: anyone can name a room, so a named room must cost little.
    clientRooms: { params: { npcs: 50 }, settable: { npcs: { min: 0, max: 100 } } },
    client: {
      world: { width: size, height: size },
      controls,
      help: 'WASD / arrows, or hold the mouse or a finger where to go',
      draw(g2, v) {
        g = g2;
        view = v;
        v.forEach(drawEntity);
      },
    },
    stepPlayer(c, eid, input, dtSec) {
      const dir = input.dir > 8 ? 0 : input.dir;
      if (dir === 0) return;
      c.Position.x[eid] = clamp(c.Position.x[eid] + DIR_X[dir] * PLAYER_SPEED * dtSec, 0, size);
      c.Position.y[eid] = clamp(c.Position.y[eid] + DIR_Y[dir] * PLAYER_SPEED * dtSec, 0, size);
      c.Facing.angle[eid] = DIR_ANGLE[dir];
    },
    setup(ctx) {
      const npcs = clamp(Math.floor(ctx.params.npcs ?? o.npcs), 0, 4000);
      const period = Math.round(NPC_TURN_SEC * ctx.tickRateHz);
      for (let i = 0; i < npcs; i++) spawnNpc(ctx, i, period, size);
    },
    systems: (ctx) => [npcSystem(ctx, size), hpSystem(ctx)],
    spawnPlayer(ctx, _info) {
      const { c, world, rng } = ctx;
      const eid = ctx.spawn();
      for (const comp of [c.Kind, c.Position, c.Facing, c.Health, c.Player]) addComponent(world, eid, comp);
      c.Kind.value[eid] = KIND_PLAYER;
      c.Position.x[eid] = rng.range(64, size - 64);
      c.Position.y[eid] = rng.range(64, size - 64);
      c.Facing.angle[eid] = 0;
      c.Health.hp[eid] = 100;
      return eid;
    },
  });
}

/** The arena-v1 game definition (docs/scenario-arena-v1.md). Parameter `npcs` (default 500) sets the NPC count. */
export const arena = arenaGame({ name: 'arena-v1', worldSize: WORLD_SIZE, npcs: 500 });
