// Live room handoff between fleet members: a draining member freezes each room at a tick boundary,
// saves it (server/room-state.ts) with every player's session (entity, input window, reliable
// sequence numbers and unacknowledged messages, a fresh resume token), offers it to another
// serving member over HTTP (POST /admin/handoff, the fleet's admin token), which restores it and
// takes the room's record in Redis in one script fenced by both members' leases (scripts.ts
// TRANSFER); then the old owner sends each player and spectator `moved` and forgets the room. A
// refused or failed offer thaws the room where it was. docs/fleet.md "Moving rooms between members" walks the steps
// and what either side dying half-way does.
import type { Logger } from 'pino';
import { decodeServerControl, encodeControl, MAX_NAME_LENGTH, type ServerControl } from '../../shared/protocol/control.ts';
import { CloseCode } from '../../shared/protocol/ids.ts';
import type { NetSchema } from '../../shared/protocol/schema.ts';
import type { AnyGame } from '../../shared/sim/game.ts';
import type { ServerConfig } from '../config.ts';
import type { Inbound } from '../inbound.ts';
import type { InputStats } from '../inputs.ts';
import type { AddressBook } from '../limits.ts';
import type { Clock } from '../loop.ts';
import type { Outbound } from '../outbound.ts';
import { Player } from '../player.ts';
import { readRoomHeader, restoreRoom, RoomStateError, saveRoom } from '../room-state.ts';
import type { Room, RoomManager, RoomOrigin } from '../rooms.ts';
import { newToken, type Session, type SessionTable } from '../sessions.ts';
import type { Fleet, FleetMember } from './fleet.ts';

/** Version of the handoff envelope (the session section around the saved room). */
export const HANDOFF_VERSION = 1;

/** Longest an offer waits for the target's answer, ms; then the room's owner in Redis decides. */
export const HANDOFF_TIMEOUT_MS = 5000;

/** Largest handoff body a member reads, bytes (a room of 1,000 entities and 64 players is far below). */
export const MAX_HANDOFF_BODY_BYTES = 8 * 1024 * 1024;

/** Bytes the resend bound counts per kept message (as server/outbound.ts counts them). */
const KEPT_MESSAGE_BYTES = 64;

/** One player's (or spectator's) session as it moves. */
export interface SavedSession {
  readonly id: number;
  /** A spectator (no entity, no inputs): watching again at the new owner. Absent for players. */
  readonly spectator?: boolean;
  /** The spectator's name (a player's is in the saved room). */
  readonly name?: string;
  /** The resume token valid on the new owner (the old owner's `moved` carries it). */
  readonly token: string;
  readonly remote: string;
  readonly key: string;
  readonly datagrams: boolean;
  /** Sequence the new owner's next reliable message gets (the one after `moved`). */
  readonly outNext: number;
  /** Reliable messages sent and not acknowledged, each encoded (base64 of encodeControl), in order. */
  readonly unacked: readonly { readonly seq: number; readonly m: string }[];
  /** Highest reliable message from the client delivered. */
  readonly inDelivered: number;
  /** The last input applied, when one was. */
  readonly inputSeq: number;
  readonly inputApplied: boolean;
  /**
   * Inputs received and not applied yet when the room froze (the client predicted them), oldest
   * first, each its sequence and quantized values: the new owner applies them before the resumed
   * stream. Absent from envelopes of members that do not carry them.
   */
  readonly pending?: readonly { readonly seq: number; readonly v: readonly number[] }[];
}

/** The session section of a handoff, around the saved room. */
export interface HandoffHeader {
  readonly v: number;
  readonly room: string;
  /** The old owner's member id and the lease token it owns the room under. */
  readonly from: string;
  readonly fromToken: string;
  readonly origin: RoomOrigin;
  readonly sessions: readonly SavedSession[];
}

/** Why a handoff cannot be taken here (the reason goes back to the old owner). */
export class HandoffError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HandoffError';
  }
}

/** Layout: u32 little-endian length of the JSON header, the header, then the saved room. */
export function encodeHandoff(h: HandoffHeader, room: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(h));
  const out = new Uint8Array(4 + json.length + room.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  out.set(room, 4 + json.length);
  return out;
}

/** Reads a handoff's header and room bytes; throws HandoffError naming what is wrong. */
export function decodeHandoff(bytes: Uint8Array): { header: HandoffHeader; room: Uint8Array } {
  if (bytes.length < 4) throw new HandoffError('handoff: truncated');
  const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0, true);
  if (4 + len > bytes.length) throw new HandoffError('handoff: header truncated');
  let h: HandoffHeader;
  try {
    h = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + len))) as HandoffHeader;
  } catch {
    throw new HandoffError('handoff: header is not JSON');
  }
  if (typeof h !== 'object' || h === null) throw new HandoffError('handoff: header is not an object');
  if (h.v !== HANDOFF_VERSION) throw new HandoffError(`handoff: format ${String(h.v)}, this server reads ${HANDOFF_VERSION}`);
  if (typeof h.room !== 'string' || typeof h.from !== 'string' || typeof h.fromToken !== 'string' || !Array.isArray(h.sessions) || typeof h.origin !== 'object' || h.origin === null) {
    throw new HandoffError('handoff: header fields missing');
  }
  for (const s of h.sessions) {
    const ok = typeof s === 'object' && s !== null && Number.isInteger(s.id) && typeof s.token === 'string' && /^[0-9a-f]{32}$/.test(s.token)
      && Number.isInteger(s.outNext) && s.outNext >= 1 && Number.isInteger(s.inDelivered) && Array.isArray(s.unacked) && Number.isInteger(s.inputSeq)
      && typeof s.remote === 'string' && typeof s.key === 'string'
      && (s.spectator === undefined || typeof s.spectator === 'boolean') && (s.name === undefined || (typeof s.name === 'string' && s.name.length <= MAX_NAME_LENGTH))
      && (s.pending === undefined || (Array.isArray(s.pending) && s.pending.length <= MAX_PENDING_INPUTS && s.pending.every(validPendingInput)));
    if (!ok) throw new HandoffError('handoff: a session record is malformed');
  }
  return { header: h, room: bytes.subarray(4 + len) };
}

/** Most pending inputs a session record may carry (an input buffer holds fewer: server/inputs.ts). */
const MAX_PENDING_INPUTS = 64;

function validPendingInput(p: unknown): boolean {
  if (typeof p !== 'object' || p === null) return false;
  const { seq, v } = p as { seq?: unknown; v?: unknown };
  return Number.isInteger(seq) && (seq as number) >= 0 && (seq as number) <= 0xffff && Array.isArray(v) && v.length <= 64
    && v.every((x) => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffffffff);
}

/** What the handoff reads from and does to its server. */
export interface HandoffHost {
  readonly config: ServerConfig;
  readonly log: Logger;
  readonly rooms: RoomManager;
  /** The game this member hosts (a room of another game or version is refused). */
  readonly game: AnyGame;
  readonly memberId: string;
  fleet(): Fleet;
  publicUrl(): string;
  wsUrl(): string;
  /** The session side, known once the server is wired. */
  sessions(): HandoffSessions;
}

/** The session side a handoff works on (the server's tables and its inbound and outbound sides). */
export interface HandoffSessions {
  readonly table: SessionTable;
  readonly addresses: AddressBook;
  readonly out: Outbound;
  readonly schema: NetSchema;
  readonly inputTotals: InputStats;
  readonly clock: Clock;
  /** Ends a session whose room moved (or whose adoption is undone) without telling anyone. */
  retire(s: Session): void;
  /** Reads (`deliver`) or drops the sequenced messages held while `room` was frozen. */
  releaseHeld(room: Room, deliver: boolean): void;
  /** Announces the room's arrivals and departures not announced yet (before it freezes: its players would not hear of them otherwise). */
  flushRoomChanges(room: Room): void;
  /** Ends a session with a bye (spectators of a moved room). */
  disconnect(s: Session, code: typeof CloseCode.Drained, reason: string): void;
}

/** The parts of a server a handoff's session side is made of (server/server.ts). */
export interface SessionOwner {
  readonly sessions: SessionTable;
  readonly inbound: Inbound;
  readonly out: Outbound;
  readonly schema: NetSchema;
  readonly stats: { readonly inputs: InputStats };
  readonly clock: Clock;
}

/** The session side of a server. */
export function sessionSide(o: SessionOwner): HandoffSessions {
  const inbound = o.inbound;
  return {
    table: o.sessions, addresses: inbound.addresses, out: o.out, schema: o.schema, inputTotals: o.stats.inputs, clock: o.clock,
    retire: (s) => inbound.retireMoved(s), releaseHeld: (room, deliver) => inbound.releaseHeld(room, deliver), flushRoomChanges: (room) => inbound.flushRoomChanges(room), disconnect: (s, code, reason) => inbound.disconnect(s, code, reason),
  };
}

/** What an offer came to: `spectators` are the ids of the spectators the target seated (the others are sent away here). */
export type OfferResult = { kind: 'moved'; url: string; ws: string; owner: string; spectators: readonly number[] } | { kind: 'refused'; reason: string } | { kind: 'unknown'; reason: string };

/** What the target answers an offer (RoomHandoff.accept; the body of POST /admin/handoff's reply). */
export type AcceptResult = { ok: true; url: string; ws: string; owner: string; spectators: number[] } | { ok: false; status: number; reason: string };

/**
 * How an offer reaches its target: POST /admin/handoff between processes (httpChannel, what every
 * member uses), or a call to another RoomHandoff of the same process (directChannel: tests that run
 * two members in one process on a fake clock).
 */
export interface HandoffChannel {
  /** Opens the way to `target` before the freeze (one request opens the HTTP connection), so the freeze pays for no handshake. */
  warm(target: FleetMember): Promise<void>;
  /** Sends the room and reads the target's answer. */
  offer(target: FleetMember, bytes: Uint8Array): Promise<OfferResult>;
}

/** Loads the HTTP client behind fetch (Node loads it on first use, blocking the event loop meanwhile); idempotent. */
export function preloadHttpClient(): void {
  void new Headers();
}

/** Offers over HTTP with the fleet's admin token (HANDOFF_TIMEOUT_MS for the answer). */
export function httpChannel(adminToken: string): HandoffChannel {
  return {
    async warm(target) {
      await fetch(`${target.url}/healthz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.arrayBuffer(), () => undefined).catch(() => undefined);
    },
    async offer(target, bytes) {
      let res: Response;
      try {
        res = await fetch(`${target.url}/admin/handoff`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken}` },
          body: JSON.stringify({ blob: Buffer.from(bytes).toString('base64') }),
          signal: AbortSignal.timeout(HANDOFF_TIMEOUT_MS),
        });
      } catch (err) {
        return { kind: 'unknown', reason: (err as Error).message };
      }
      let body: Record<string, unknown>;
      try {
        body = (await res.json()) as Record<string, unknown>;
      } catch {
        return res.status >= 500 ? { kind: 'unknown', reason: `HTTP ${res.status}` } : { kind: 'refused', reason: `HTTP ${res.status}` };
      }
      if (res.status === 200 && body.ok === true && typeof body.url === 'string' && typeof body.ws === 'string' && typeof body.owner === 'string') {
        // a member that moves no spectators answers without the list: its spectators are sent away here
        const spectators = Array.isArray(body.spectators) ? body.spectators.filter((id): id is number => Number.isInteger(id)) : [];
        return { kind: 'moved', url: body.url, ws: body.ws, owner: body.owner, spectators };
      }
      const reason = typeof body.message === 'string' ? body.message : `HTTP ${res.status}`;
      return res.status >= 500 ? { kind: 'unknown', reason } : { kind: 'refused', reason };
    },
  };
}

/** Offers by calling `target`'s accept directly (two members in one process). */
export function directChannel(target: RoomHandoff): HandoffChannel {
  return {
    warm: () => Promise.resolve(),
    async offer(_member, bytes) {
      const r = await target.accept(bytes);
      if (r.ok) return { kind: 'moved', url: r.url, ws: r.ws, owner: r.owner, spectators: r.spectators };
      return r.status >= 500 ? { kind: 'unknown', reason: r.reason } : { kind: 'refused', reason: r.reason };
    },
  };
}

/** One room's move as measured: for logs, GET answers and the benchmark. */
export interface HandoffRecord {
  readonly room: string;
  readonly to: string;
  readonly players: number;
  /** Spectators that moved with the room (those the target had no place for were sent away). */
  readonly spectators: number;
  readonly bytes: number;
  /** Time from the freeze to the `moved` messages, ms. */
  readonly frozenMs: number;
  /** Of it, the time serialising the room and its sessions took (the tick loop waits meanwhile), ms. */
  readonly saveMs: number;
}

/** Both sides of live room handoff for one member. */
export class RoomHandoff {
  /** Rooms moved away from here, in order. */
  readonly moved: HandoffRecord[] = [];
  /** Rooms being offered (frozen here) or being taken (restored here, not owned yet). */
  private readonly inFlight = new Set<string>();
  private running: Promise<void> | undefined;
  /** How offers reach their targets (HTTP unless a test runs both members in one process). */
  channel: HandoffChannel;

  constructor(private readonly host: HandoffHost) {
    this.channel = httpChannel(host.config.adminToken);
  }

  /** True while `room` is being moved away or taken: heartbeats leave it out and conflicts on it are the handoff's. */
  busy(room: string): boolean {
    return this.inFlight.has(room);
  }

  /** Offers every room with players to another member, one after another (a drain with handoff). Calling it again while it runs changes nothing. */
  moveAll(): Promise<void> {
    this.running ??= (async () => {
      for (const room of [...this.host.rooms.list]) {
        if (room.players.length === 0 || room.frozen) continue;
        try {
          await this.moveRoom(room);
        } catch (err) {
          this.host.log.error({ err, room: room.name }, 'handoff: bug while moving a room; it stays here');
          if (room.frozen) this.thaw(room);
        }
      }
      this.running = undefined;
    })();
    return this.running;
  }

  /** Moves one room to the first serving member with room for its players that takes it; false when it stays. */
  async moveRoom(room: Room): Promise<boolean> {
    const { rooms, log } = this.host;
    const fleet = this.host.fleet();
    const stats = fleet.stats;
    const token = fleet.leaseToken?.();
    if (!token || !fleet.transfer) {
      log.warn({ room: room.name }, 'handoff: this member holds no fleet lease on Redis; the room stays');
      return false;
    }
    let targets: FleetMember[];
    try {
      targets = await this.targets(room.players.length);
    } catch (err) {
      log.warn({ err: (err as Error).message, room: room.name }, 'handoff: the fleet registry cannot be read; the room stays');
      return false;
    }
    if (targets.length === 0) {
      log.warn({ room: room.name, players: room.players.length }, 'handoff: no serving member has room for these players; the room stays');
      return false;
    }
    // One request before the freeze opens the connection to the first target (kept alive for the offer), so the room is not frozen for a TCP handshake.
    await this.channel.warm(targets[0]);
    if (rooms.get(room.name) !== room || room.players.length === 0) return false;
    const frozenAt = performance.now();
    this.host.sessions().flushRoomChanges(room);
    rooms.freeze(room);
    this.inFlight.add(room.name);
    try {
      const { bytes, tokens } = this.save(room, token);
      const saveMs = Math.round((performance.now() - frozenAt) * 10) / 10;
      for (const target of targets) {
        const r = await this.channel.offer(target, bytes);
        if (r.kind === 'refused') {
          stats.handoffsRefused++;
          log.warn({ room: room.name, to: target.id, reason: r.reason }, 'handoff: refused');
          continue;
        }
        if (r.kind === 'unknown') {
          // No answer: Redis says who owns the room now (the target's TRANSFER ran, or it did not).
          const owner = await fleet.roomOwner?.(room.name).catch(() => undefined);
          if (owner !== target.id) {
            stats.handoffsRefused++;
            log.warn({ room: room.name, to: target.id, reason: r.reason, owner: owner ?? null }, 'handoff: no answer and the room is not the target\'s');
            continue;
          }
          // the target's answer is lost: which spectators it seated is not known, so they are sent away
          this.complete(room, { url: target.url, ws: target.ws, owner: target.id, spectators: [] }, tokens, bytes.length, frozenAt, saveMs);
          return true;
        }
        this.complete(room, r, tokens, bytes.length, frozenAt, saveMs);
        return true;
      }
      this.thaw(room);
      log.warn({ room: room.name }, 'handoff: no member took the room; it plays on here');
      return false;
    } finally {
      this.inFlight.delete(room.name);
    }
  }

  /** Serving members other than this one with free capacity for `players`, most free first. */
  private async targets(players: number): Promise<FleetMember[]> {
    const members = await this.host.fleet().members();
    return members
      .filter((m) => m.id !== this.host.memberId && m.state === 'serving' && m.capacity - m.players >= players)
      .sort((a, b) => b.capacity - b.players - (a.capacity - a.players) || (a.id < b.id ? -1 : 1));
  }

  /** The frozen room and its sessions, each with a new resume token for the new owner. */
  private save(room: Room, leaseToken: string): { bytes: Uint8Array; tokens: Map<number, string> } {
    const side = this.host.sessions();
    const tokens = new Map<number, string>();
    const sessions: SavedSession[] = [];
    for (const p of room.players) {
      const s = side.table.get(p.id);
      if (!s || s.player !== p) continue;
      const token = newToken();
      tokens.set(s.id, token);
      sessions.push({
        id: s.id, token, remote: s.remoteAddress, key: s.addressKey, datagrams: s.datagramsWanted,
        // the number `moved` will get here is skipped there
        outNext: s.reliableOut.next + 1,
        unacked: s.reliableOut.unacked().map((m) => ({ seq: m.seq, m: Buffer.from(encodeControl(m.msg)).toString('base64') })),
        inDelivered: s.reliableIn.lastDelivered, inputSeq: p.inputs.lastAppliedSeq, inputApplied: p.inputs.hasApplied,
        pending: p.inputs.pendingInputs().map((i) => ({ seq: i.seq, v: i.values })),
      });
    }
    // Spectators: the same reliable state; no entity and no inputs (their Player holds the snapshot acks only).
    for (const p of room.spectators) {
      const s = side.table.get(p.id);
      if (!s || s.player !== p) continue;
      const token = newToken();
      tokens.set(s.id, token);
      sessions.push({
        id: s.id, spectator: true, name: s.name, token, remote: s.remoteAddress, key: s.addressKey, datagrams: s.datagramsWanted,
        outNext: s.reliableOut.next + 1,
        unacked: s.reliableOut.unacked().map((m) => ({ seq: m.seq, m: Buffer.from(encodeControl(m.msg)).toString('base64') })),
        inDelivered: s.reliableIn.lastDelivered, inputSeq: 0, inputApplied: false,
      });
    }
    const header: HandoffHeader = { v: HANDOFF_VERSION, room: room.name, from: this.host.memberId, fromToken: leaseToken, origin: room.origin, sessions };
    return { bytes: encodeHandoff(header, saveRoom(room)), tokens };
  }

  /** The new owner holds the room: each player and each spectator it seated is sent `moved`, other spectators `bye`, and the room is forgotten here. */
  private complete(room: Room, to: { url: string; ws: string; owner: string; spectators: readonly number[] }, tokens: Map<number, string>, bytes: number, frozenAt: number, saveMs: number): void {
    const { rooms, log } = this.host;
    const side = this.host.sessions();
    const fleet = this.host.fleet();
    const moved: Session[] = [];
    for (const p of room.players) {
      const s = side.table.get(p.id);
      const token = s ? tokens.get(s.id) : undefined;
      if (!s || s.player !== p || token === undefined) continue;
      const msg: ServerControl = { t: 'moved', url: to.url, ws: to.ws, token, room: room.name, owner: to.owner };
      side.out.sendControl(s, msg);
      moved.push(s);
    }
    const seated = new Set(to.spectators);
    let watching = 0;
    for (const sp of [...room.spectators]) {
      const s = side.table.get(sp.id);
      if (!s || s.player !== sp) continue;
      const token = tokens.get(s.id);
      if (token === undefined || !seated.has(s.id)) {
        side.disconnect(s, CloseCode.Drained, 'this room moved to another server: watch it again through the matchmaker');
        continue;
      }
      side.out.sendControl(s, { t: 'moved', url: to.url, ws: to.ws, token, room: room.name, owner: to.owner });
      moved.push(s);
      watching++;
    }
    for (const s of moved) side.retire(s);
    side.releaseHeld(room, false);
    room.frozen = undefined;
    rooms.dispose(room);
    fleet.stats.roomsHandedOff++;
    const record: HandoffRecord = { room: room.name, to: to.owner, players: moved.length - watching, spectators: watching, bytes, frozenMs: Math.round((performance.now() - frozenAt) * 10) / 10, saveMs };
    this.moved.push(record);
    log.info(record, 'handoff: room moved');
  }

  /** The room stays here: it ticks again, and the players who left while it was frozen are announced. */
  private thaw(room: Room): void {
    const left = room.frozen?.left ?? [];
    this.host.rooms.thaw(room);
    const side = this.host.sessions();
    side.releaseHeld(room, true);
    for (const id of left) {
      for (const p of room.players) {
        const other = side.table.get(p.id);
        if (other) side.out.sendControl(other, { t: 'left', sessionId: id });
      }
    }
  }

  /**
   * Takes a room another member offers (POST /admin/handoff): checks the versions, restores the
   * room and its sessions (each resumable with the token the old owner hands its client), takes
   * the room's record in Redis under both leases, and lets it tick. Refusals name the reason.
   */
  async accept(bytes: Uint8Array): Promise<AcceptResult> {
    const { rooms, log, config } = this.host;
    const fleet = this.host.fleet();
    const stats = fleet.stats;
    const refuse = (status: number, reason: string): { ok: false; status: number; reason: string } => {
      stats.handoffsRefused++;
      log.warn({ reason }, 'handoff: refused a room');
      return { ok: false, status, reason };
    };
    if (fleet.state() !== 'serving' || !fleet.transfer || !fleet.leaseToken?.()) return refuse(409, 'this member is not serving a fleet on Redis');
    let header: HandoffHeader;
    let roomBytes: Uint8Array;
    let params: Readonly<Record<string, number>>;
    try {
      ({ header, room: roomBytes } = decodeHandoff(bytes));
      const rh = readRoomHeader(roomBytes, this.host.game);
      if (rh.name !== header.room) throw new HandoffError('handoff: the saved room and the envelope name different rooms');
      params = rh.params;
    } catch (err) {
      if (err instanceof HandoffError || err instanceof RoomStateError) return refuse(409, err.message);
      throw err;
    }
    const side = this.host.sessions();
    if (this.inFlight.has(header.room) || rooms.get(header.room)) return refuse(409, `a room named ${header.room} is open here`);
    if (side.table.size + header.sessions.length > config.maxSessions) return refuse(409, 'no session capacity for these players');
    const now = side.clock.nowMs();
    const restoreFrom = performance.now();
    const room = rooms.openForRestore(header.room, now, params, header.origin);
    if (!room) return refuse(409, 'no room capacity here');
    this.inFlight.add(header.room);
    const adopted: Session[] = [];
    const watching: number[] = [];
    let restoreMs = 0;
    try {
      let saved;
      try {
        saved = restoreRoom(roomBytes, room);
      } catch (err) {
        if (err instanceof RoomStateError) throw new HandoffError(err.message);
        throw err;
      }
      const byId = new Map(header.sessions.map((s) => [s.id, s]));
      for (const p of saved.players) {
        const rec = byId.get(p.id);
        if (!rec) continue;
        const s = this.adopt(room, rec, p.name, p.eid, now);
        if (!s) throw new HandoffError(`session ${p.id} or its token is in use here`);
        adopted.push(s);
      }
      // Spectators watch on, as many as this member lets watch a room (the rest are sent away by the old owner).
      for (const rec of header.sessions) {
        if (rec.spectator !== true || room.spectators.length >= config.maxSpectatorsPerRoom) continue;
        const s = this.adoptSpectator(room, rec, now);
        if (!s) throw new HandoffError(`session ${rec.id} or its token is in use here`);
        adopted.push(s);
        watching.push(s.id);
      }
      restoreMs = Math.round((performance.now() - restoreFrom) * 10) / 10;
      const outcome = await fleet.transfer(header.room, header.from, header.fromToken);
      if (outcome !== 'ok') throw new HandoffError(`the fleet registry refused the transfer: ${outcome}`);
    } catch (err) {
      for (const s of adopted) side.retire(s);
      room.frozen = undefined;
      rooms.dispose(room);
      this.inFlight.delete(header.room);
      if (err instanceof HandoffError) return refuse(409, err.message);
      log.error({ err, room: header.room }, 'handoff: bug while taking a room');
      return refuse(500, 'internal error');
    }
    this.inFlight.delete(header.room);
    rooms.thaw(room);
    stats.roomsReceived++;
    stats.handoffBytes += bytes.length;
    log.info({ room: header.room, from: header.from, players: adopted.length - watching.length, spectators: watching.length, tick: room.ctx.tick, bytes: bytes.length, restoreMs }, 'handoff: room taken');
    return { ok: true, url: this.host.publicUrl(), ws: this.host.wsUrl(), owner: this.host.memberId, spectators: watching };
  }

  /** A session's table entry and reliable state as they were on the old owner (no room yet); undefined when its id or token is in use here. */
  private adoptSession(rec: SavedSession, name: string): Session | undefined {
    const side = this.host.sessions();
    const s = side.table.adopt(rec.id, rec.token, rec.remote, rec.key, this.host.config);
    if (!s) return undefined;
    side.addresses.get(s.addressKey).sessions++;
    s.name = name;
    s.datagramsWanted = rec.datagrams;
    const unacked = rec.unacked.map((u) => ({ seq: u.seq, msg: decodeServerControl(new Uint8Array(Buffer.from(u.m, 'base64'))), bytes: KEPT_MESSAGE_BYTES }));
    s.reliableOut.restore(rec.outNext, unacked);
    s.reliableIn.lastDelivered = rec.inDelivered;
    return s;
  }

  /** The session resumes here, in `room` (its player seated already), within the resume window. */
  private resumeIn(s: Session, room: Room, player: Player, now: number): void {
    s.player = player;
    s.room = room;
    s.state = 'resuming';
    s.resumeDeadlineMs = now + this.host.config.resumeGraceMs;
    this.host.sessions().out.bindPlayer(s);
  }

  /** A spectator as it was on the old owner, resuming here: watching the room again, with no entity. */
  private adoptSpectator(room: Room, rec: SavedSession, now: number): Session | undefined {
    const side = this.host.sessions();
    const s = this.adoptSession(rec, rec.name ?? `spectator ${rec.id}`);
    if (!s) return undefined;
    s.spectator = true;
    const player = new Player(s.id, s.name, side.schema.inputFields.length, this.host.config.net.inputBufferMax, side.inputTotals);
    // in a room with views: around the first player until the spectator's camera (which its client repeats every second) arrives here
    const c = this.host.config;
    room.addSpectator(player, room.interest ? (c.spectatorViewRadius > 0 ? c.spectatorViewRadius : room.interest.viewRadius) : 0);
    this.resumeIn(s, room, player, now);
    return s;
  }

  /** One session as it was on the old owner, resuming here: its player seated on its entity. */
  private adopt(room: Room, rec: SavedSession, name: string, eid: number, now: number): Session | undefined {
    const side = this.host.sessions();
    const c = this.host.config;
    const pending = rec.pending ?? [];
    const nf = side.schema.inputFields.length;
    if (pending.some((i) => i.v.length !== nf)) throw new HandoffError(`session ${rec.id}: a pending input does not have this game's ${nf} input fields`);
    const s = this.adoptSession(rec, name);
    if (!s) return undefined;
    const player = new Player(s.id, name, side.schema.inputFields.length, c.net.inputBufferMax, side.inputTotals);
    player.inputs.continueAfter(rec.inputSeq, rec.inputApplied);
    // The inputs the old owner held unapplied: applied here from the first tick, in order (their
    // client predicted them, and resends only those it sent after the freeze was saved).
    for (const i of pending) player.inputs.offer(i.seq, i.v, 0);
    player.inputs.standWhenDrained();
    player.inputAck = player.inputs.lastAppliedSeq;
    player.hasInputAck = player.inputs.hasApplied;
    room.adoptPlayer(player, eid);
    this.resumeIn(s, room, player, now);
    return s;
  }
}
