// Bot behaviour scripts: what input a bot sends at each input step. Built in: arena-v1's seeded
// random walk, idle, random input for any game and chase-nearest-player; a game ships its own as
// `client.bot` (registered here automatically, and the default for that game), and a game
// developer registers more with registerScript() (here, or in a module passed with --script-module).
import type { AnyGame } from '../../shared/sim/game.ts';
import type { Quantizer } from '../../shared/protocol/quantize.ts';
import type { BotBrain, BotScript, BotScriptContext, ScriptWorld } from '../../shared/sim/view.ts';
import { DIR_X, DIR_Y, KIND_PLAYER } from '../../games/arena.ts';
import { GAMES } from '../../games/index.ts';

// The script types live with the game API (a game module may ship a script and imports only shared/).
export type { BotBrain, BotScript, BotScriptContext, ScriptWorld };

/**
 * The registry, by name. It lives on globalThis so that a script module loaded as CommonJS (a .ts
 * file outside any "type": "module" package gets its own copy of this file) registers into the
 * same one; `origins` records who registered each name (a game, or registerScript).
 */
const state = ((globalThis as unknown as Record<symbol, { scripts: Map<string, BotScript>; origins: Map<string, string> } | undefined>)[Symbol.for('tickwire.botScripts')] ??= {
  scripts: new Map(),
  origins: new Map(),
});
const registry = state.scripts;

/** True when `script` is written for `game` (a script that names no games fits every game). */
export function scriptFits(script: BotScript, game: string): boolean {
  return !script.games || script.games.length === 0 || script.games.includes(game);
}

/** Adds a script (replacing one of the same name) and returns it. */
export function registerScript(script: BotScript): BotScript {
  return register(script, 'registerScript');
}

function register(script: BotScript, origin: string): BotScript {
  if (!/^[a-z0-9][a-z0-9._-]*$/i.test(script.name)) throw new RangeError(`bad script name ${JSON.stringify(script.name)}`);
  if (script.games !== undefined && (!Array.isArray(script.games) || script.games.some((g) => typeof g !== 'string' || g === ''))) {
    throw new RangeError(`bot script ${JSON.stringify(script.name)}: games must be a list of game names`);
  }
  registry.set(script.name, script);
  state.origins.set(script.name, origin);
  return script;
}

/**
 * The script named `name`. With `game`, it must be written for that game. Throws listing the
 * known names (for that game, when given) when there is none, and naming the games the script is
 * written for when it does not fit.
 */
export function getScript(name: string, game?: string): BotScript {
  const s = registry.get(name);
  const forGame = game === undefined ? '' : ` for ${game}`;
  if (!s) throw new Error(`unknown bot script ${JSON.stringify(name)}; known${forGame}: ${scriptNames(game).join(', ')}`);
  if (game !== undefined && !scriptFits(s, game)) {
    throw new Error(`bot script ${JSON.stringify(name)} is written for ${s.games!.join(', ')}, not for ${game}; scripts for ${game}: ${scriptNames(game).join(', ')}`);
  }
  return s;
}

/** Names of the registered scripts; with `game`, only those written for it. */
export function scriptNames(game?: string): string[] {
  return [...registry.values()].filter((s) => game === undefined || scriptFits(s, game)).map((s) => s.name);
}

/**
 * Default scripts of games whose behaviour a benchmark scenario fixes: arena-v1's bots walk as
 * docs/scenario-arena-v1.md says (and arena-v2's as arena-v1's, docs/scenario-arena-v2.md), whatever the game itself ships.
 */
const SCENARIO_DEFAULTS: Readonly<Record<string, string>> = { 'arena-v1': 'arena-v1', 'arena-v2': 'arena-v1' };

/** Script used when none is named: the scenario's for arena-v1, else the game's own `client.bot`, else `random-input`. */
export function defaultScriptName(game: string, games: Readonly<Record<string, AnyGame>> = GAMES): string {
  return SCENARIO_DEFAULTS[game] ?? games[game]?.client?.bot?.name ?? 'random-input';
}

/** The game a script runs for (from the registry of games by the context's name); throws for an unknown one. */
export function scriptGame(ctx: BotScriptContext): AnyGame {
  const g = registeredGames.get(ctx.gameName) ?? (Object.hasOwn(GAMES, ctx.gameName) ? GAMES[ctx.gameName] : undefined);
  if (!g) throw new Error(`bot script: unknown game ${JSON.stringify(ctx.gameName)}; known: ${Object.keys(GAMES).join(', ')}`);
  return g;
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
  games: ['arena-v1', 'arena-v2'],
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

/**
 * Any game: every input field gets a uniform random value of its whole range (one of its
 * quantized values), all changed together every 250..750 ms, from the bot's own seeded PRNG.
 */
export const randomInput = registerScript({
  name: 'random-input',
  description: 'any game: every input field a uniform random value of its range, changed every 250..750 ms',
  needsWorld: false,
  create(ctx) {
    const fields = Object.entries(scriptGame(ctx).input as Record<string, Quantizer>);
    const { rng } = ctx;
    const input: Record<string, number> = {};
    let changeAtMs = -1;
    return {
      next(nowMs) {
        if (changeAtMs < 0 || nowMs >= changeAtMs) {
          for (const [name, q] of fields) input[name] = q.dequantize(rng.int(q.maxQ + 1));
          const base = changeAtMs < 0 ? nowMs : changeAtMs;
          changeAtMs = base + rng.range(WALK_CHANGE_MIN_MS, WALK_CHANGE_MAX_MS);
          if (changeAtMs <= nowMs) changeAtMs = nowMs + rng.range(WALK_CHANGE_MIN_MS, WALK_CHANGE_MAX_MS);
        }
        return input;
      },
    };
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
  games: ['arena-v1'],
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

/** Games whose scripts were registered, by name (scriptGame finds a game project's games here). */
const registeredGames = new Map<string, AnyGame>();

/**
 * Registers the bot script each game ships (`client.bot`); done for the games of games/index.ts
 * when this module loads. A name another script already has is an error naming both, so a game
 * cannot silently replace a built-in.
 */
export function registerGameScripts(games: Readonly<Record<string, AnyGame>> = GAMES): void {
  for (const game of Object.values(games)) {
    registeredGames.set(game.name, game);
    const bot = game.client?.bot;
    if (!bot) continue;
    const origin = `game ${game.name}`;
    if (registry.has(bot.name) && state.origins.get(bot.name) !== origin) {
      throw new Error(`game ${JSON.stringify(game.name)} ships bot script ${JSON.stringify(bot.name)}, a name another script has (${state.origins.get(bot.name)}); rename it`);
    }
    register(bot, origin);
  }
}
registerGameScripts();
