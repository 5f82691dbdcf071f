// The game API's safe defaults and checks: a spawned entity's fields start at zero (or the game's
// defaults) whatever its id held before; a game is validated when registered or hosted, with every
// problem named by game, component and field; clients take position fields from the game only.
import { addComponent } from 'bitecs';
import { describe, expect, it } from 'vitest';
import { arena } from '../games/arena.ts';
import { GAMES } from '../games/index.ts';
import { orbit } from '../games/orbit.ts';
import { ClientNetcode } from '../netcode/netcode.ts';
import { Predictor } from '../netcode/prediction.ts';
import { loadServerConfig } from '../server/config.ts';
import { TickwireServer } from '../server/server.ts';
import { fixed, int, uint } from '../shared/protocol/quantize.ts';
import { compileSchema } from '../shared/protocol/schema.ts';
import { createGameContext, defineGame, type AnyGame } from '../shared/sim/game.ts';
import { Rng } from '../shared/sim/rng.ts';
import { GameDefinitionError, gameProblems, validateGame } from '../shared/sim/validate.ts';
import { keyAxes, moveAxes, pointerAxes } from '../shared/sim/view.ts';

const comps = (n: number) => ({ Body: { cx: new Float32Array(n), cy: new Float32Array(n) }, Tally: { n: new Uint16Array(n) }, Brain: { mood: new Uint8Array(n) } });

/** A small valid game whose fields are named neither Position nor x/y. */
const plain = defineGame<ReturnType<typeof comps>, { go: number }>({
  name: 'plain',
  maxEntities: 64,
  components: comps,
  networked: { Body: { cx: fixed(0, 512, 1 / 4), cy: fixed(0, 512, 1 / 4) }, Tally: { n: uint(16) } },
  local: ['Brain'],
  input: { go: int(0, 4) },
  position: { x: 'Body.cx', y: 'Body.cy' },
  defaults: { Tally: { n: 3 }, Brain: { mood: 9 } },
  stepPlayer: () => undefined,
  systems: () => [],
  spawnPlayer(ctx) {
    const e = ctx.spawn();
    addComponent(ctx.world, e, ctx.c.Body);
    addComponent(ctx.world, e, ctx.c.Tally);
    return e;
  },
});

describe('spawned entities start clean', () => {
  it('every field of a reused id starts at zero or at the declared default', () => {
    const ctx = createGameContext(plain, new Rng(1), 60, {});
    const a = ctx.spawn();
    ctx.c.Body.cx[a] = 100;
    ctx.c.Tally.n[a] = 500;
    ctx.c.Brain.mood[a] = 1;
    ctx.despawn(a);
    const b = ctx.spawn();
    expect(b).toBe(a); // the id is reused
    expect([ctx.c.Body.cx[b], ctx.c.Body.cy[b], ctx.c.Tally.n[b], ctx.c.Brain.mood[b]]).toEqual([0, 0, 3, 9]);
  });

  it('an arena player spawned on a reused id has none of the old entity\'s state', () => {
    const ctx = createGameContext(arena, new Rng(2), 60, { npcs: 0 });
    arena.setup?.(ctx);
    const first = arena.spawnPlayer(ctx, { sessionId: 1, name: 'a' });
    ctx.c.Health.hp[first] = 3;
    ctx.c.Velocity.x[first] = 55;
    ctx.despawn(first);
    const again = arena.spawnPlayer(ctx, { sessionId: 2, name: 'b' });
    expect(again).toBe(first);
    expect(ctx.c.Velocity.x[again]).toBe(0);
    expect(ctx.c.Health.hp[again]).toBe(100); // what spawnPlayer sets, not what the old entity had
  });
});

describe('game validation', () => {
  it('accepts every registered game and the small example', () => {
    expect(Object.keys(GAMES).sort()).toEqual(['arena-v1', 'arena-v2', 'orbit', 'tag']);
    for (const g of Object.values(GAMES)) expect(gameProblems(g)).toEqual([]);
    expect(gameProblems(plain)).toEqual([]);
  });

  it('names the game, component and field of every problem', () => {
    const bad = {
      ...plain,
      name: 'broken',
      components: (n: number) => ({ ...comps(n), Extra: { v: new Float32Array(n) } }),
      networked: { Body: { cx: fixed(0, 512, 1 / 4), cy: fixed(0, 512, 1 / 4) }, Tally: { n: uint(20) }, Brain: { mood: uint(8) } },
      local: ['Brain'],
      position: { x: 'Body.cx', y: 'Body.nope' },
      defaults: { Tally: { n: 3 }, Body: { cz: 1 } },
    } as unknown as AnyGame;
    const problems = gameProblems(bad);
    expect(problems).toContain('component Brain: both networked and local');
    expect(problems).toContain('component Extra: neither networked nor local (add it to one of them)');
    expect(problems).toContain('networked field Tally.n: Uint16Array holds 0..65535 but the quantizer spans 0..1048575');
    expect(problems).toContain('position.y "Body.nope": not a networked field ("Component.field")');
    expect(problems).toContain('defaults Body.cz: no such field');
    expect(() => validateGame(bad)).toThrow(GameDefinitionError);
    expect(() => validateGame(bad)).toThrow(/game "broken" is not valid/);
  });

  it('catches a fractional quantizer on an integer store and a game view without position fields', () => {
    const g = { ...orbit, name: 'o2', networked: { Pos: { x: fixed(0, 1024, 1 / 8), y: fixed(0, 1024, 1 / 8) }, Score: { points: fixed(0, 10, 0.5) } } } as AnyGame;
    expect(gameProblems(g)).toContain('networked field Score.points: Uint16Array holds integers but the quantizer\'s steps are 0.5');
    const v = { ...orbit, name: 'o3', position: undefined, client: { world: { width: 1, height: 1 }, controls: () => ({ ax: 0, ay: 0 }) } } as AnyGame;
    expect(gameProblems(v)).toContain('position: a game with a client view must declare its position fields');
    const board = { ...orbit, name: 'o4', client: { ...orbit.client!, scoreboard: { field: 'Score.pts', mark: { field: 7, text: '!' } } } } as unknown as AnyGame;
    expect(gameProblems(board)).toEqual([
      'client.scoreboard.field "Score.pts": not a networked field ("Component.field")',
      'client.scoreboard.mark.field 7: not a networked field ("Component.field")',
    ]);
  });

  it('the server refuses to host an invalid game, naming the problem', () => {
    const g = { ...orbit, name: 'leaky', components: (n: number) => ({ Pos: { x: new Float32Array(n), y: new Float32Array(n) }, Score: { points: new Uint16Array(n) }, Secret: { v: new Uint8Array(n) } }) } as AnyGame;
    expect(() => new TickwireServer(loadServerConfig({}, { logLevel: 'silent', webrtc: false }), { game: g })).toThrow(/component Secret: neither networked nor local/);
  });
});

describe('position fields come from the game', () => {
  it('the predictor uses the declared fields, whatever their names', () => {
    const p = new Predictor(plain, compileSchema(plain));
    const schema = compileSchema(plain);
    expect(`${schema.fields[p.xField].component}.${schema.fields[p.xField].field}`).toBe('Body.cx');
    expect(`${schema.fields[p.yField].component}.${schema.fields[p.yField].field}`).toBe('Body.cy');
  });

  it('a client of a game without position fields fails with a message that says what to declare', () => {
    const g = { ...orbit, name: 'nowhere', position: undefined, client: undefined } as AnyGame;
    const io = { nowMs: () => 0, openWebSocket: () => { throw new Error('not used'); } };
    expect(() => new ClientNetcode(g, io, { url: 'http://x', name: 'n' })).toThrow(/declares no position fields \(GameDefinition.position/);
  });
});

describe('controls helpers', () => {
  it('map keys and a held pointer to axes', () => {
    expect(keyAxes(new Set(['KeyW', 'KeyD']))).toEqual({ x: 1, y: -1 });
    expect(keyAxes(new Set(['ArrowLeft', 'ArrowRight']))).toEqual({ x: 0, y: 0 });
    const c = { keys: new Set<string>(), pointer: { x: 110, y: 50, down: true }, self: { x: 10, y: 50 } };
    expect(pointerAxes(c)).toEqual({ x: 1, y: 0 });
    expect(pointerAxes({ ...c, pointer: { ...c.pointer, down: false } })).toEqual({ x: 0, y: 0 });
    expect(moveAxes({ ...c, keys: new Set(['KeyS']) })).toEqual({ x: 0, y: 1 });
  });

  it('fill the caller\'s object when given one (nothing allocated per frame)', () => {
    const out = { x: 9, y: 9 };
    const c = { keys: new Set<string>(), pointer: { x: 10, y: -90, down: true }, self: { x: 10, y: 10 } };
    expect(moveAxes(c, out)).toBe(out);
    expect(out).toEqual({ x: 0, y: -1 });
    expect(keyAxes(new Set(['KeyA']), out)).toBe(out);
    expect(out).toEqual({ x: -1, y: 0 });
    expect(pointerAxes({ ...c, pointer: undefined }, 8, out)).toEqual({ x: 0, y: 0 });
  });
});
