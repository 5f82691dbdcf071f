// Reliable control messages (WebSocket): msgpack bodies behind a one-byte type, strictly validated on read.
import { Packr } from 'msgpackr';
import { DecodeError } from './errors.ts';
import { MsgType } from './ids.ts';

/** Longest player name, in UTF-16 code units. */
export const MAX_NAME_LENGTH = 32;
/** Longest chat text. */
export const MAX_CHAT_LENGTH = 256;
/** Longest auth token. */
export const MAX_TOKEN_LENGTH = 1024;
/** Longest room name; room names match ROOM_NAME_PATTERN. */
export const MAX_ROOM_NAME_LENGTH = 64;
/** Allowed room names. */
export const ROOM_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Longest game event name. */
export const MAX_EVENT_NAME_LENGTH = 32;
/** Deepest nesting of game event data. */
export const MAX_EVENT_DATA_DEPTH = 32;
/** Longest seat token (POST /matchmake hands out 24 base64url characters). */
export const MAX_SEAT_LENGTH = 64;
/** What a seat token looks like: base64url characters. */
const SEAT_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

/** Most room parameters a hello may ask for. */
export const MAX_ROOM_PARAMS = 8;
/** Players one `roster` message lists at most (a bigger room's roster comes in several). */
export const MAX_ROSTER_PLAYERS = 256;
/** Allowed room parameter names. */
export const ROOM_PARAM_PATTERN = /^[A-Za-z][A-Za-z0-9_]{0,31}$/;

/**
 * Reliable sequencing carried by any control message: `s` numbers a sequenced message (chat, event,
 * joined, left, error: delivered exactly once, in order, across reconnects); `a` acknowledges every
 * sequenced message up to that number received from the other side.
 */
export interface Sequencing {
  s?: number;
  a?: number;
}

/** Message types that are sequenced (resent after a reconnect until acknowledged). */
export const SEQUENCED_TYPES: ReadonlySet<string> = new Set(['chat', 'event', 'joined', 'roster', 'left', 'error', 'moved']);

/** Messages a client sends. */
export type ClientControl = Sequencing &
  (
    /** `roster`: the client takes the players already in the room as `roster` messages (else one `joined` each). */
    | { t: 'hello'; v: number; hash: number; name: string; token?: string; room?: string; wsOnly?: boolean; private?: boolean; params?: Record<string, number>; seat?: string; spectate?: boolean; roster?: boolean }
    | { t: 'resume'; v: number; hash: number; token: string }
    | { t: 'chat'; text: string }
    | { t: 'ping'; id: number; ms: number }
    | { t: 'event'; name: string; data?: unknown }
    | { t: 'transport'; use: 'ws' | 'webrtc' }
    | { t: 'ack' }
    | { t: 'leave' }
  );

/** What welcome and resumed both carry. */
export interface SessionInfo {
  sessionId: number;
  /** Single-use token (32 hex chars): binds the WebRTC channel, and resumes the session once; rotated on every resume. */
  token: string;
  room: string;
  eid: number;
  tick: number;
  tickRateHz: number;
  snapshotRateHz: number;
  inputRedundancy: number;
  maxPacketBytes: number;
  signalingPort: number;
  webrtc: boolean;
  /** How long the server keeps a dropped session for a resume, ms. */
  resumeGraceMs: number;
  /** A spectator: no entity (`eid` is NO_ENTITY), its inputs are ignored, it receives every snapshot. */
  spectator?: boolean;
  /**
   * A spectator on its room's shared stream (over the WebSocket): every snapshot is a delta against
   * the previous one (a keyframe first), so the client sends no snapshot acks; any control message
   * within the server's clientTimeoutMs says it is there.
   */
  stream?: boolean;
}

/** The `eid` of a session without an entity (a spectator). */
export const NO_ENTITY = 0xffffffff;

/** A player as `joined` and each entry of `roster` carry it. */
export interface RosterPlayer {
  sessionId: number;
  name: string;
  eid: number;
}

/** Messages the server sends. */
export type ServerControl = Sequencing &
  (
  | ({ t: 'welcome' } & SessionInfo)
  | ({ t: 'resumed' } & SessionInfo)
  | { t: 'ack' }
  | { t: 'reject'; code: number; reason: string }
  | { t: 'pong'; id: number; ms: number; tick: number }
  | { t: 'chat'; from: number; name: string; text: string }
  | ({ t: 'joined' } & RosterPlayer)
  /** The players in the room when the client entered it, at most MAX_ROSTER_PLAYERS per message: a `joined` each, at once. */
  /**
   * Who is in the room: to a player entering it, the players already there; later, to every
   * player, those who entered and the sessions (`left`) that left since the last one (at most about
   * one a snapshot interval). At most MAX_ROSTER_PLAYERS of each per message.
   */
  | { t: 'roster'; players: RosterPlayer[]; left?: number[] }
  | { t: 'left'; sessionId: number }
  | { t: 'event'; name: string; data?: unknown; from?: number }
  | { t: 'error'; code: number; message: string }
  | { t: 'transport'; use: 'ws' | 'webrtc' }
  | { t: 'bye'; code: number; reason: string }
  /** The room moved to another fleet member: resume there (url, ws) with `token`; same session, entity and room. */
  | { t: 'moved'; url: string; ws: string; token: string; room: string; owner: string }
  );

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true, moreTypes: false, int64AsType: 'number' });

/** Encodes a control message as [MsgType.Control, ...msgpack]. Allocates: control traffic is rare. */
export function encodeControl(msg: ClientControl | ServerControl): Uint8Array {
  // (any value packs: tests and fuzzers encode what is no message at all)
  if (typeof msg === 'object' && msg !== null && msg.t === 'roster') {
    const fast = encodeRoster(msg as Extract<ServerControl, { t: 'roster' }>);
    if (fast) return fast;
  }
  const body = packr.pack(msg);
  const out = new Uint8Array(body.length + 1);
  out[0] = MsgType.Control;
  out.set(body, 1);
  return out;
}

/**
 * The msgpack bytes of each roster entry object, kept while the object lives: a server lists a
 * player with one object in every roster it sends (Player.rosterEntry), so a roster of 256 to each
 * of 1,000 players costs copying the entries' bytes, not encoding them each time.
 */
const rosterEntryBytes = new WeakMap<RosterPlayer, Uint8Array>();
const TAIL_KEYS: ReadonlyMap<string, Uint8Array> = new Map(['left', 's', 'a'].map((k) => [k, Uint8Array.from(packr.pack(k))]));
const ROSTER_HEAD = Uint8Array.of(...packr.pack('t'), ...packr.pack('roster'), ...packr.pack('players'));

/** Bytes of a msgpack array header of n items (n < 2^16: a roster's are at most MAX_ROSTER_PLAYERS). */
const arrayHeaderSize = (n: number): number => (n < 16 ? 1 : 3);

/** Writes a msgpack array header of n items at `at`; returns the end. */
function writeArrayHeader(out: Uint8Array, at: number, n: number): number {
  if (n < 16) {
    out[at] = 0x90 | n;
    return at + 1;
  }
  out[at] = 0xdc;
  out[at + 1] = n >>> 8;
  out[at + 2] = n & 0xff;
  return at + 3;
}

/** Bytes of a msgpack unsigned integer as msgpackr writes it (positive fixint, uint8, uint16, uint32). */
const uintSize = (v: number): number => (v < 0x80 ? 1 : v < 0x100 ? 2 : v < 0x10000 ? 3 : 5);

/** Writes a msgpack unsigned integer at `at`; returns the end. */
function writeUint(out: Uint8Array, at: number, v: number): number {
  if (v < 0x80) {
    out[at] = v;
    return at + 1;
  }
  if (v < 0x100) {
    out[at] = 0xcc;
    out[at + 1] = v;
    return at + 2;
  }
  if (v < 0x10000) {
    out[at] = 0xcd;
    out[at + 1] = v >>> 8;
    out[at + 2] = v & 0xff;
    return at + 3;
  }
  out[at] = 0xce;
  out[at + 1] = v >>> 24;
  out[at + 2] = (v >>> 16) & 0xff;
  out[at + 3] = (v >>> 8) & 0xff;
  out[at + 4] = v & 0xff;
  return at + 5;
}

const isU32 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;

/**
 * A `roster` message, byte for byte what packr writes, from its entries' kept bytes. Undefined
 * (packr packs it) for any other shape: keys other than t, players, then left / s / a, an
 * undefined value, a value that is not a u32 where one goes, or arrays of 2^16 or more.
 */
function encodeRoster(msg: Extract<ServerControl, { t: 'roster' }>): Uint8Array | undefined {
  const o = msg as unknown as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length > 5 || keys[0] !== 't' || keys[1] !== 'players') return undefined;
  const players = msg.players;
  // without players (departures alone) there are no kept bytes to reuse: packr is as fast
  if (!Array.isArray(players) || players.length === 0 || players.length >= 0x10000) return undefined;
  // sizes first, then one write
  let size = 2 + ROSTER_HEAD.length + arrayHeaderSize(players.length);
  for (let i = 2; i < keys.length; i++) {
    const k = keys[i];
    const v = o[k];
    const key = TAIL_KEYS.get(k);
    if (key === undefined) return undefined;
    size += key.length;
    if (k === 'left') {
      if (!Array.isArray(v) || v.length >= 0x10000) return undefined;
      size += arrayHeaderSize(v.length);
      for (let j = 0; j < v.length; j++) {
        const id = v[j] as number;
        // a u32: the only values that >>> 0 leaves as they are
        if (id >>> 0 !== id) return undefined;
        size += uintSize(id);
      }
    } else if (isU32(v)) size += uintSize(v);
    else return undefined;
  }
  const entries = rosterScratch;
  entries.length = 0;
  for (const p of players) {
    if (typeof p !== 'object' || p === null) return undefined;
    let b = rosterEntryBytes.get(p);
    if (b === undefined) {
      // a copy: packr's result is a view of its working buffer
      b = Uint8Array.from(packr.pack(p));
      // kept for frozen entries only: a mutable one could change after its bytes were kept
      if (Object.isFrozen(p)) rosterEntryBytes.set(p, b);
    }
    entries.push(b);
    size += b.length;
  }
  const out = new Uint8Array(size);
  out[0] = MsgType.Control;
  out[1] = 0x80 | keys.length;
  out.set(ROSTER_HEAD, 2);
  let at = writeArrayHeader(out, 2 + ROSTER_HEAD.length, players.length);
  for (const b of entries) {
    out.set(b, at);
    at += b.length;
  }
  entries.length = 0;
  for (let i = 2; i < keys.length; i++) {
    const k = keys[i];
    const key = TAIL_KEYS.get(k) as Uint8Array;
    out.set(key, at);
    at += key.length;
    const v = o[k];
    if (k === 'left') {
      const ids = v as number[];
      at = writeArrayHeader(out, at, ids.length);
      for (let j = 0; j < ids.length; j++) at = writeUint(out, at, ids[j]);
    } else at = writeUint(out, at, v as number);
  }
  return out;
}

/** The entries' bytes of the roster being encoded. */
const rosterScratch: Uint8Array[] = [];

function unpackBody(bytes: Uint8Array): Record<string, unknown> {
  if (bytes.length < 2 || bytes[0] !== MsgType.Control) throw new DecodeError('type', 0, 'not a control message');
  let value: unknown;
  try {
    value = packr.unpack(bytes.subarray(1));
  } catch (err) {
    throw new DecodeError('body', 8, `invalid msgpack: ${(err as Error).message}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new DecodeError('body', 8, 'not a map');
  return value as Record<string, unknown>;
}

function str(o: Record<string, unknown>, key: string, maxLen: number, optional = false): string | undefined {
  const v = o[key];
  if (v === undefined && optional) return undefined;
  if (typeof v !== 'string') throw new DecodeError(key, 8, 'not a string');
  if (v.length > maxLen) throw new DecodeError(key, 8, `longer than ${maxLen}`);
  return v;
}

function uint32(o: Record<string, unknown>, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new DecodeError(key, 8, 'not a u32');
  return v;
}

function finite(o: Record<string, unknown>, key: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new DecodeError(key, 8, 'not a finite number');
  return v;
}

/** The fields of a `joined`, and of each player of a `roster`. */
function rosterPlayer(o: Record<string, unknown>): RosterPlayer {
  return { sessionId: uint32(o, 'sessionId'), name: str(o, 'name', MAX_NAME_LENGTH) as string, eid: uint32(o, 'eid') };
}

/** A roster's sessions that left: an array of at most MAX_ROSTER_PLAYERS u32; any fault names `left`. */
function rosterLeft(o: Record<string, unknown>): number[] {
  const v = o.left;
  if (!Array.isArray(v)) throw new DecodeError('left', 8, 'not an array');
  if (v.length > MAX_ROSTER_PLAYERS) throw new DecodeError('left', 8, `more than ${MAX_ROSTER_PLAYERS} sessions`);
  for (const id of v) if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new DecodeError('left', 8, 'a session id is not a u32');
  return v as number[];
}

/** A roster's players: an array of at most MAX_ROSTER_PLAYERS maps of sessionId, name and eid; any fault names `players`. */
function rosterPlayers(o: Record<string, unknown>): RosterPlayer[] {
  const v = o.players;
  if (!Array.isArray(v)) throw new DecodeError('players', 8, 'not an array');
  if (v.length > MAX_ROSTER_PLAYERS) throw new DecodeError('players', 8, `more than ${MAX_ROSTER_PLAYERS} players`);
  const out: RosterPlayer[] = [];
  for (const p of v) {
    if (typeof p !== 'object' || p === null || Array.isArray(p)) throw new DecodeError('players', 8, 'a player is not a map');
    try {
      out.push(rosterPlayer(p as Record<string, unknown>));
    } catch (err) {
      throw new DecodeError('players', 8, `a player's ${err instanceof DecodeError ? err.field : 'field'} is invalid`);
    }
  }
  return out;
}

function bool(o: Record<string, unknown>, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new DecodeError(key, 8, 'not a boolean');
  return v;
}

/**
 * Event data must be a plain tree: nil, booleans, numbers, strings, byte arrays, arrays and maps.
 * msgpackr also decodes extensions into Errors, RegExps, Sets, BigInts, Dates, typed arrays and
 * shared or cyclic references, which a game could not relay or serialize (a cycle overflows the
 * stack when re-encoded). `budget.nodes` starts at the message length: a tree of N bytes has at
 * most N nodes, so more means shared references expanding the data.
 */
function plainData(v: unknown, depth: number, budget: { nodes: number }): boolean {
  if (--budget.nodes < 0) return false;
  if (v === null || v === undefined) return true;
  const type = typeof v;
  if (type === 'boolean' || type === 'number' || type === 'string') return true;
  if (type !== 'object' || depth >= MAX_EVENT_DATA_DEPTH) return false;
  if (Array.isArray(v)) return v.every((x) => plainData(x, depth + 1, budget));
  if (v instanceof Uint8Array) return true;
  if (Object.getPrototypeOf(v) !== Object.prototype) return false;
  return Object.values(v as object).every((x) => plainData(x, depth + 1, budget));
}

function eventData(o: Record<string, unknown>, messageBytes: number): unknown {
  if (!plainData(o.data, 0, { nodes: messageBytes })) throw new DecodeError('data', 8, 'not plain data (extension type, too deep or shared references)');
  return o.data;
}

/** Room parameters a hello asks for: a map of at most MAX_ROOM_PARAMS finite numbers with plain names. */
function roomParams(v: unknown): Record<string, number> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.getPrototypeOf(v) !== Object.prototype) throw new DecodeError('params', 8, 'not a map');
  const entries = Object.entries(v as Record<string, unknown>);
  if (entries.length > MAX_ROOM_PARAMS) throw new DecodeError('params', 8, `more than ${MAX_ROOM_PARAMS} parameters`);
  const out: Record<string, number> = {};
  for (const [k, x] of entries) {
    if (!ROOM_PARAM_PATTERN.test(k)) throw new DecodeError('params', 8, 'invalid parameter name');
    if (typeof x !== 'number' || !Number.isFinite(x)) throw new DecodeError('params', 8, `${k} is not a finite number`);
    out[k] = x;
  }
  return out;
}

function transportUse(o: Record<string, unknown>): 'ws' | 'webrtc' {
  const v = o.use;
  if (v !== 'ws' && v !== 'webrtc') throw new DecodeError('use', 8, 'not ws|webrtc');
  return v;
}

function sequencing<T extends Sequencing>(o: Record<string, unknown>, msg: T): T {
  if (o.s !== undefined) msg.s = uint32(o, 's');
  if (o.a !== undefined) msg.a = uint32(o, 'a');
  if (msg.s !== undefined && !SEQUENCED_TYPES.has(String(o.t))) throw new DecodeError('s', 8, `${String(o.t)} is not a sequenced message`);
  if (msg.s === 0) throw new DecodeError('s', 8, 'sequence numbers start at 1');
  return msg;
}

/** Decodes and validates a client's control message; throws DecodeError naming the bad field. */
export function decodeClientControl(bytes: Uint8Array): ClientControl {
  const o = unpackBody(bytes);
  return sequencing(o, decodeClientBody(o, bytes.length));
}

function token32(o: Record<string, unknown>): string {
  const t = str(o, 'token', 32) as string;
  if (!/^[0-9a-f]{32}$/.test(t)) throw new DecodeError('token', 8, 'not 32 hex characters');
  return t;
}

type ClientBodyDecoders = { readonly [K in ClientControl['t']]: (o: Record<string, unknown>, messageBytes: number) => Extract<ClientControl, { t: K }> };

/** One decoder per client message type; the keys are the only `t` values a server accepts. */
const CLIENT_DECODERS: ClientBodyDecoders = {
  hello: (o) => {
    const room = str(o, 'room', MAX_ROOM_NAME_LENGTH, true);
    if (room !== undefined && !ROOM_NAME_PATTERN.test(room)) throw new DecodeError('room', 8, 'invalid room name');
    const msg: Extract<ClientControl, { t: 'hello' }> = { t: 'hello', v: uint32(o, 'v'), hash: uint32(o, 'hash'), name: str(o, 'name', MAX_NAME_LENGTH) as string };
    const token = str(o, 'token', MAX_TOKEN_LENGTH, true);
    if (token !== undefined) msg.token = token;
    if (room !== undefined) msg.room = room;
    const wsOnly = bool(o, 'wsOnly');
    if (wsOnly !== undefined) msg.wsOnly = wsOnly;
    const priv = bool(o, 'private');
    if (priv !== undefined) msg.private = priv;
    if (o.params !== undefined) msg.params = roomParams(o.params);
    const spectate = bool(o, 'spectate');
    if (spectate !== undefined) msg.spectate = spectate;
    const roster = bool(o, 'roster');
    if (roster !== undefined) msg.roster = roster;
    const seat = str(o, 'seat', MAX_SEAT_LENGTH, true);
    if (seat !== undefined && !SEAT_PATTERN.test(seat)) throw new DecodeError('seat', 8, 'not a seat token');
    if (seat !== undefined) msg.seat = seat;
    return msg;
  },
  resume: (o) => ({ t: 'resume', v: uint32(o, 'v'), hash: uint32(o, 'hash'), token: token32(o) }),
  chat: (o) => ({ t: 'chat', text: str(o, 'text', MAX_CHAT_LENGTH) as string }),
  ping: (o) => ({ t: 'ping', id: uint32(o, 'id'), ms: finite(o, 'ms') }),
  event: (o, messageBytes) => ({ t: 'event', name: str(o, 'name', MAX_EVENT_NAME_LENGTH) as string, data: eventData(o, messageBytes) }),
  transport: (o) => ({ t: 'transport', use: transportUse(o) }),
  ack: () => ({ t: 'ack' }),
  leave: () => ({ t: 'leave' }),
};

/** Every `t` a client may send (the client decoder's dispatch table, so the list cannot drift from it). */
export const CLIENT_CONTROL_TYPES: readonly ClientControl['t'][] = Object.freeze(Object.keys(CLIENT_DECODERS) as ClientControl['t'][]);

/** The decoder of `t`, or undefined for an unknown type (own keys only: `t` is client data). */
function decoderFor<T extends object>(table: T, t: unknown): T[keyof T] | undefined {
  return typeof t === 'string' && Object.hasOwn(table, t) ? table[t as keyof T] : undefined;
}

function decodeClientBody(o: Record<string, unknown>, messageBytes: number): ClientControl {
  const decode = decoderFor(CLIENT_DECODERS, o.t) as ((o: Record<string, unknown>, messageBytes: number) => ClientControl) | undefined;
  if (!decode) throw new DecodeError('t', 8, 'unknown control message type');
  return decode(o, messageBytes);
}

function sessionInfo(o: Record<string, unknown>): SessionInfo {
  return {
    sessionId: uint32(o, 'sessionId'), token: token32(o), room: str(o, 'room', MAX_ROOM_NAME_LENGTH) as string,
    eid: uint32(o, 'eid'), tick: uint32(o, 'tick'), tickRateHz: uint32(o, 'tickRateHz'), snapshotRateHz: uint32(o, 'snapshotRateHz'),
    inputRedundancy: uint32(o, 'inputRedundancy'), maxPacketBytes: uint32(o, 'maxPacketBytes'), signalingPort: uint32(o, 'signalingPort'),
    webrtc: bool(o, 'webrtc') ?? false, resumeGraceMs: uint32(o, 'resumeGraceMs'),
    ...(bool(o, 'spectator') === true ? { spectator: true } : {}),
    ...(bool(o, 'stream') === true ? { stream: true } : {}),
  };
}

/** Decodes a server's control message (client side). Validates the envelope and type tag. */
export function decodeServerControl(bytes: Uint8Array): ServerControl {
  const o = unpackBody(bytes);
  return sequencing(o, decodeServerBody(o, bytes.length));
}

type ServerBodyDecoders = { readonly [K in ServerControl['t']]: (o: Record<string, unknown>, messageBytes: number) => Extract<ServerControl, { t: K }> };

/** One decoder per server message type; the keys are the only `t` values a client accepts. */
const SERVER_DECODERS: ServerBodyDecoders = {
  welcome: (o) => ({ t: 'welcome', ...sessionInfo(o) }),
  resumed: (o) => ({ t: 'resumed', ...sessionInfo(o) }),
  ack: () => ({ t: 'ack' }),
  reject: (o) => ({ t: 'reject', code: uint32(o, 'code'), reason: str(o, 'reason', 1024) as string }),
  pong: (o) => ({ t: 'pong', id: uint32(o, 'id'), ms: finite(o, 'ms'), tick: uint32(o, 'tick') }),
  chat: (o) => ({ t: 'chat', from: uint32(o, 'from'), name: str(o, 'name', MAX_NAME_LENGTH) as string, text: str(o, 'text', MAX_CHAT_LENGTH) as string }),
  joined: (o) => ({ t: 'joined', ...rosterPlayer(o) }),
  roster: (o) => (o.left === undefined ? { t: 'roster', players: rosterPlayers(o) } : { t: 'roster', players: rosterPlayers(o), left: rosterLeft(o) }),
  left: (o) => ({ t: 'left', sessionId: uint32(o, 'sessionId') }),
  event: (o, messageBytes) => {
    const msg: Extract<ServerControl, { t: 'event' }> = { t: 'event', name: str(o, 'name', MAX_EVENT_NAME_LENGTH) as string, data: eventData(o, messageBytes) };
    if (o.from !== undefined) msg.from = uint32(o, 'from');
    return msg;
  },
  error: (o) => ({ t: 'error', code: uint32(o, 'code'), message: str(o, 'message', 1024) as string }),
  transport: (o) => ({ t: 'transport', use: transportUse(o) }),
  bye: (o) => ({ t: 'bye', code: uint32(o, 'code'), reason: str(o, 'reason', 1024) as string }),
  moved: (o) => ({ t: 'moved', url: httpUrl(o, 'url', /^https?:\/\//), ws: httpUrl(o, 'ws', /^wss?:\/\//), token: token32(o), room: str(o, 'room', MAX_ROOM_NAME_LENGTH) as string, owner: str(o, 'owner', 128) as string }),
};

/** A URL field of `moved`: at most 512 characters, with the scheme `scheme` matches. */
function httpUrl(o: Record<string, unknown>, key: string, scheme: RegExp): string {
  const v = str(o, key, 512) as string;
  if (!scheme.test(v)) throw new DecodeError(key, 8, 'not an http(s) or ws(s) URL');
  return v;
}

/** Every `t` the server may send (the client-side decoder's dispatch table, so the list cannot drift from it). */
export const SERVER_CONTROL_TYPES: readonly ServerControl['t'][] = Object.freeze(Object.keys(SERVER_DECODERS) as ServerControl['t'][]);

function decodeServerBody(o: Record<string, unknown>, messageBytes: number): ServerControl {
  const decode = decoderFor(SERVER_DECODERS, o.t) as ((o: Record<string, unknown>, messageBytes: number) => ServerControl) | undefined;
  if (!decode) throw new DecodeError('t', 8, 'unknown control message type');
  return decode(o, messageBytes);
}
