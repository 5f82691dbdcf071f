// The arena-v2 benchmark game (docs/scenario-arena-v2.md): arena-v1's rules on a map 4 times as
// wide, with 2,000 NPCs by default and interest management, so each player sees about 50 entities
// of a room of 1,000 players.
import { arenaGame } from './arena.ts';

/** Side of the square world, world units. */
export const ARENA_V2_WORLD_SIZE = 8192;
/** Default NPC count. */
export const ARENA_V2_NPCS = 2000;
/** Entities within this distance of a player enter its view, world units. */
export const ARENA_V2_VIEW_RADIUS = 600;
/** Entities in a player's view leave it beyond this distance, world units. */
export const ARENA_V2_LEAVE_RADIUS = 660;

/** The arena-v2 game definition. Parameter `npcs` (default 2000) sets the NPC count. */
export const arenaV2 = arenaGame({
  name: 'arena-v2',
  worldSize: ARENA_V2_WORLD_SIZE,
  npcs: ARENA_V2_NPCS,
  interest: { viewRadius: ARENA_V2_VIEW_RADIUS, leaveRadius: ARENA_V2_LEAVE_RADIUS },
});
