// Rooms: one match each, with its own bitecs world, systems, players, snapshot history and
// encoder. The manager matches players into rooms, creates the rooms clients name (private to
// their creator's address for matchmaking, at a bounded rate, with the game's client-room
// parameters), enforces capacity, lists the public ones and disposes empty (or closed) rooms.
import { hasComponent } from 'bitecs';
import { createGameContext, networkedTerm, type AnyGame, type Component, type Components, type GameContext, type System, type Store } from '../shared/sim/game.ts';
import { bindFieldStores, type NetSchema } from '../shared/protocol/schema.ts';
import { Rng, deriveSeed } from '../shared/sim/rng.ts';
import type { NetConfig } from '../shared/config.ts';
import { MAX_EVENT_NAME_LENGTH } from '../shared/protocol/control.ts';
import { RejectCode, type RejectCodeId } from '../shared/protocol/ids.ts';
import type { ReplayControl } from '../shared/protocol/replay.ts';
import { SnapshotHistory } from './history.ts';
import { InterestManager, type InterestStats } from './interest.ts';
import { SnapshotSendTimes, type EncoderStats, type SnapshotEncoder } from './snapshots.ts';
import type { Player } from './player.ts';
import { nameKey } from './names.ts';
import { RoomLagComp, type LagCompSettings, type LagCompStats } from './lagcomp.ts';

/** Lag compensation settings and the counters every room shares. */
export interface RoomLagCompOptions {
  readonly settings: LagCompSettings;
  readonly stats: LagCompStats;
}

/**
 * Builds the snapshot encoder of a room; `interest` is the room's views when its game declares
 * interest rules (an encoder that ignores it sends every client the whole world).
 */
export type EncoderFactory = (schema: NetSchema, net: NetConfig, stats: EncoderStats, interest?: InterestManager) => SnapshotEncoder;

/** Delivers a game event a room's game emitted (GameContext.emit) to the room's players. */
export type GameEventSink = (room: Room, name: string, data: unknown) => void;

/**
 * Records a room's match (server/replay-recorder.ts): a virtual spectator the tick hands each
 * snapshot tick after every client, and the room its game events, joins and leaves.
 */
export interface RoomRecorder {
  /** The replay file's name. */
  readonly name: string;
  /** Bytes of the file on disk so far. */
  readonly bytesOnDisk: number;
  /** 'recording' until finish() (or a write failure, or the size limit). */
  readonly state: 'recording' | 'finishing' | 'done';
  /** Records the snapshot tick just encoded for the room's clients. */
  capture(room: Room): void;
  /** Records a control message at `tick`: a game event, a join or a leave. */
  control(tick: number, msg: ReplayControl): void;
  /** Ends the recording: index, footer, file closed. */
  finish(): Promise<void>;
}

/**
 * A room's shared spectator stream (server/spectator-stream.ts): one delta chain encoded once per
 * snapshot tick, after the clients and before the recording, and sent to every spectator on it.
 */
export interface RoomStream {
  /** Spectators on the stream. */
  readonly size: number;
  /** Encodes this snapshot tick for the stream's spectators (their packets leave now or after the tick). */
  capture(room: Room): void;
}

/**
 * Hears of a room's players coming and going and of its game events, besides the players
 * themselves (the read-only feed, server/feed.ts). Called inside the frame; must not throw.
 */
export interface RoomObserver {
  joined(room: Room, p: Player): void;
  left(room: Room, p: Player): void;
  event(room: Room, name: string, data: unknown): void;
}

/** A game event waiting for the end of the tick's systems. */
export interface PendingEvent {
  readonly name: string;
  readonly data: unknown;
}

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
  /** Spectators watching (no entity; they count against maxSpectatorsPerRoom, not capacity). */
  spectators: number;
}

/** A room's input counters: inputs applied, ticks that repeated the previous input, inputs never applied. */
export interface RoomInputs {
  applied: number;
  repeated: number;
  lost: number;
}

/** How a room came to be: by matchmaking (public), or because a client named it. */
export interface RoomOrigin {
  /** A client named it in its hello. */
  readonly clientNamed: boolean;
  /** Address key of the client that created it, if one did. */
  readonly ownerKey?: string;
  /** Shown in GET /rooms (false for rooms created with hello.private). */
  readonly listed: boolean;
  /** Matchmaking may place players from any address here (else only the owner's address). */
  readonly matchmade: boolean;
  /** The session whose hello named it, if one did. */
  readonly creator?: RoomCreator;
}

/** The session that created a room by naming it. */
export interface RoomCreator {
  readonly sessionId: number;
  readonly name: string;
}

/** A room made by the server itself or by matchmaking: public. */
export const PUBLIC_ROOM: RoomOrigin = Object.freeze({ clientNamed: false, listed: true, matchmade: true });

/** One match. */
export class Room {
  readonly ctx: GameContext<Components>;
  readonly systems: System<Components>[];
  /** Players in join order; removal swaps with the last (no allocation when iterating). */
  readonly players: Player[] = [];
  /** Spectators: snapshot clients without an entity, sent every snapshot, their inputs ignored. */
  readonly spectators: Player[] = [];
  readonly stores: Store[];
  readonly netComponents: Component[];
  readonly replicated: () => readonly number[];
  readonly history: SnapshotHistory;
  /** What each player sees, when the game declares interest rules (GameDefinition.interest). */
  readonly interest: InterestManager | undefined;
  readonly encoder: SnapshotEncoder;
  /** Scratch for captureFrame: one byte per entity id. */
  readonly presence: Uint8Array;
  /** The input object handed to stepPlayer, reused every call. */
  readonly input: Record<string, number>;
  /** Ticks between snapshots. */
  readonly snapshotEvery: number;
  /** When each recent snapshot tick went out (round-trip samples from the acks). */
  readonly sendTimes: SnapshotSendTimes;
  /** When the room became empty (ms, server clock), or undefined while occupied. */
  emptySinceMs: number | undefined;
  /** Ticks run with at least one player in the room (a room never really played is disposed sooner). */
  occupiedTicks = 0;
  /** Told when the room gains its first player or loses its last (the manager's awake list). */
  onOccupancyChange: ((room: Room) => void) | undefined;
  /** Game events emitted since the last flush (tick.ts flushEvents), in order. */
  readonly events: PendingEvent[] = [];
  /** Where flushed game events go (the server sends them to the room's players); none: dropped. */
  eventSink: GameEventSink | undefined;
  /** Told of players joining and leaving and of flushed game events (RoomManager.observe). */
  observer: RoomObserver | undefined;
  readonly hasNetComponent: (eid: number, compIndex: number) => boolean;
  /** Rewind history and hit tests, for a game that declares lagCompensation (also ctx.lagComp). */
  readonly lagComp: RoomLagComp | undefined;
  /** The room's recording, when rooms are recorded (ServerConfig.recordRooms). */
  recorder: RoomRecorder | undefined;
  /** The shared snapshot stream of its spectators on the WebSocket, once one joined (ServerConfig.spectatorStream). */
  stream: RoomStream | undefined;
  /**
   * Set while the room is frozen for a move to another fleet member (server/fleet/handoff.ts): it
   * does not tick and takes no player; `left` holds the sessions that left meanwhile, announced if
   * the room thaws here.
   */
  frozen: { readonly left: number[] } | undefined = undefined;

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
    readonly origin: RoomOrigin = PUBLIC_ROOM,
    lagComp?: RoomLagCompOptions,
    interestStats?: InterestStats,
    viewBudgetBytesPerSec = 0,
  ) {
    this.ctx = createGameContext(game, new Rng(seed), net.tickRateHz, { ...(game.defaultParams ?? {}), ...params });
    const events = this.events;
    this.ctx.emit = (name, data) => {
      if (typeof name !== 'string' || name.length < 1 || name.length > MAX_EVENT_NAME_LENGTH) {
        throw new RangeError(`${game.name}: event name ${JSON.stringify(name)} must be 1..${MAX_EVENT_NAME_LENGTH} characters`);
      }
      events.push({ name, data });
    };
    const c = this.ctx.c;
    this.stores = bindFieldStores(schema, c);
    this.netComponents = schema.components.map((comp) => c[comp.name]);
    this.replicated = this.ctx.query([networkedTerm(game, c)]);
    const world = this.ctx.world;
    const comps = this.netComponents;
    this.hasNetComponent = (eid, ci) => hasComponent(world, eid, comps[ci]);
    const every = net.tickRateHz / net.snapshotRateHz;
    const snapshotsKept = Math.max(2, Math.ceil(net.snapshotHistoryTicks / every));
    // Rooms with views spread their players' snapshots over the ticks between snapshot ticks and keep
    // a frame of every tick; lag compensation rewinds to snapshot ticks, so a room with it does not.
    const phases = game.interest && !(game.lagCompensation && lagComp) ? every : 1;
    this.history = new SnapshotHistory(schema, snapshotsKept * phases);
    this.interest = game.interest ? new InterestManager(game, schema, this.ctx, snapshotsKept, interestStats, viewBudgetBytesPerSec, net.snapshotRateHz, phases) : undefined;
    this.encoder = encoderFactory(schema, net, encoderStats, this.interest);
    this.presence = new Uint8Array(game.maxEntities);
    this.input = Object.fromEntries(schema.inputFields.map((f) => [f.name, 0]));
    this.snapshotEvery = net.tickRateHz / net.snapshotRateHz;
    this.sendTimes = new SnapshotSendTimes(this.snapshotEvery);
    this.lagComp = game.lagCompensation && lagComp
      ? new RoomLagComp(game, schema, world, c, this.stores, this.players, this.replicated, this.ctx, net.tickRateHz, this.snapshotEvery, lagComp.settings, lagComp.stats)
      : undefined;
    if (this.lagComp) this.ctx.lagComp = this.lagComp;
    game.setup?.(this.ctx);
    this.systems = game.systems(this.ctx);
    this.emptySinceMs = nowMs;
  }

  /** True when another player fits. */
  hasSpace(): boolean {
    return this.frozen === undefined && this.players.length < this.capacity;
  }

  /** Spawns the player's entity and adds it to the room; returns the entity id. */
  addPlayer(p: Player): number {
    // Events emitted while the room was empty had nobody to tell.
    if (this.players.length === 0) this.events.length = 0;
    const eid = this.game.spawnPlayer(this.ctx, { sessionId: p.id, name: p.name });
    this.adoptPlayer(p, eid);
    return eid;
  }

  /** The players' names as nameKey compares them, each with how many players hold it (one, unless a restored room brought a copy). */
  private readonly nameKeys = new Map<string, number>();

  /** The names the room's players hold (by nameKey), for uniqueName: kept as players come and go, not rebuilt per join. */
  get takenNames(): { has(key: string): boolean } {
    return this.nameKeys;
  }

  /** Seats a player whose entity already exists in this room's world (a restored room's players). */
  adoptPlayer(p: Player, eid: number): void {
    this.players.push(p);
    const key = nameKey(p.name);
    this.nameKeys.set(key, (this.nameKeys.get(key) ?? 0) + 1);
    p.eid = eid;
    p.link.restart(this.ctx.tick);
    this.emptySinceMs = undefined;
    this.recorder?.control(this.ctx.tick, { t: 'joined', sessionId: p.id, name: p.name, eid });
    if (this.players.length === 1) this.onOccupancyChange?.(this);
    this.observer?.joined(this, p);
  }

  /**
   * Adds a spectator (no entity); a room watched keeps ticking. In a room with views it gets one
   * around its camera, of enter radius `viewRadius` (world units; 0: the game's) until its camera says otherwise.
   */
  addSpectator(p: Player, viewRadius = 0): void {
    this.spectators.push(p);
    p.eid = -1;
    this.interest?.watch(p, viewRadius);
    p.link.restart(this.ctx.tick);
    if (this.spectators.length === 1) this.onOccupancyChange?.(this);
  }

  /** Removes a spectator. */
  removeSpectator(p: Player, nowMs: number): void {
    const i = this.spectators.indexOf(p);
    if (i < 0) return;
    this.spectators[i] = this.spectators[this.spectators.length - 1];
    this.spectators.pop();
    this.interest?.unwatch(p);
    if (this.spectators.length === 0) {
      if (this.players.length === 0) this.emptySinceMs = nowMs;
      this.onOccupancyChange?.(this);
    }
  }

  /** Removes the player and its entity; records when the room became empty. */
  removePlayer(p: Player, nowMs: number): void {
    const i = this.players.indexOf(p);
    if (i < 0) return;
    this.players[i] = this.players[this.players.length - 1];
    this.players.pop();
    const key = nameKey(p.name);
    const held = this.nameKeys.get(key) ?? 0;
    if (held > 1) this.nameKeys.set(key, held - 1);
    else this.nameKeys.delete(key);
    this.recorder?.control(this.ctx.tick, { t: 'left', sessionId: p.id });
    if (p.eid >= 0) {
      if (this.game.despawnPlayer) this.game.despawnPlayer(this.ctx, p.eid);
      else this.ctx.despawn(p.eid);
    }
    this.observer?.left(this, p);
    p.eid = -1;
    if (this.players.length === 0) {
      this.emptySinceMs = nowMs;
      this.onOccupancyChange?.(this);
    }
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
    return { name: this.name, game: this.game.name, players: this.players.length, capacity: this.capacity, entities: this.replicated().length, tick: this.ctx.tick, inputs, spectators: this.spectators.length };
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
  /** Counters shared by every room's interest management (games with interest rules). */
  interestStats?: InterestStats;
  /** Snapshot bytes per second a client's view may take (ServerConfig.viewBudgetBytesPerSec); default 0, no budget. */
  viewBudgetBytesPerSec?: number;
  /** Delivers the game events rooms emit (GameContext.emit); default none (dropped). */
  onGameEvent?: GameEventSink;
  /** Parameters of rooms clients create by naming them, over `params`; default the game's clientRooms.params. */
  clientRoomParams?: Readonly<Record<string, number>>;
  /** Grace of an empty room that was never really played (occupied for less than usedAfterTicks), ms. Default emptyGraceMs. */
  unusedGraceMs?: number;
  /** Ticks with a player after which a room counts as played. Default 5 s of ticks. */
  usedAfterTicks?: number;
  /** Told the name of every room removed (idle or closed): the fleet releases it. */
  onDisposed?: (name: string) => void;
  /** Lag compensation of rooms whose game declares it; none: those rooms have no ctx.lagComp. */
  lagComp?: RoomLagCompOptions;
  /** Makes the recorder of each new room (server/replay-recorder.ts replayRecorders); none: rooms are not recorded. */
  recorder?: (room: Room) => RoomRecorder | undefined;
}

/** Who asks for a room, for the rules on client-created rooms. */
export interface RoomRequest {
  /** The client's address key (owner of rooms it creates; private matchmaking). */
  readonly addressKey?: string;
  /** Asked once before a client-named room is created: false refuses (creation rate). */
  mayCreate?(): boolean;
  /** Parameters asked for a room this client creates (checked against the game's settable ones). */
  readonly params?: Readonly<Record<string, number>>;
  /** Create the named room unlisted (hello.private). */
  readonly unlisted?: boolean;
  /** Recorded as the creator of a room this request creates. */
  readonly creator?: RoomCreator;
}

/** Creates, matches, lists and disposes rooms. */
export class RoomManager {
  /** Rooms in creation order. */
  readonly list: Room[] = [];
  /**
   * The rooms the server ticks, in creation order: those with a player, and every room of a game
   * that declares tickWhenEmpty. An empty room sleeps (its tick stands still) until someone joins.
   * The same array object for the manager's life, updated in place.
   */
  readonly awake: Room[] = [];
  private readonly refreshAwake = (): void => {
    this.awake.length = 0;
    for (const r of this.list) if (r.frozen === undefined && (r.players.length > 0 || r.spectators.length > 0 || this.o.game.tickWhenEmpty === true)) this.awake.push(r);
  };
  private readonly byName = new Map<string, Room>();
  private created = 0;
  private observer: RoomObserver | undefined;

  /** Tells `o` of every room's players coming and going and of its game events, now and in rooms made later. */
  observe(o: RoomObserver): void {
    this.observer = o;
    for (const r of this.list) r.observer = o;
  }
  private autoName = 0;

  constructor(private readonly o: RoomManagerOptions) {}

  /** The game every room of this manager runs. */
  get game(): AnyGame {
    return this.o.game;
  }

  get size(): number {
    return this.list.length;
  }

  get(name: string): Room | undefined {
    return this.byName.get(name);
  }

  /**
   * Finds the room for a player: the named room (created if missing, under the client-room rules),
   * or else the fullest room with space that matchmaking may use for this address, or a new
   * auto-named public room. Returns a reject code when none is possible.
   */
  match(requested: string | undefined, nowMs: number, req: RoomRequest = {}): Room | RejectCodeId {
    if (requested !== undefined) {
      let room = this.byName.get(requested);
      if (!room) {
        if (this.list.length >= this.o.maxRooms) return RejectCode.ServerFull;
        const params = this.clientParams(req.params);
        if (params === undefined) return RejectCode.BadRoomParams;
        if (req.mayCreate && !req.mayCreate()) return RejectCode.RoomCreateLimit;
        const origin: RoomOrigin = { clientNamed: true, ownerKey: req.addressKey, listed: req.unlisted !== true, matchmade: this.o.game.clientRooms?.matchmade === true, creator: req.creator };
        room = this.create(requested, nowMs, params, origin);
      }
      if (room === undefined) return RejectCode.ServerFull;
      return room.hasSpace() ? room : RejectCode.RoomFull;
    }
    let best: Room | undefined;
    for (const r of this.list) {
      if (!r.hasSpace() || (!r.origin.matchmade && r.origin.ownerKey !== req.addressKey)) continue;
      if (!best || r.players.length > best.players.length) best = r;
    }
    if (best) return best;
    let name: string;
    do name = `${this.o.game.name}-${++this.autoName}`;
    while (this.byName.has(name));
    return this.create(name, nowMs, this.o.params, PUBLIC_ROOM) ?? RejectCode.ServerFull;
  }

  /** Parameters of a room a client creates, or undefined when it asked for one it may not set. */
  private clientParams(asked: Readonly<Record<string, number>> | undefined): Readonly<Record<string, number>> | undefined {
    const rules = this.o.game.clientRooms;
    const base = { ...this.o.params, ...(this.o.clientRoomParams ?? rules?.params ?? {}) };
    if (!asked) return base;
    for (const [k, v] of Object.entries(asked)) {
      const range = rules?.settable?.[k];
      if (!range || !Number.isFinite(v) || v < range.min || v > range.max) return undefined;
      base[k] = v;
    }
    return base;
  }

  private create(name: string, nowMs: number, params: Readonly<Record<string, number>>, origin: RoomOrigin): Room | undefined {
    if (this.list.length >= this.o.maxRooms) return undefined;
    const seed = this.created === 0 ? this.o.seed : deriveSeed(this.o.seed, this.created);
    this.created++;
    const room = new Room(name, this.o.game, this.o.schema, this.o.net, this.o.capacity, seed, params, this.o.encoderFactory, nowMs, this.o.encoderStats, origin, this.o.lagComp, this.o.interestStats, this.o.viewBudgetBytesPerSec);
    room.onOccupancyChange = this.refreshAwake;
    room.eventSink = this.o.onGameEvent;
    room.recorder = this.o.recorder?.(room);
    room.observer = this.observer;
    this.list.push(room);
    this.byName.set(name, room);
    this.refreshAwake();
    return room;
  }

  /**
   * Disposes rooms empty for longer than their grace period (emptyGraceMs, or unusedGraceMs for a
   * room that was never played: no player stayed usedAfterTicks); returns their names.
   */
  disposeIdle(nowMs: number): string[] {
    const gone: string[] = [];
    const usedAfter = this.o.usedAfterTicks ?? 5 * this.o.net.tickRateHz;
    for (let i = this.list.length - 1; i >= 0; i--) {
      const r = this.list[i];
      const grace = r.occupiedTicks >= usedAfter ? this.o.emptyGraceMs : Math.min(this.o.emptyGraceMs, this.o.unusedGraceMs ?? this.o.emptyGraceMs);
      if (r.players.length === 0 && r.spectators.length === 0 && r.emptySinceMs !== undefined && nowMs - r.emptySinceMs >= grace) {
        this.list.splice(i, 1);
        this.byName.delete(r.name);
        void r.recorder?.finish();
        gone.push(r.name);
        this.o.onDisposed?.(r.name);
      }
    }
    if (gone.length > 0) this.refreshAwake();
    return gone;
  }

  /**
   * Removes a room now, players or not (an operator closed it; its sessions were ended first).
   * Not while the rooms are being ticked: the caller runs between ticks. False if it was not open.
   */
  dispose(room: Room): boolean {
    const i = this.list.indexOf(room);
    if (i < 0) return false;
    this.list.splice(i, 1);
    this.byName.delete(room.name);
    void room.recorder?.finish();
    this.refreshAwake();
    this.o.onDisposed?.(room.name);
    return true;
  }

  /** Finishes the recordings of every open room (the server is stopping). */
  async finishRecordings(): Promise<void> {
    await Promise.all(this.list.map((r) => r.recorder?.finish()));
  }

  /**
   * The room a claimed seat is for: the open room of that name, or a new one with the origin the
   * fleet registered it with (a room a client named gets the client-room parameters). Returns a
   * reject code when it cannot be opened or is full.
   */
  seated(name: string, nowMs: number, origin: RoomOrigin): Room | RejectCodeId {
    const room = this.byName.get(name) ?? this.create(name, nowMs, origin.clientNamed ? (this.clientParams(undefined) ?? this.o.params) : this.o.params, origin);
    if (!room) return RejectCode.ServerFull;
    return room.hasSpace() ? room : RejectCode.RoomFull;
  }

  /** Stops ticking a room and closes it to new players, at a tick boundary (the caller runs between ticks). */
  freeze(room: Room): void {
    room.frozen ??= { left: [] };
    this.refreshAwake();
  }

  /** Lets a frozen room tick again. */
  thaw(room: Room): void {
    room.frozen = undefined;
    this.refreshAwake();
  }

  /**
   * Opens a room to restore a saved one into (a room moved here from another member), frozen until
   * the caller thaws it. Undefined when the name is taken or maxRooms are open.
   */
  openForRestore(name: string, nowMs: number, params: Readonly<Record<string, number>>, origin: RoomOrigin): Room | undefined {
    if (this.byName.has(name)) return undefined;
    const room = this.create(name, nowMs, params, origin);
    if (room) this.freeze(room);
    return room;
  }

  /** The listed rooms (rooms created with hello.private are not shown). */
  infos(): RoomInfo[] {
    return this.list.filter((r) => r.origin.listed).map((r) => r.info());
  }
}
