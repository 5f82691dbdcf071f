// A second, tiny example game: players steer a dot with a thrust input; dots orbit the centre and
// wrap around the edges. Shows the API with a different component set and input format.
import { addComponent } from 'bitecs';
import { defineGame } from '../shared/sim/game.ts';
import { fixed, int, uint } from '../shared/protocol/quantize.ts';
import { moveAxes, type Axes } from '../shared/sim/view.ts';

const SIZE = 1024;
const axes: Axes = { x: 0, y: 0 };
const steer = { ax: 0, ay: 0 };
const comps = (n: number) => ({ Pos: { x: new Float32Array(n), y: new Float32Array(n) }, Score: { points: new Uint16Array(n) } });

/** Orbit: input {ax, ay} in -1..1 pushes the dot 150 units/s; each tick near the centre scores a point. */
export const orbit = defineGame<ReturnType<typeof comps>, { ax: number; ay: number }>({
  name: 'orbit',
  maxEntities: 256,
  components: comps,
  networked: { Pos: { x: fixed(0, SIZE, 1 / 8), y: fixed(0, SIZE, 1 / 8) }, Score: { points: uint(16) } },
  local: [],
  input: { ax: int(-1, 1), ay: int(-1, 1) },
  position: { x: 'Pos.x', y: 'Pos.y' },
  // How the browser client shows it: the default renderer (a disc per dot), a score table.
  client: {
    world: { width: SIZE, height: SIZE },
    controls(c) {
      moveAxes(c, axes);
      steer.ax = axes.x;
      steer.ay = axes.y;
      return steer;
    },
    help: 'WASD / arrows, or hold the mouse or a finger where to go; stay near the centre to score',
    scoreboard: { field: 'Score.points', title: 'points' },
  },
  stepPlayer(c, eid, input, dtSec) {
    c.Pos.x[eid] = (c.Pos.x[eid] + input.ax * 150 * dtSec + SIZE) % SIZE;
    c.Pos.y[eid] = (c.Pos.y[eid] + input.ay * 150 * dtSec + SIZE) % SIZE;
  },
  systems: (ctx) => {
    const dots = ctx.query([ctx.c.Pos, ctx.c.Score]);
    return [
      (x) => {
        for (const e of dots()) {
          if (Math.hypot(x.c.Pos.x[e] - SIZE / 2, x.c.Pos.y[e] - SIZE / 2) < 100) x.c.Score.points[e] = (x.c.Score.points[e] + 1) & 0xffff;
        }
      },
    ];
  },
  spawnPlayer(ctx) {
    const eid = ctx.spawn();
    addComponent(ctx.world, eid, ctx.c.Pos);
    addComponent(ctx.world, eid, ctx.c.Score);
    ctx.c.Pos.x[eid] = ctx.rng.range(0, SIZE);
    ctx.c.Pos.y[eid] = ctx.rng.range(0, SIZE);
    return eid;
  },
});
