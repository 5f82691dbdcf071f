// my-game: players run around a square field collecting coins; a coin a player touches scores a point and reappears elsewhere.
import { addComponent, defineGame, fixed, int, moveAxes, uint, type GameContext } from 'tickwire/game';

/** Side of the square field, world units. */
export const SIZE = 800;
/** Player speed, units per second. */
export const SPEED = 200;
/** Coins on the field. */
export const COINS = 8;
/** A player this close to a coin picks it up, world units. */
export const PICKUP = 24;
/** Entity kinds (Kind.value). */
export const KIND_PLAYER = 0;
export const KIND_COIN = 1;

const components = (n: number) => ({
  Kind: { value: new Uint8Array(n) },
  Pos: { x: new Float32Array(n), y: new Float32Array(n) },
  Score: { points: new Uint16Array(n) },
  Player: {},
});
type C = ReturnType<typeof components>;
type Input = { x: number; y: number };

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

/** Puts a coin at a random place (the room's seeded PRNG: never Math.random). */
function placeCoin(ctx: GameContext<C>, eid: number): void {
  ctx.c.Pos.x[eid] = ctx.rng.range(PICKUP, SIZE - PICKUP);
  ctx.c.Pos.y[eid] = ctx.rng.range(PICKUP, SIZE - PICKUP);
}

const input: Input = { x: 0, y: 0 };

/** The game: every field of every component is networked or local, the input is two axes. */
export const game = defineGame<C, Input>({
  name: 'my-game',
  maxEntities: 256,
  components,
  networked: {
    Kind: { value: uint(1) },
    Pos: { x: fixed(0, SIZE, 1 / 8), y: fixed(0, SIZE, 1 / 8) },
    Score: { points: uint(16) },
  },
  local: ['Player'],
  input: { x: int(-1, 1), y: int(-1, 1) },
  position: { x: 'Pos.x', y: 'Pos.y' },
  // Runs on the server and in the client's prediction: deterministic, this entity only.
  stepPlayer(c, eid, i, dtSec) {
    const len = Math.hypot(i.x, i.y);
    if (len === 0) return;
    c.Pos.x[eid] = clamp(c.Pos.x[eid] + (i.x / len) * SPEED * dtSec, 0, SIZE);
    c.Pos.y[eid] = clamp(c.Pos.y[eid] + (i.y / len) * SPEED * dtSec, 0, SIZE);
  },
  setup(ctx) {
    for (let k = 0; k < COINS; k++) {
      const eid = ctx.spawn();
      addComponent(ctx.world, eid, ctx.c.Kind);
      addComponent(ctx.world, eid, ctx.c.Pos);
      ctx.c.Kind.value[eid] = KIND_COIN;
      placeCoin(ctx, eid);
    }
  },
  systems: (ctx) => {
    const players = ctx.query([ctx.c.Player]);
    const things = ctx.query([ctx.c.Kind, ctx.c.Pos]);
    return [
      (x) => {
        const { Kind, Pos, Score } = x.c;
        for (const p of players()) {
          for (const coin of things()) {
            if (Kind.value[coin] !== KIND_COIN || Math.hypot(Pos.x[coin] - Pos.x[p], Pos.y[coin] - Pos.y[p]) > PICKUP) continue;
            Score.points[p] = (Score.points[p] + 1) & 0xffff;
            placeCoin(x, coin);
          }
        }
      },
    ];
  },
  spawnPlayer(ctx) {
    const eid = ctx.spawn();
    for (const comp of [ctx.c.Kind, ctx.c.Pos, ctx.c.Score, ctx.c.Player]) addComponent(ctx.world, eid, comp);
    ctx.c.Kind.value[eid] = KIND_PLAYER;
    ctx.c.Pos.x[eid] = ctx.rng.range(0, SIZE);
    ctx.c.Pos.y[eid] = ctx.rng.range(0, SIZE);
    return eid;
  },
  // How the bundled browser client and the bots show and drive the game.
  client: {
    world: { width: SIZE, height: SIZE },
    help: 'WASD or arrows (or hold the pointer) to move; run over the coins',
    controls(c) {
      const a = moveAxes(c);
      input.x = a.x;
      input.y = a.y;
      return input;
    },
    draw(g, view) {
      view.forEach((eid, x, y) => {
        const coin = view.field(eid, 'Kind.value') === KIND_COIN;
        g.fillStyle = coin ? '#f5c542' : eid === view.selfEid ? '#4fc3f7' : '#9e9e9e';
        g.beginPath();
        g.arc(x, y, coin ? 8 : 14, 0, Math.PI * 2);
        g.fill();
        if (!coin) g.fillText(`${view.name(eid) ?? ''} ${view.field(eid, 'Score.points') ?? 0}`, x + 18, y);
      });
    },
    bot: {
      name: 'my-game-walk',
      description: 'a new random direction every half second',
      needsWorld: false,
      create({ rng }) {
        const out = { x: 0, y: 0 };
        let changeAtMs = 0;
        return {
          next(nowMs) {
            if (nowMs >= changeAtMs) {
              changeAtMs = nowMs + 500;
              out.x = rng.int(3) - 1;
              out.y = rng.int(3) - 1;
            }
            return out;
          },
        };
      },
    },
  },
});
