// The games this project hosts, by name: `tickwire start` serves them, the bundled browser client and the bots play them.
import { defineGames } from 'tickwire/game';
import { game } from './game.ts';

/** Every game of the project, each validated when registered; the first is hosted unless TICKWIRE_GAME names another. */
export const GAMES = defineGames([game]);
