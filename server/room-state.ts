// A room saved at a tick boundary and restored in another process: the world's entity index (the
// ids alive and the order new ones are handed out), each entity's components, every component
// store's values for the entities alive, the order of every query (systems iterate them, so the
// order is part of the state), the tick, the rng, the game's declared extra state (`game.state`)
// and the room's players (session id, name, entity). Versioned: a process refuses a room of a
// format, protocol or game version it does not host, naming why.
//
// Layout: u32 little-endian length of a JSON header, the header, then each store's values for the
// alive entities (in header.entities order) as the store's own typed array bytes, one after another.
import { $internal, addComponent, commitRemovals, entityExists, hasComponent, removeEntity } from 'bitecs';
import { configHash, PROTOCOL_VERSION } from '../shared/config.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import type { Room } from './rooms.ts';

/** Version of the saved-room format. */
export const ROOM_STATE_VERSION = 1;

/** A typed array a component store may be. */
type Store = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array;

/** The JSON header of a saved room. */
export interface RoomStateHeader {
  readonly v: number;
  readonly protocol: number;
  readonly game: string;
  readonly configHash: number;
  readonly name: string;
  readonly tick: number;
  readonly rng: readonly number[];
  readonly params: Readonly<Record<string, number>>;
  readonly occupiedTicks: number;
  /** The entity index: ids in dense order (alive first), how many are alive, the largest id handed out. */
  readonly index: { readonly dense: readonly number[]; readonly alive: number; readonly maxId: number };
  /** Component names in the order of `masks`' bits. */
  readonly components: readonly string[];
  /** Per alive entity (index.dense order), the components it has, as a bit mask over `components`. */
  readonly masks: readonly number[];
  /** Each store saved: component, field, array type, bytes per value. */
  readonly stores: readonly { readonly c: string; readonly f: string; readonly type: string; readonly bytes: number }[];
  /** Every registered query's entity order, by query hash. */
  readonly queries: readonly { readonly hash: string; readonly dense: readonly number[] }[];
  readonly gameState?: unknown;
  readonly players: readonly { readonly id: number; readonly name: string; readonly eid: number }[];
}

/** Why a saved room cannot be restored here. */
export class RoomStateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RoomStateError';
  }
}

interface WorldInternals {
  entityIndex: { dense: number[]; sparse: number[]; aliveCount: number; maxId: number };
  entityComponents: Map<number, Set<unknown>>;
  queries: Set<LiveQuery>;
  queriesHashMap: Map<string, LiveQuery>;
}

interface LiveQuery {
  hash: string;
  dense: number[];
  add(eid: number): void;
  remove(eid: number): void;
  has(eid: number): boolean;
  sort(cmp: (a: number, b: number) => number): void;
}

/** Registered queries in registration order, each with its hash and its occurrence among queries of that hash. */
function queriesOf(w: WorldInternals): { key: string; q: LiveQuery }[] {
  const seen = new Map<string, number>();
  const out: { key: string; q: LiveQuery }[] = [];
  for (const q of w.queries) {
    const k = seen.get(q.hash) ?? 0;
    seen.set(q.hash, k + 1);
    out.push({ key: `${q.hash}#${k}`, q });
  }
  return out;
}

const internals = (room: Room): WorldInternals => (room.ctx.world as unknown as Record<symbol, WorldInternals>)[$internal];

/** Every store of the game's components, in a fixed order. */
function storesOf(room: Room): { c: string; f: string; store: Store }[] {
  const out: { c: string; f: string; store: Store }[] = [];
  for (const [c, fields] of Object.entries(room.ctx.c as Record<string, Record<string, Store>>)) {
    for (const [f, store] of Object.entries(fields)) out.push({ c, f, store });
  }
  return out;
}

/** Saves a room between ticks. */
export function saveRoom(room: Room): Uint8Array {
  const ctx = room.ctx;
  commitRemovals(ctx.world);
  const w = internals(room);
  const idx = w.entityIndex;
  const alive = idx.dense.slice(0, idx.aliveCount);
  const compNames = Object.keys(ctx.c);
  if (compNames.length > 31) throw new RoomStateError(`${room.game.name}: more than 31 components cannot be saved`);
  const comps = compNames.map((n) => (ctx.c as Record<string, unknown>)[n]);
  const masks = alive.map((eid) => {
    let m = 0;
    for (let i = 0; i < comps.length; i++) if (hasComponent(ctx.world, eid, comps[i])) m |= 1 << i;
    return m;
  });
  const stores = storesOf(room);
  const header: RoomStateHeader = {
    v: ROOM_STATE_VERSION, protocol: PROTOCOL_VERSION, game: room.game.name, configHash: configHash(room.game), name: room.name,
    tick: ctx.tick, rng: ctx.rng.getState(), params: { ...ctx.params }, occupiedTicks: room.occupiedTicks,
    index: { dense: idx.dense.slice(), alive: idx.aliveCount, maxId: idx.maxId },
    components: compNames, masks,
    stores: stores.map(({ c, f, store }) => ({ c, f, type: store.constructor.name, bytes: store.BYTES_PER_ELEMENT })),
    queries: queriesOf(w).map(({ key, q }) => ({ hash: key, dense: q.dense.slice() })),
    ...(room.game.state ? { gameState: room.game.state.save(ctx) } : {}),
    players: room.players.map((p) => ({ id: p.id, name: p.name, eid: p.eid })),
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  let size = 4 + json.length;
  for (const s of stores) size += s.store.BYTES_PER_ELEMENT * alive.length;
  const out = new Uint8Array(size);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  let at = 4 + json.length;
  for (const { store } of stores) {
    const bytes = store.BYTES_PER_ELEMENT;
    const col = new (store.constructor as new (n: number) => Store)(alive.length);
    for (let i = 0; i < alive.length; i++) col[i] = store[alive[i]];
    out.set(new Uint8Array(col.buffer, 0, alive.length * bytes), at);
    at += alive.length * bytes;
  }
  return out;
}

/** Reads a saved room's header, checking it is one this process can restore for `game`. */
export function readRoomHeader(bytes: Uint8Array, game: AnyGame): RoomStateHeader {
  if (bytes.length < 4) throw new RoomStateError('saved room: truncated');
  const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  if (4 + len > bytes.length) throw new RoomStateError('saved room: header truncated');
  let h: RoomStateHeader;
  try {
    h = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + len))) as RoomStateHeader;
  } catch {
    throw new RoomStateError('saved room: header is not JSON');
  }
  if (h.v !== ROOM_STATE_VERSION) throw new RoomStateError(`saved room: format ${h.v}, this server reads ${ROOM_STATE_VERSION}`);
  if (h.protocol !== PROTOCOL_VERSION) throw new RoomStateError(`saved room: protocol ${h.protocol}, this server speaks ${PROTOCOL_VERSION}`);
  if (h.game !== game.name) throw new RoomStateError(`saved room: game ${h.game}, this server hosts ${game.name}`);
  if (h.configHash !== configHash(game)) throw new RoomStateError(`saved room: ${h.game} config hash ${h.configHash}, this server's version of it is ${configHash(game)}`);
  return h;
}

/**
 * Restores a saved room into `room`, a room freshly built for the same game (same name and
 * parameters; its setup has run and its systems are built, so its queries exist): its entities,
 * stores, queries, tick, rng and game state become the saved ones. Returns the header (its
 * players, for the caller to seat).
 */
export function restoreRoom(bytes: Uint8Array, room: Room): RoomStateHeader {
  const h = readRoomHeader(bytes, room.game);
  const ctx = room.ctx;
  const world = ctx.world;
  commitRemovals(world);
  const w = internals(room);
  // A player's spawn may register queries of its own (the original's players did): spawn one, so
  // the fresh room has them too; the wipe below removes it, the saved rng replaces what it drew.
  if (h.players.length > 0 && room.players.length === 0) {
    room.game.spawnPlayer(ctx, { sessionId: 0, name: '' });
    room.events.length = 0;
  }
  // an empty world first: whatever the fresh room's setup spawned goes
  for (const eid of w.entityIndex.dense.slice(0, w.entityIndex.aliveCount)) if (entityExists(world, eid)) removeEntity(world, eid);
  commitRemovals(world);
  // the saved entity index, as it was: the same ids alive, the same ids handed out next
  const idx = w.entityIndex;
  idx.dense.length = 0;
  idx.dense.push(...h.index.dense);
  idx.sparse.length = 0;
  for (let i = 0; i < idx.dense.length; i++) idx.sparse[idx.dense[i]] = i;
  idx.aliveCount = h.index.alive;
  idx.maxId = h.index.maxId;
  const alive = h.index.dense.slice(0, h.index.alive);
  for (const eid of alive) w.entityComponents.set(eid, new Set());
  const comps = h.components.map((n) => {
    const comp = (ctx.c as Record<string, unknown>)[n];
    if (!comp) throw new RoomStateError(`saved room: component ${n} unknown to ${room.game.name}`);
    return comp;
  });
  for (let i = 0; i < alive.length; i++) {
    const m = h.masks[i];
    for (let ci = 0; ci < comps.length; ci++) if (m & (1 << ci)) addComponent(world, alive[i], comps[ci]);
  }
  // the stores' values (after addComponent, which may set defaults)
  const stores = storesOf(room);
  if (stores.length !== h.stores.length) throw new RoomStateError('saved room: the stores differ from this server\'s');
  const json = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  let at = bytes.byteOffset + 4 + json;
  for (let s = 0; s < stores.length; s++) {
    const { c, f, store } = stores[s];
    const saved = h.stores[s];
    if (saved.c !== c || saved.f !== f || saved.bytes !== store.BYTES_PER_ELEMENT) throw new RoomStateError(`saved room: store ${saved.c}.${saved.f} does not match ${c}.${f}`);
    const n = alive.length * saved.bytes;
    if (at + n > bytes.byteOffset + bytes.byteLength) throw new RoomStateError('saved room: store data truncated');
    const col = new (store.constructor as new (b: ArrayBuffer) => Store)(bytes.buffer.slice(at, at + n) as ArrayBuffer);
    for (let i = 0; i < alive.length; i++) store[alive[i]] = col[i];
    at += n;
  }
  // every query holds the saved entities, in the saved order
  const liveQueries = new Map(queriesOf(w).map(({ key, q }) => [key, q]));
  for (const q of h.queries) {
    const live = liveQueries.get(q.hash);
    if (!live) continue; // a query the fresh room has not registered yet registers with the entities as they are
    const members = new Set(q.dense);
    for (const eid of live.dense.slice()) if (!members.has(eid)) live.remove(eid);
    for (const eid of q.dense) if (!live.has(eid)) live.add(eid);
    const rank = new Map<number, number>();
    q.dense.forEach((eid, i) => rank.set(eid, i));
    live.sort((a, b) => (rank.get(a) ?? 1e9) - (rank.get(b) ?? 1e9));
  }
  ctx.tick = h.tick;
  ctx.rng.setState(h.rng);
  room.occupiedTicks = h.occupiedTicks;
  if (room.game.state) room.game.state.restore(ctx, h.gameState);
  return h;
}

/**
 * Checks that a game's rooms survive a save and restore: builds a room, plays it `ticks` ticks with
 * `players` players on seeded inputs, saves it, restores it into a fresh room, plays both on for
 * `ticksAfter` more ticks with the same inputs, and compares. Returns the problems found (none:
 * the game keeps all its state where a saved room carries it, or declares the rest in game.state).
 */
export function roomStateProblems(original: Room, fresh: () => Room, o: { ticks: number; ticksAfter: number; players: number; seed: number; step: (room: Room, inputs: readonly number[]) => void }): string[] {
  const problems: string[] = [];
  const inputsFor = (tick: number): number[] => {
    const out: number[] = [];
    for (let p = 0; p < o.players; p++) out.push(((tick * 2654435761 + p * 40503 + o.seed) >>> 0) % 9);
    return out;
  };
  for (let t = 0; t < o.ticks; t++) o.step(original, inputsFor(t));
  const saved = saveRoom(original);
  const copy = fresh();
  restoreRoom(saved, copy);
  const again = saveRoom(copy);
  if (!equalBytes(saved, again)) problems.push(`${original.game.name}: the restored room differs from the saved one at tick ${original.ctx.tick}`);
  for (let t = 0; t < o.ticksAfter; t++) {
    const inputs = inputsFor(o.ticks + t);
    o.step(original, inputs);
    o.step(copy, inputs);
  }
  if (!equalBytes(saveRoom(original), saveRoom(copy))) problems.push(`${original.game.name}: the restored room drifted from the original within ${o.ticksAfter} ticks (state outside the stores not declared in game.state?)`);
  return problems;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
