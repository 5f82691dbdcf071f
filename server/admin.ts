// The operator's routes, built from the server's state: the monitor page, the admin JSON API (every
// room with its sessions and their link figures, one room's entities) and its actions (kick a
// session, close a room) carried out by the inbound side's session life cycle; and the admin
// token gate. Everything answers 404 while config.adminToken is empty.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import {
  ADMIN_ENTITY_LIMIT, ADMIN_ENTITY_LIMIT_MAX, ADMIN_PATHS, ADMIN_REASON_MAX,
  type AdminEntitiesReply, type AdminEntity, type AdminRoom, type AdminRoomsReply, type AdminSession,
} from '../shared/protocol/admin.ts';
import type { RouteSources } from './http.ts';
import type { Clock } from './loop.ts';
import type { AdminGate, HttpRoute, HttpRoutes, RouteReply } from './net/uws.ts';
import type { Player } from './player.ts';
import type { Room } from './rooms.ts';

/** What the session life cycle (server/inbound.ts) offers the admin routes: both act at its next safe point. */
export interface AdminActions {
  /** Ends a session with bye Kicked; false when there is no such session. */
  kick(sessionId: number, reason: string): boolean;
  /** Ends every session of a room with bye RoomClosed and disposes it; the players it holds, or -1 when there is no such room. */
  closeRoom(name: string, reason: string): number;
}

/** What the admin routes read and act on. */
export interface AdminSources extends RouteSources {
  readonly log: Logger;
  readonly clock: Clock;
  readonly actions: AdminActions;
}

/** The server's routes with the operator's added: the monitor, /admin/* and the admin gate. */
export function withAdminRoutes(base: HttpRoutes, src: AdminSources): HttpRoutes {
  const admin = adminRoutes(src);
  return { ...base, ...admin, table: [...(base.table ?? []), ...admin.table] };
}

/** The monitor page: its HTML and script. */
export interface MonitorBundle {
  readonly html: string;
  readonly js: string;
}

/** Builds the monitor page (monitor/build.ts, bundled with esbuild once per process, on first use). */
export type MonitorLoader = () => Promise<MonitorBundle>;

let monitorOnce: Promise<MonitorBundle> | undefined;

/** The monitor page built from monitor/ (cached: one build per process; a failed build is retried next time). */
export const loadMonitor: MonitorLoader = () => {
  if (!monitorOnce) {
    monitorOnce = import('../monitor/build.ts').then((m) => m.buildMonitor());
    monitorOnce.catch(() => {
      monitorOnce = undefined;
    });
  }
  return monitorOnce;
};

/** Headers of the monitor page: its own script and the admin API only, never framed, no referrer. */
const PAGE_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/**
 * The admin gate: enabled when `token` is set; a header authorizes when it is `Bearer <token>`,
 * compared as SHA-256 digests in constant time (neither the token's length nor a prefix leaks).
 * `onDenied` counts refusals.
 */
export function adminGate(token: string, onDenied: () => void): AdminGate {
  const want = createHash('sha256').update(token).digest();
  return {
    enabled: token !== '',
    authorize(authorization) {
      const m = /^Bearer +(\S+) *$/i.exec(authorization);
      const got = createHash('sha256').update(m ? m[1] : '').digest();
      const ok = token !== '' && m !== null && timingSafeEqual(got, want);
      if (!ok) onDenied();
      return ok;
    },
  };
}

/** The operator's routes and their gate (HttpRoutes.table and .admin). */
export function adminRoutes(src: AdminSources, monitor: MonitorLoader = loadMonitor): { table: HttpRoute[]; admin: AdminGate } {
  const admin = adminGate(src.config.adminToken, () => src.stats.adminUnauthorized++);
  const page = (pick: (b: MonitorBundle) => string, contentType: string) => async (): Promise<RouteReply> => {
    try {
      return { status: 200, body: pick(await monitor()), contentType, headers: PAGE_HEADERS };
    } catch (err) {
      src.log.error({ err }, 'monitor page failed to build');
      return { status: 500, body: 'monitor page unavailable', contentType: 'text/plain; charset=utf-8' };
    }
  };
  const table: HttpRoute[] = [
    { method: 'GET', path: ADMIN_PATHS.monitor, auth: 'admin-page', handler: page((b) => b.html, 'text/html; charset=utf-8') },
    { method: 'GET', path: ADMIN_PATHS.monitorScript, auth: 'admin-page', handler: page((b) => b.js, 'text/javascript; charset=utf-8') },
    { method: 'GET', path: ADMIN_PATHS.rooms, auth: 'admin', handler: () => ({ status: 200, json: roomsReply(src) }) },
    { method: 'GET', path: ADMIN_PATHS.entities, auth: 'admin', handler: (req) => entitiesReply(src, req.query) },
    {
      method: 'POST', path: ADMIN_PATHS.kick, auth: 'admin',
      handler(req) {
        const b = req.body as { sessionId?: unknown; reason?: unknown } | null | undefined;
        const id = b && typeof b === 'object' ? b.sessionId : undefined;
        if (typeof id !== 'number' || !Number.isInteger(id) || id < 1) return bad('sessionId must be a positive integer');
        const reason = cleanReason(b?.reason, 'kicked by an operator');
        if (reason === undefined) return bad('reason must be a string');
        if (!src.actions.kick(id, reason)) return { status: 404, json: { error: `no session ${id}` } };
        src.log.info({ session: id, reason, by: req.remoteAddress }, 'operator kicked a session');
        return { status: 200, json: { ok: true, sessionId: id } };
      },
    },
    {
      method: 'POST', path: ADMIN_PATHS.closeRoom, auth: 'admin',
      handler(req) {
        const b = req.body as { room?: unknown; reason?: unknown } | null | undefined;
        const name = b && typeof b === 'object' ? b.room : undefined;
        if (typeof name !== 'string' || name.length === 0 || name.length > 256) return bad('room must be a room name');
        const reason = cleanReason(b?.reason, 'room closed by an operator');
        if (reason === undefined) return bad('reason must be a string');
        const players = src.actions.closeRoom(name, reason);
        if (players < 0) return { status: 404, json: { error: 'no such room' } };
        src.log.info({ room: name, players, reason, by: req.remoteAddress }, 'operator closed a room');
        return { status: 200, json: { ok: true, room: name, players } };
      },
    },
  ];
  return { table, admin };
}

function bad(error: string): RouteReply {
  return { status: 400, json: { error } };
}

/** A reason fit for a bye: control characters removed, cut to ADMIN_REASON_MAX code points; `fallback` when absent or blank; undefined when not a string. */
export function cleanReason(raw: unknown, fallback: string): string | undefined {
  if (raw === undefined || raw === null) return fallback;
  if (typeof raw !== 'string') return undefined;
  // eslint-disable-next-line no-control-regex
  const text = [...raw.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ')].slice(0, ADMIN_REASON_MAX).join('').trim();
  return text || fallback;
}

/** GET /admin/rooms: every room with its sessions. */
export function roomsReply(src: AdminSources): AdminRoomsReply {
  const now = src.clock.nowMs();
  return { atMs: now, uptimeSec: src.uptimeSec(), sessions: src.sessions.size, rooms: src.rooms.list.map((r) => adminRoom(src, r, now)) };
}

function adminRoom(src: AdminSources, room: Room, now: number): AdminRoom {
  const info = room.info();
  const o = room.origin;
  const snapshots = { full: 0, delta: 0 };
  for (const p of room.players) {
    snapshots.full += p.link.fullSnapshots;
    snapshots.delta += p.link.deltaSnapshots;
  }
  return {
    name: info.name, game: info.game, players: info.players, capacity: info.capacity, entities: info.entities, tick: info.tick,
    awake: src.rooms.awake.includes(room), listed: o.listed, matchmade: o.matchmade, createdBy: o.clientNamed ? 'client' : 'server',
    creator: o.creator ? { sessionId: o.creator.sessionId, name: o.creator.name, address: o.ownerKey ?? '' } : null,
    snapshots, inputs: info.inputs, sessions: room.players.map((p) => adminSession(src, p, now)),
  };
}

function adminSession(src: AdminSources, p: Player, now: number): AdminSession {
  const s = src.sessions.get(p.id);
  const l = p.link;
  const i = p.inputs.stats;
  const measured = l.rttSamples > 0;
  return {
    sessionId: p.id, name: p.name, eid: p.eid, state: s?.state ?? 'none', transport: s ? s.unreliableKind() : 'none', address: s?.remoteAddress ?? '',
    rttMs: measured ? round(l.rttMs) : null, lastRttMs: measured ? round(l.lastRttMs) : null, rttSamples: l.rttSamples,
    snapshotLoss: { settled: l.settled, lost: l.lost, share: round(l.lossShare(), 4) },
    lastAckAgeMs: p.lastAckMs > 0 ? Math.max(0, Math.round(now - p.lastAckMs)) : null,
    inputs: { applied: i.applied, repeated: i.repeated, lost: i.dropped, late: i.late, duplicate: i.duplicates, received: i.received },
    bytesIn: s?.bytesIn ?? 0, bytesOut: s?.bytesOut ?? 0, bytesInPerSec: Math.round(s?.bytesInPerSec ?? 0), bytesOutPerSec: Math.round(s?.bytesOutPerSec ?? 0),
    snapshots: { full: l.fullSnapshots, delta: l.deltaSnapshots },
  };
}

function round(v: number, digits = 2): number {
  const k = 10 ** digits;
  return Math.round(v * k) / k;
}

/** GET /admin/entities?room=NAME[&limit=N]: the room's first entities by id, every networked field as clients decode it. */
export function entitiesReply(src: AdminSources, query: string): RouteReply {
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(query);
  } catch {
    return bad('bad query');
  }
  const name = params.get('room');
  if (name === null) return bad('room is required');
  const room = src.rooms.get(name);
  if (!room) return { status: 404, json: { error: 'no such room' } };
  const rawLimit = params.get('limit');
  const limit = rawLimit === null ? ADMIN_ENTITY_LIMIT : Number(rawLimit);
  if (!Number.isInteger(limit) || limit < 0 || limit > ADMIN_ENTITY_LIMIT_MAX) return bad(`limit must be an integer 0..${ADMIN_ENTITY_LIMIT_MAX}`);
  const fields = room.schema.fields;
  const ids = [...room.replicated()].sort((a, b) => a - b);
  const owners = new Map(room.players.map((p) => [p.eid, p.id]));
  const entities: AdminEntity[] = ids.slice(0, limit).map((id) => ({
    id,
    sessionId: owners.get(id) ?? null,
    values: fields.map((f, k) => (room.hasNetComponent(id, f.compIndex) ? f.q.dequantize(f.q.quantize(room.stores[k][id])) : null)),
  }));
  const reply: AdminEntitiesReply = {
    room: room.name, tick: room.ctx.tick, count: ids.length, shown: entities.length, columns: fields.map((f) => `${f.component}.${f.field}`), entities,
  };
  return { status: 200, json: reply };
}
