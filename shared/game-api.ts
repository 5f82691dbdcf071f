// The public game API (`tickwire/game`): defineGame and its types, the quantizers, the client view helpers, validation, a registry builder, and the bitecs calls a game needs.
import type { AnyGame } from './sim/game.ts';
import { validateGame } from './sim/validate.ts';

export { defineGame } from './sim/game.ts';
export type { AnyGame, ClientRoomRules, Component, Components, GameContext, GameDefinition, InputValues, InterestRules, LagCompensationRules, NetworkedFields, Store, System } from './sim/game.ts';
export { angle, bool, fixed, int, uint } from './protocol/quantize.ts';
export type { Quantizer } from './protocol/quantize.ts';
export { keyAxes, moveAxes, pointerAxes } from './sim/view.ts';
export type { BotBrain, BotScript, BotScriptContext, Controls, DrawView, GameClient, ScriptWorld } from './sim/view.ts';
export { newRayHit, segmentBox, segmentCircle, segmentHitbox } from './sim/lagcomp.ts';
export type { Hitbox, LagCompensation, RayHit } from './sim/lagcomp.ts';
export { GameDefinitionError, gameProblems, validateGame } from './sim/validate.ts';
export { unclassifiedComponents } from './protocol/schema.ts';
export type { Rng } from './sim/rng.ts';
// The entity calls of the one bitecs copy the engine runs on (a game needs no bitecs dependency of its own).
export { addComponent, entityExists, hasComponent, removeComponent } from 'bitecs';

/** Games by name: what a registry module exports as `GAMES` (`tickwire start` hosts them, the bundled client and the bots play them). */
export type GameRegistry = Readonly<Record<string, AnyGame>>;

/**
 * Builds a registry from a list of games: validates each (validateGame throws naming the game,
 * component and field) and refuses two games with one name. The result is frozen.
 */
export function defineGames(games: readonly AnyGame[]): GameRegistry {
  const out: Record<string, AnyGame> = {};
  for (const g of games) {
    validateGame(g);
    if (Object.hasOwn(out, g.name)) throw new Error(`two games are named ${JSON.stringify(g.name)}`);
    out[g.name] = g;
  }
  return Object.freeze(out);
}
