// Bot behaviour scripts: what input a bot sends at each input step. Built in: arena-v1's seeded
// random walk, idle, and chase-nearest-player; a game developer registers their own with
// registerScript() (here, or in a module passed to the bots with --script-module).
import type { AnyGame } from '../../shared/sim/game.ts';
import type { Rng } from '../../shared/sim/rng.ts';
import { DIR_X, DIR_Y, KIND_PLAYER } from '../../games/arena.ts';

/** Read-only view of the newest world state a bot has decoded (entities in id order). */
export interface ScriptWorld {
  /** Tick of this state. */
  readonly tick: number;
  /** The bot's own entity id (-1 before the welcome). */
  readonly selfEid: number;
  /** Number of entities. */
  count(): number;
  /** Entity id at index i (0 <= i < count()). */
  id(i: number): number;
  /** Index of entity `eid`, or -1. */
  indexOf(eid: number): number;
  /** Dequantized value of networked field `name` ("Component.field") of the entity at index i; undefined when it lacks that component. */
  field(i: number, name: string): number | undefined;
}

/** What a script gets when a bot starts. */
export interface BotScriptContext {
  /** Index of the bot in the whole run (0-based). */
  readonly botIndex: number;
  /** The bot's own PRNG, seeded from the run seed and the bot index. */
  readonly rng: Rng;
  /** Inputs the bot sends per second. */
  readonly inputRateHz: number;
  /** The game the server runs. */
  readonly game: AnyGame;
}

/** One bot's running behaviour. */
export interface BotBrain {
  /**
   * Called once per input step (inputRateHz); returns the input to send. `world` is the newest
   * decoded state, or undefined (thin bots whose script does not need the world, or before the
   * first snapshot). The returned object may be reused between calls.
   */
  next(nowMs: number, world: ScriptWorld | undefined): Readonly<Record<string, number>>;
}

/** A named behaviour. */
export interface BotScript {
  /** Name used by --script. */
  readonly name: string;
  /** One line for --help. */
  readonly description: string;
  /** True when the script reads the world: thin bots then decode snapshots too (no prediction or interpolation). */
  readonly needsWorld: boolean;
  /** Creates the behaviour of one bot. */
  create(ctx: BotScriptContext): BotBrain;
}

const registry = new Map<string, BotScript>();

/** Adds a script (replacing one of the same name) and returns it. */
export function registerScript(script: BotScript): BotScript {
  if (!/^[a-z0-9][a-z0-9._-]*$/i.test(script.name)) throw new RangeError(`bad script name ${JSON.stringify(script.name)}`);
  registry.set(script.name, script);
  return script;
}

/** The script named `name`; throws listing the known names when there is none. */
export function getScript(name: string): BotScript {
  const s = registry.get(name);
  if (!s) throw new Error(`unknown bot script ${JSON.stringify(name)}; known: ${scriptNames().join(', ')}`);
  return s;
}

/** Names of all registered scripts. */
export function scriptNames(): string[] {
  return [...registry.keys()];
}

/** Shortest and longest time between input changes of the arena-v1 walk, ms (scenario-arena-v1.md). */
export const WALK_CHANGE_MIN_MS = 250;
export const WALK_CHANGE_MAX_MS = 750;

/**
 * arena-v1's client behaviour: one of 8 directions or idle (dir 0..8, uniform), changed to a new
 * random choice every 250..750 ms (uniform), from the bot's own seeded PRNG.
 */
export const arenaWalk = registerScript({
  name: 'arena-v1',
  description: 'seeded random walk: a new direction (8 or idle) every 250..750 ms',
  needsWorld: false,
  create({ rng }) {
    const input = { dir: 0 };
    let changeAtMs = -1;
    return {
      next(nowMs) {
        if (changeAtMs < 0 || nowMs >= changeAtMs) {
          input.dir = rng.int(9);
          // keep the schedule anchored so a late call does not stretch the interval
          const base = changeAtMs < 0 ? nowMs : changeAtMs;
          changeAtMs = base + rng.range(WALK_CHANGE_MIN_MS, WALK_CHANGE_MAX_MS);
          if (changeAtMs <= nowMs) changeAtMs = nowMs + rng.range(WALK_CHANGE_MIN_MS, WALK_CHANGE_MAX_MS);
        }
        return input;
      },
    };
  },
});

/** Stands still (input 0 for every field), still sending inputs at the input rate. */
export const idle = registerScript({
  name: 'idle',
  description: 'sends the idle input (all zeros) at the input rate',
  needsWorld: false,
  create() {
    const input: Record<string, number> = {};
    return { next: () => input };
  },
});

/** The arena direction (1..8) closest to the vector (dx, dy); 0 for a zero vector. */
export function arenaDirToward(dx: number, dy: number): number {
  if (dx === 0 && dy === 0) return 0;
  let best = 0;
  let bestDot = -Infinity;
  for (let d = 1; d <= 8; d++) {
    const dot = dx * DIR_X[d] + dy * DIR_Y[d];
    if (dot > bestDot) {
      bestDot = dot;
      best = d;
    }
  }
  return best;
}

/** Distance under which a chasing bot stops (two player radii), world units. */
export const CHASE_STOP_UNITS = 32;
/** How often a chasing bot picks its target again, ms. */
export const CHASE_RETARGET_MS = 250;

/** Walks toward the nearest other player (arena-v1 components Kind and Position); idle when alone. */
export const chaseNearest = registerScript({
  name: 'chase-nearest',
  description: 'walks toward the nearest other player; idle when alone',
  needsWorld: true,
  create() {
    const input = { dir: 0 };
    let target = -1;
    let retargetAtMs = 0;
    return {
      next(nowMs, world) {
        input.dir = 0;
        if (!world || world.selfEid < 0) return input;
        const me = world.indexOf(world.selfEid);
        if (me < 0) return input;
        const mx = world.field(me, 'Position.x') ?? 0;
        const my = world.field(me, 'Position.y') ?? 0;
        if (nowMs >= retargetAtMs || world.indexOf(target) < 0) {
          retargetAtMs = nowMs + CHASE_RETARGET_MS;
          target = nearestPlayer(world, me, mx, my);
        }
        const ti = target < 0 ? -1 : world.indexOf(target);
        if (ti < 0) return input;
        const dx = (world.field(ti, 'Position.x') ?? mx) - mx;
        const dy = (world.field(ti, 'Position.y') ?? my) - my;
        if (dx * dx + dy * dy > CHASE_STOP_UNITS * CHASE_STOP_UNITS) input.dir = arenaDirToward(dx, dy);
        return input;
      },
    };
  },
});

function nearestPlayer(world: ScriptWorld, me: number, mx: number, my: number): number {
  let best = -1;
  let bestD2 = Infinity;
  const n = world.count();
  for (let i = 0; i < n; i++) {
    if (i === me || world.field(i, 'Kind.value') !== KIND_PLAYER) continue;
    const x = world.field(i, 'Position.x');
    const y = world.field(i, 'Position.y');
    if (x === undefined || y === undefined) continue;
    const d2 = (x - mx) * (x - mx) + (y - my) * (y - my);
    if (d2 < bestD2) {
      bestD2 = d2;
      best = world.id(i);
    }
  }
  return best;
}
