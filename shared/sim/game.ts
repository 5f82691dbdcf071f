// The public game API: components with their networked fields, the input format, the shared player
// step and the ordered systems. The engine knows games only through this interface.
import { addEntity, createWorld, Or, registerQuery, commitRemovals, removeEntity, entityExists, type World, type QueryTerm } from 'bitecs';
import type { Quantizer } from '../protocol/quantize.ts';
import type { Rng } from './rng.ts';
import type { GameClient } from './view.ts';
import type { Hitbox, LagCompensation } from './lagcomp.ts';

/** A typed array holding one field of a component for every entity id (structure of arrays). */
export type Store = Float32Array | Float64Array | Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array;

/** A component: named field stores, indexed by entity id. A component with no fields is a tag. */
export type Component = Record<string, Store>;

/** All components of a game, by name. */
export type Components = Record<string, Component>;

/** An input: named integer-valued fields. */
export type InputValues = Record<string, number>;

/** Quantizers for the networked fields of each networked component. */
export type NetworkedFields<C extends Components> = { [K in keyof C]?: { [F in keyof C[K]]: Quantizer } };

/** What systems and hooks receive each tick. Times are in simulation ticks and seconds of simulation. */
export interface GameContext<C extends Components> {
  /** The room's bitecs world. */
  readonly world: World;
  /** The room's component stores. */
  readonly c: C;
  /** Seeded random numbers for this room (never Math.random). */
  readonly rng: Rng;
  /** Current simulation tick (integer, starts at 0). */
  tick: number;
  /** Fixed step length in seconds (1 / tickRateHz). */
  readonly dtSec: number;
  /** Simulation rate in Hz. */
  readonly tickRateHz: number;
  /** Game parameters given at room creation (e.g. npc count), already validated by the game. */
  readonly params: Readonly<Record<string, number>>;
  /** Creates a zero-allocation query; call the result each tick for the matching entity ids. */
  query(terms: QueryTerm[]): () => readonly number[];
  /**
   * Adds an entity and returns its id. Every field of every component of that id starts at zero
   * (or at the game's declared default), whatever an earlier entity with the same id left there.
   */
  spawn(): number;
  /** Removes an entity. */
  despawn(eid: number): void;
  /**
   * Tells every player of the room about something that happened (a tag, a goal, a kill): a
   * reliable `event` control message `{ t: 'event', name, data }` without `from`, sent after this
   * tick's systems (from setup, spawnPlayer or despawnPlayer: after the systems of the room's next
   * tick). `name` is 1..32 characters; `data` plain data (numbers, strings, booleans, arrays, plain
   * objects). Events are sequenced like chat: keep them to a few per second. Present in the
   * server's rooms; absent where nobody listens, hence optional: call it as `ctx.emit?.(...)`.
   */
  emit?(name: string, data?: unknown): void;
  /**
   * Lag compensation: hit tests against the world as a player saw it when it acted (see
   * shared/sim/lagcomp.ts). Present in the server's rooms of a game that declares
   * `lagCompensation`; absent elsewhere (client prediction, unit tests), so a game falls back to
   * the current positions when it is missing.
   */
  lagComp?: LagCompensation;
}

/** What a game declares for lag compensation (GameDefinition.lagCompensation). */
export interface LagCompensationRules<C extends Components, I extends InputValues> {
  /**
   * The hitbox of every entity holding the component, centred on its position; an entity takes the
   * first listed component it has. Only these entities are kept in the rewind history.
   */
  readonly hitboxes: { readonly [K in keyof C]?: Hitbox };
  /**
   * An input field that marks an action (a shot, a tag): clients report what they were drawing
   * only for inputs where it is non-zero. Default: for every input.
   */
  readonly trigger?: keyof I & string;
}

/** How a game treats rooms its clients create by naming them (see GameDefinition.clientRooms). */
export interface ClientRoomRules {
  /** Parameters such a room starts with, over the server's (e.g. fewer NPCs). */
  readonly params?: Readonly<Record<string, number>>;
  /** Parameters the creating client may set in its hello, each within [min, max]. */
  readonly settable?: Readonly<Record<string, { readonly min: number; readonly max: number }>>;
  /**
   * Whether matchmaking may place players from other addresses into such rooms. Default false: a
   * client-named room is private to its creator's address unless someone joins it by name.
   */
  readonly matchmade?: boolean;
}

/**
 * What each player sees (interest management; see docs/snapshots.md, "Views"). Without it every
 * client receives every replicated entity. With it each client's snapshots hold only its view:
 * entities within `viewRadius` of its player's position (GameDefinition.position, required), kept
 * until they are beyond `leaveRadius` (hysteresis, so an entity at the edge does not flicker in
 * and out), plus its own player and every entity with one of the `global` components. Views are
 * computed on snapshot ticks from the quantized state, so what a client holds is exact.
 */
export interface InterestRules<C extends Components> {
  /** An entity within this distance of the viewer enters its view, world units (> 0). */
  readonly viewRadius: number;
  /** An entity in the view leaves it beyond this distance, world units (> viewRadius). Default viewRadius * 1.1. */
  readonly leaveRadius?: number;
  /** Side of a cell of the spatial grid, world units. Default leaveRadius / 2. */
  readonly cellSize?: number;
  /** Components whose entities every player sees wherever they are (game objects marked global). */
  readonly global?: readonly (keyof C & string)[];
  /**
   * A player's own view radius (the enter radius; the leave radius scales with it), world units;
   * called once per player per snapshot tick. Default: viewRadius for everyone.
   */
  radiusOf?(ctx: GameContext<C>, viewerEid: number): number;
  /**
   * The game's own rule (teams, line of sight): called for each entity the radius lets into a
   * view (not for the viewer itself or global entities); false keeps it out. Runs per player per
   * candidate on snapshot ticks, so it must be cheap and must not allocate.
   */
  relevant?(ctx: GameContext<C>, viewerEid: number, eid: number): boolean;
}

/** A gameplay system: runs once per tick, in the order the game lists them. */
export type System<C extends Components> = (ctx: GameContext<C>) => void;

/** Everything a game supplies. `C` is its components, `I` its input. */
export interface GameDefinition<C extends Components, I extends InputValues> {
  /** Game name; part of the config hash the client must match. */
  readonly name: string;
  /** Capacity of every component store (largest entity id + 1). */
  readonly maxEntities: number;
  /** Allocates the component stores for one world (one room, or one client). */
  components(capacity: number): C;
  /** The networked-field table: for each networked component, every field's quantizer. */
  readonly networked: NetworkedFields<C>;
  /** Components deliberately kept off the wire (a test checks every component is in one of the two). */
  readonly local: readonly (keyof C)[];
  /** Input fields and their quantizers. */
  readonly input: { [F in keyof I]: Quantizer };
  /** Default parameters (overridable per room). */
  readonly defaultParams?: Readonly<Record<string, number>>;
  /**
   * The networked fields that place an entity ("Component.field"): client prediction of the own
   * player, interpolation of the others, the bundled client's drawing, the bots' render error.
   * Required by every client; never guessed from names.
   */
  readonly position?: { readonly x: string; readonly y: string };
  /** Values a spawned entity's fields start at instead of 0 (by component and field). */
  readonly defaults?: { readonly [K in keyof C]?: { readonly [F in keyof C[K]]?: number } };
  /** What each player sees (interest management); omitted: everyone sees every entity. */
  readonly interest?: InterestRules<C>;
  /** How the bundled browser client and the bots show and drive the game (see shared/sim/view.ts). */
  readonly client?: GameClient<I>;
  /**
   * What a room created because a client named it starts with, and what that client may set.
   * Such rooms are what an attacker can create at will, so they should start cheap. Default: the
   * server's parameters, nothing settable, never matchmade for other addresses.
   */
  readonly clientRooms?: ClientRoomRules;
  /**
   * Keep simulating a room while it has no player (a world that lives on). Default false: an empty
   * room sleeps (its tick does not advance) until a player joins, so idle rooms cost nothing.
   */
  readonly tickWhenEmpty?: boolean;
  /**
   * Names of the game events (GameContext.emit) that are public: the server's read-only feed
   * (GET /rooms/:name/feed, for dashboards and tools that are not game clients) carries them.
   * Default none: the feed shows players joining and leaving and its summaries only.
   */
  readonly feedEvents?: readonly string[];
  /**
   * Lag compensation: the hitboxes hit tests run against, and which input marks an action. With
   * it, rooms keep a history of those entities' positions and give systems `ctx.lagComp`.
   */
  readonly lagCompensation?: LagCompensationRules<C, I>;
  /**
   * Moves one player by one input over one fixed step. Runs on the server tick and in client
   * prediction, so it must be deterministic and touch only that entity's components.
   */
  stepPlayer(c: C, eid: number, input: Readonly<I>, dtSec: number): void;
  /** Called once when a room's world is created (spawn NPCs, etc.). */
  setup?(ctx: GameContext<C>): void;
  /** Builds the room's systems, in run order (called once per room, so they may create queries). */
  systems(ctx: GameContext<C>): System<C>[];
  /** Creates the entity of a player who joined; returns its id. */
  spawnPlayer(ctx: GameContext<C>, info: { readonly sessionId: number; readonly name: string }): number;
  /** Removes a player's entity (default: despawn it). */
  despawnPlayer?(ctx: GameContext<C>, eid: number): void;
  /**
   * State the game keeps outside its component stores (in its systems' closures, say), for a room
   * saved and restored elsewhere (server/room-state.ts). `save` returns plain data (JSON); `restore`
   * puts it back into a freshly built room, after the stores, entities and tick are restored. A
   * game that keeps all its state in its stores, as it should, needs neither. A game with such state
   * that does not declare it fails `roomStateProblems` (a restored room drifts from the original).
   */
  readonly state?: {
    save(ctx: GameContext<C>): unknown;
    restore(ctx: GameContext<C>, data: unknown): void;
  };
}

/** Identity helper that checks a game definition's types. */
export function defineGame<C extends Components, I extends InputValues>(game: GameDefinition<C, I>): GameDefinition<C, I> {
  return game;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a registry of games of any shape
export type AnyGame = GameDefinition<any, any>;

/** Creates a context (world + stores + queries) for a game; the server makes one per room. */
export function createGameContext<C extends Components, I extends InputValues>(
  game: GameDefinition<C, I>,
  rng: Rng,
  tickRateHz: number,
  params: Readonly<Record<string, number>>,
): GameContext<C> {
  const world = createWorld();
  const c = game.components(game.maxEntities);
  // Every store and its start value, flat, so a spawn resets an id's fields without allocating.
  const stores: Store[] = [];
  const starts: number[] = [];
  const defaults = (game.defaults ?? {}) as Record<string, Record<string, number> | undefined>;
  for (const [comp, fields] of Object.entries(c as Components)) {
    for (const [field, store] of Object.entries(fields)) {
      stores.push(store);
      starts.push(defaults[comp]?.[field] ?? 0);
    }
  }
  const ctx: GameContext<C> = {
    world, c, rng, tick: 0, dtSec: 1 / tickRateHz, tickRateHz, params,
    query(terms) {
      const q = registerQuery(world, terms);
      return () => {
        commitRemovals(world);
        return q.dense as readonly number[];
      };
    },
    spawn() {
      const eid = addEntity(world);
      if (eid >= game.maxEntities) {
        removeEntity(world, eid);
        throw new RangeError(`${game.name}: entity id ${eid} exceeds maxEntities ${game.maxEntities}`);
      }
      for (let i = 0; i < stores.length; i++) stores[i][eid] = starts[i];
      return eid;
    },
    despawn(eid) {
      if (entityExists(world, eid)) removeEntity(world, eid);
    },
  };
  return ctx;
}

/** Query term matching every entity with at least one networked component. */
export function networkedTerm(game: AnyGame, c: Components): QueryTerm {
  const comps = Object.keys(game.networked).map((k) => c[k]);
  return Or(...comps);
}
