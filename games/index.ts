// Registry of the games this build can host, by name.
import type { AnyGame } from '../shared/sim/game.ts';
import { arena } from './arena.ts';
import { orbit } from './orbit.ts';

/** Games by name; `arena-v1` is the default. */
export const GAMES: Readonly<Record<string, AnyGame>> = { 'arena-v1': arena, orbit };
