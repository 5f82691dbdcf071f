// The games this bundle can play: games/index.ts's registry plus the modules the build was given
// (client/extra-games.ts), each validated; the page picks the one the server names in GET /config.
import { GAMES } from '../games/index.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import { validateGame } from '../shared/sim/validate.ts';
import { EXTRA_GAME_MODULES } from './extra-games.ts';

/** True for a value shaped like a game definition (what defineGame returns). */
export function looksLikeGame(v: unknown): v is AnyGame {
  const g = v as Partial<AnyGame> | null;
  return typeof g === 'object' && g !== null && typeof g.name === 'string' && typeof g.components === 'function' && typeof g.stepPlayer === 'function' && typeof g.systems === 'function';
}

/** The games a module exports: its default export and its named ones (a game, or an array of games). */
export function gamesOfModule(mod: Readonly<Record<string, unknown>>): AnyGame[] {
  const out: AnyGame[] = [];
  for (const v of Object.values(mod)) {
    for (const x of Array.isArray(v) ? v : [v]) if (looksLikeGame(x) && !out.includes(x)) out.push(x);
  }
  return out;
}

/**
 * Every game of the bundle by name: the registry's, then the extra modules' (an extra game of the
 * same name replaces the registry's). Throws a GameDefinitionError for an extra game that is not valid.
 */
export function bundledGames(extra: readonly Readonly<Record<string, unknown>>[] = EXTRA_GAME_MODULES): Record<string, AnyGame> {
  const out: Record<string, AnyGame> = { ...GAMES };
  for (const mod of extra) for (const g of gamesOfModule(mod)) out[g.name] = validateGame(g);
  return out;
}
