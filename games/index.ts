// Registry of the games this build can host, by name.
import type { AnyGame } from '../shared/sim/game.ts';
import { validateGame } from '../shared/sim/validate.ts';
import { arena } from './arena.ts';
import { arenaV2 } from './arena-v2.ts';
import { orbit } from './orbit.ts';
import { tag } from './tag.ts';

/** Games by name, each checked when registered (validateGame throws naming the game, component and field). */
export const GAMES: Readonly<Record<string, AnyGame>> = Object.freeze(Object.fromEntries([tag, arena, arenaV2, orbit].map((g) => [g.name, validateGame(g)])));
