// Rooms: one match each, with its own bitecs world, systems, players, snapshot history and
// encoder. The manager matches players into rooms, enforces capacity and disposes empty rooms.
import { hasComponent } from 'bitecs';
import { createGameContext, networkedTerm, type AnyGame, type Component, type Components, type GameContext, type System, type Store } from '../shared/sim/game.ts';
import { bindFieldStores, type NetSchema } from '../shared/protocol/schema.ts';
import { Rng, deriveSeed } from '../shared/sim/rng.ts';
import type { NetConfig } from '../shared/config.ts';
import { RejectCode, type RejectCodeId } from '../shared/protocol/ids.ts';
import { SnapshotHistory } from './history.ts';
import type { EncoderStats, SnapshotEncoder } from './snapshots.ts';
import type { Player } from './player.ts';

/** Builds the snapshot encoder of a room. */
export type EncoderFactory = (schema: NetSchema, net: NetConfig, stats: EncoderStats) => SnapshotEncoder;

/** Public view of a room, as listed over HTTP. */
export interface RoomInfo {
  name: string;
  game: string;
  players: number;
  capacity: number;
  entities: number;
  tick: number;
  /** Input counters summed over the room's current players (a player's count leaves with them). */
  inputs: RoomInputs;
}

/** A room's input counters: inputs applied, ticks that repeated the previous input, inputs never applied. */
export interface RoomInputs {
  applied: number;
  repeated: number;
  lost: number;
}

/** One match. */
export class Room {
  readonly ctx: GameContext<Components>;
  readonly systems: System<Components>[];
  /** Players in join order; removal swaps with the last (no allocation when iterating). */
  readonly players: Player[] = [];
  readonly stores: Store[];
  readonly netComponents: Component[];
  readonly replicated: () => readonly number[];
  readonly history: SnapshotHistory;
  readonly encoder: SnapshotEncoder;
  /** Scratch for captureFrame: one byte per entity id. */
  readonly presence: Uint8Array;
  /** The input object handed to stepPlayer, reused every call. */
  readonly input: Record<string, number>;
  /** Ticks between snapshots. */
  readonly snapshotEvery: number;
  /** When the room became empty (ms, server clock), or undefined while occupied. */
  emptySinceMs: number | undefined;
  readonly hasNetComponent: (eid: number, compIndex: number) => boolean;

  constructor(
    readonly name: string,
    readonly game: AnyGame,
    readonly schema: NetSchema,
    readonly net: NetConfig,
    readonly capacity: number,
    seed: number,
    params: Readonly<Record<string, number>>,
    encoderFactory: EncoderFactory,
    nowMs: number,
    encoderStats: EncoderStats,
  ) {
    this.ctx = createGameContext(game, new Rng(seed), net.tickRateHz, { ...(game.defaultParams ?? {}), ...params });
    const c = this.ctx.c;
    this.stores = bindFieldStores(schema, c);
    this.netComponents = schema.components.map((comp) => c[comp.name]);
    this.replicated = this.ctx.query([networkedTerm(game, c)]);
    const world = this.ctx.world;
    const comps = this.netComponents;
    this.hasNetComponent = (eid, ci) => hasComponent(world, eid, comps[ci]);
    this.history = new SnapshotHistory(schema, Math.max(2, Math.ceil(net.snapshotHistoryTicks / (net.tickRateHz / net.snapshotRateHz))));
    this.encoder = encoderFactory(schema, net, encoderStats);
    this.presence = new Uint8Array(game.maxEntities);
    this.input = Object.fromEntries(schema.inputFields.map((f) => [f.name, 0]));
    this.snapshotEvery = net.tickRateHz / net.snapshotRateHz;
    game.setup?.(this.ctx);
    this.systems = game.systems(this.ctx);
    this.emptySinceMs = nowMs;
  }

  /** True when another player fits. */
  hasSpace(): boolean {
    return this.players.length < this.capacity;
  }

  /** Spawns the player's entity and adds it to the room; returns the entity id. */
  addPlayer(p: Player): number {
    const eid = this.game.spawnPlayer(this.ctx, { sessionId: p.id, name: p.name });
    this.players.push(p);
    p.eid = eid;
    this.emptySinceMs = undefined;
    return eid;
  }

  /** Removes the player and its entity; records when the room became empty. */
  removePlayer(p: Player, nowMs: number): void {
    const i = this.players.indexOf(p);
    if (i < 0) return;
    this.players[i] = this.players[this.players.length - 1];
    this.players.pop();
    if (p.eid >= 0) {
      if (this.game.despawnPlayer) this.game.despawnPlayer(this.ctx, p.eid);
      else this.ctx.despawn(p.eid);
    }
    p.eid = -1;
    if (this.players.length === 0) this.emptySinceMs = nowMs;
  }

  /** The room as GET /rooms lists it. */
  info(): RoomInfo {
    const inputs: RoomInputs = { applied: 0, repeated: 0, lost: 0 };
    for (const p of this.players) {
      const st = p.inputs.stats;
      inputs.applied += st.applied;
      inputs.repeated += st.repeated;
      inputs.lost += st.dropped;
    }
    return { name: this.name, game: this.game.name, players: this.players.length, capacity: this.capacity, entities: this.replicated().length, tick: this.ctx.tick, inputs };
  }
}

/** Settings the manager needs. */
export interface RoomManagerOptions {
  game: AnyGame;
  schema: NetSchema;
  net: NetConfig;
  capacity: number;
  maxRooms: number;
  emptyGraceMs: number;
  seed: number;
  params: Readonly<Record<string, number>>;
  encoderFactory: EncoderFactory;
  /** Counters shared by every room's encoder. */
  encoderStats: EncoderStats;
}

/** Creates, matches, lists and disposes rooms. */
export class RoomManager {
  /** Rooms in creation order (ticked in this order). */
  readonly list: Room[] = [];
  private readonly byName = new Map<string, Room>();
  private created = 0;
  private autoName = 0;

  constructor(private readonly o: RoomManagerOptions) {}

  get size(): number {
    return this.list.length;
  }

  get(name: string): Room | undefined {
    return this.byName.get(name);
  }

  /**
   * Finds the room for a player: the named room (created if missing), or else the fullest open
   * room with space, or a new auto-named room. Returns a reject code when none is possible.
   */
  match(requested: string | undefined, nowMs: number): Room | RejectCodeId {
    if (requested !== undefined) {
      const room = this.byName.get(requested) ?? this.create(requested, nowMs);
      if (room === undefined) return RejectCode.ServerFull;
      return room.hasSpace() ? room : RejectCode.RoomFull;
    }
    let best: Room | undefined;
    for (const r of this.list) if (r.hasSpace() && (!best || r.players.length > best.players.length)) best = r;
    if (best) return best;
    let name: string;
    do name = `${this.o.game.name}-${++this.autoName}`;
    while (this.byName.has(name));
    return this.create(name, nowMs) ?? RejectCode.ServerFull;
  }

  private create(name: string, nowMs: number): Room | undefined {
    if (this.list.length >= this.o.maxRooms) return undefined;
    const seed = this.created === 0 ? this.o.seed : deriveSeed(this.o.seed, this.created);
    this.created++;
    const room = new Room(name, this.o.game, this.o.schema, this.o.net, this.o.capacity, seed, this.o.params, this.o.encoderFactory, nowMs, this.o.encoderStats);
    this.list.push(room);
    this.byName.set(name, room);
    return room;
  }

  /** Disposes rooms empty for longer than the grace period; returns their names. */
  disposeIdle(nowMs: number): string[] {
    const gone: string[] = [];
    for (let i = this.list.length - 1; i >= 0; i--) {
      const r = this.list[i];
      if (r.players.length === 0 && r.emptySinceMs !== undefined && nowMs - r.emptySinceMs >= this.o.emptyGraceMs) {
        this.list.splice(i, 1);
        this.byName.delete(r.name);
        gone.push(r.name);
      }
    }
    return gone;
  }

  infos(): RoomInfo[] {
    return this.list.map((r) => r.info());
  }
}
