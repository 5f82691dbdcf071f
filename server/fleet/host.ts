// A server process's place in its fleet: which fleet (the embedded one, or Redis when redisUrl is
// set), what it reports about its rooms at each heartbeat, the fleet's HTTP routes (POST
// /matchmake, GET /fleet, GET /rooms fleet-wide, POST /admin/drain) and the seat a hello presents.
import { randomBytes, randomInt } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { addressKey, TokenBucket } from '../limits.ts';
import type { ServerConfig } from '../config.ts';
import type { FixedHistogram } from '../metrics.ts';
import type { HttpRoute, RouteReply, RouteRequest } from '../net/uws.ts';
import type { RoomInfo, RoomManager } from '../rooms.ts';
import type { ClaimResult, Fleet, FleetRoom, MatchRefusal, MatchRequest, MatchResult, RoomReport } from './fleet.ts';
import { LocalFleet } from './local.ts';
import { MAX_HANDOFF_BODY_BYTES, preloadHttpClient, RoomHandoff, sessionSide, type SessionOwner } from './handoff.ts';
import type { AnyGame } from '../../shared/sim/game.ts';
import { ROOM_NAME_PATTERN, MAX_ROOM_NAME_LENGTH, MAX_NAME_LENGTH } from '../../shared/protocol/control.ts';

/** What the fleet host reads from and does to its server. */
export interface FleetHostSources {
  readonly config: ServerConfig;
  readonly gameName: string;
  readonly log: Logger;
  readonly rooms: RoomManager;
  /** The HTTP port bound (known once the WebSocket transport listens). */
  httpPort(): number;
  signalingPort(): number;
  /** Ends a room whose name the fleet gave to another member (its players go back to the matchmaker). */
  closeRoom(name: string, reason: string): number;
  /** Sessions now (a draining process stops when none is left). */
  sessionCount(): number;
  /** The matchmake latency histogram, seconds. */
  readonly matchmakeSeconds: FixedHistogram;
  /** The game hosted (a room moved here must be of this game and version). */
  readonly game: AnyGame;
  /** The server's sessions and their inbound and outbound sides, which a room handoff works on (known once the server is wired). */
  server(): SessionOwner;
}

/** Most matchmaking requests waiting for the fleet at once; beyond it requests get 503 at once. */
const MAX_MATCHMAKE_INFLIGHT = 2048;

/** Address buckets kept for matchmaking rate limits before the idle ones are dropped. */
const MAX_TRACKED_ADDRESSES = 10_000;

/** The fleet a server process belongs to, and the routes and checks built on it. */
export class FleetHost {
  fleet: Fleet;
  readonly memberId: string;
  /** Seats being claimed per room (claimed in the fleet, the player not yet in the room). */
  private readonly claiming = new Map<string, number>();
  private readonly buckets = new Map<string, TokenBucket>();
  private inflight = 0;
  /** Set when draining began: the time after which the last sessions are closed. */
  private drainDeadlineMs: number | undefined;
  /** Moves rooms to other members and takes rooms from them (server/fleet/handoff.ts). */
  readonly handoff: RoomHandoff;

  constructor(private readonly src: FleetHostSources) {
    const c = src.config;
    this.memberId = c.memberId || `${hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 40)}-${randomBytes(3).toString('hex')}`;
    this.fleet = new LocalFleet({
      memberId: this.memberId, publicUrl: () => this.publicUrl(), wsUrl: () => this.wsUrl(), signalingPort: () => src.signalingPort(),
      capacity: c.maxSessions, maxRooms: c.maxRooms, roomCapacity: c.roomCapacity, game: src.gameName, seatTtlMs: c.seatTtlMs, report: () => this.report(),
    });
    this.handoff = new RoomHandoff({
      config: c, log: src.log, rooms: src.rooms, game: src.game, memberId: this.memberId, fleet: () => this.fleet,
      publicUrl: () => this.publicUrl(), wsUrl: () => this.wsUrl(), sessions: () => sessionSide(src.server()),
    });
  }

  /** Joins the fleet on Redis when redisUrl is set (after the transports listen: the URLs are known). */
  async start(): Promise<void> {
    const c = this.src.config;
    if (!c.redisUrl) return;
    // Session ids move with their rooms (handoff): members start at random ids, so they rarely meet.
    this.src.server().sessions.startIdsAt(1 + randomInt(0x3fffffff));
    const { RedisFleet } = await import('./redis.ts');
    // A member of a fleet offers rooms over HTTP (fetch) when it drains. Node loads fetch's HTTP
    // client on first use, synchronously (about 50 ms here): loaded now, before any room ticks, so
    // a drain does not stall every room's tick for it (a correction for each of their players).
    preloadHttpClient();
    this.fleet = new RedisFleet({
      url: c.redisUrl, prefix: c.fleetPrefix, leaseMs: c.fleetLeaseMs, seatTtlMs: c.seatTtlMs, memberId: this.memberId,
      publicUrl: this.publicUrl(), wsUrl: this.wsUrl(), signalingPort: this.src.signalingPort(),
      capacity: c.maxSessions, maxRooms: c.maxRooms, roomCapacity: c.roomCapacity, game: this.src.gameName, log: this.src.log,
      report: () => this.report(),
      onConflict: (rooms) => {
        for (const name of rooms) if (!this.handoff.busy(name)) this.src.closeRoom(name, 'this room now runs on another server: join again through the matchmaker');
      },
    });
    await this.fleet.start();
    this.src.log.info({ member: this.memberId, redis: redactUrl(c.redisUrl), publicUrl: this.publicUrl(), state: this.fleet.state() }, 'fleet: joined');
  }

  /** True when a hello must carry a seat: a member of a fleet on Redis places players through the fleet. */
  requiresSeat(): boolean {
    return this.fleet.mode === 'redis';
  }

  /** True once draining began (SIGTERM or POST /admin/drain). */
  get draining(): boolean {
    return this.drainDeadlineMs !== undefined;
  }

  /**
   * Starts draining: no new seats from now on (the fleet is told at once), rooms run on until they
   * empty or drainMs passes; with `handoff` (default config.drainHandoff; a fleet on Redis only)
   * each room is first offered to another member, and those that move leave with their players.
   * Returns the deadline (epoch ms). Calling it again changes nothing, except that a handoff asked
   * for later still starts.
   */
  drain(reason: string, handoff = this.src.config.drainHandoff): number {
    const first = this.drainDeadlineMs === undefined;
    if (first) {
      this.drainDeadlineMs = Date.now() + this.src.config.drainMs;
      this.src.log.info({ member: this.memberId, reason, handoff, sessions: this.src.sessionCount(), drainMs: this.src.config.drainMs }, 'draining: no new players; stopping when the rooms empty or the drain limit passes');
    }
    if (first || handoff) {
      const reported = first ? this.fleet.drain() : Promise.resolve();
      reported
        .catch((err: unknown) => this.src.log.warn({ err }, 'fleet: could not report draining (matchmaking here refuses anyway)'))
        .then(() => (handoff && this.fleet.mode === 'redis' ? this.handoff.moveAll() : undefined))
        .catch((err: unknown) => this.src.log.error({ err }, 'handoff: failed'));
    }
    return this.drainDeadlineMs as number;
  }

  /** While draining, once a second: 'done' when no session is left or the drain limit passed. */
  drainCheck(nowEpochMs: number): 'serving' | 'draining' | 'done' {
    if (this.drainDeadlineMs === undefined) return 'serving';
    return this.src.sessionCount() === 0 || nowEpochMs >= this.drainDeadlineMs ? 'done' : 'draining';
  }

  /** Leaves the fleet (its registrations go at once). */
  async stop(): Promise<void> {
    try {
      await this.fleet.stop();
    } catch (err) {
      this.src.log.warn({ err }, 'fleet: leaving failed (the lease will expire)');
    }
  }

  /** The HTTP base URL clients are sent to. */
  publicUrl(): string {
    const c = this.src.config;
    if (c.publicUrl) return c.publicUrl.replace(/\/$/, '');
    const host = c.host === '0.0.0.0' || c.host === '::' ? '127.0.0.1' : c.host.includes(':') ? `[${c.host}]` : c.host;
    return `http://${host}:${this.src.httpPort()}`;
  }

  wsUrl(): string {
    return `${this.publicUrl().replace(/^http/, 'ws')}/ws`;
  }

  /** The rooms this process hosts, as the fleet records them (players include seats being claimed). */
  report(): RoomReport[] {
    const out: RoomReport[] = [];
    for (const r of this.src.rooms.list) {
      // a room being moved is the handoff's: its record changes owner in the TRANSFER step, not at a heartbeat
      if (this.handoff.busy(r.name)) continue;
      const o = r.origin;
      out.push({
        name: r.name, game: r.game.name, players: r.players.length + (this.claiming.get(r.name) ?? 0), capacity: r.capacity,
        listed: o.listed, matchmade: o.matchmade, ownerKey: o.ownerKey ?? '', info: JSON.stringify(listingDetails(r.info())),
        spectators: r.spectators.length, maxSpectators: this.src.config.maxSpectatorsPerRoom,
      });
    }
    return out;
  }

  /**
   * Takes the seat a hello presents, for `room` (or the room the seat was granted in). The room's
   * occupancy counts the seat until `done` is called (the player joined, or did not); a
   * spectator's seat (`spectate`) is not counted.
   */
  async claim(seat: string, room: string | undefined, spectate = false): Promise<{ room: string; result: ClaimResult; done: () => void }> {
    const name = room ?? (await this.fleet.seatRoom(seat, spectate)) ?? '';
    // a spectator's seat holds no player place: nothing to count while it is claimed
    if (spectate) {
      if (!name) return { room: '', result: { outcome: 'unknown_seat' }, done: () => {} };
      const result = await this.fleet.claim(seat, name, true).catch((): ClaimResult => ({ outcome: 'unavailable' }));
      return { room: name, result, done: () => {} };
    }
    if (!name) return { room: '', result: { outcome: 'unknown_seat' }, done: () => {} };
    this.claiming.set(name, (this.claiming.get(name) ?? 0) + 1);
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      const n = (this.claiming.get(name) ?? 1) - 1;
      if (n <= 0) this.claiming.delete(name);
      else this.claiming.set(name, n);
    };
    try {
      return { room: name, result: await this.fleet.claim(seat, name), done };
    } catch {
      done();
      return { room: name, result: { outcome: 'unavailable' }, done };
    }
  }

  /** A room of this process was disposed: the fleet forgets it now, not at its lease's end. */
  released(name: string): void {
    void this.fleet.release(name);
  }

  /** The fleet-wide listing (GET /rooms): today's fields, plus owner and ownerUrl. */
  async listing(): Promise<{ rooms: ListedRoom[] }> {
    const local = new Map<string, RoomInfo>();
    for (const r of this.src.rooms.list) local.set(r.name, r.info());
    let fleetRooms: FleetRoom[];
    try {
      fleetRooms = await this.fleet.rooms();
    } catch {
      // the registry is away: this member's own rooms are still true
      fleetRooms = this.report().map((r) => ({ name: r.name, game: r.game, players: r.players, capacity: r.capacity, owner: this.memberId, ownerUrl: this.publicUrl(), listed: r.listed, seats: 0 }));
    }
    const rooms: ListedRoom[] = [];
    for (const f of fleetRooms) {
      if (!f.listed) continue;
      const mine = f.owner === this.memberId ? local.get(f.name) : undefined;
      const details = mine ? listingDetails(mine) : parseDetails(f.info);
      rooms.push({ name: f.name, game: f.game, players: mine ? mine.players : f.players, capacity: f.capacity, ...details, owner: f.owner, ownerUrl: f.ownerUrl });
    }
    rooms.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return { rooms };
  }

  /** The fleet's HTTP routes. */
  routes(): HttpRoute[] {
    return [
      { method: 'POST', path: '/matchmake', maxBodyBytes: 1024, handler: (req) => this.matchmakeRoute(req) },
      { method: 'GET', path: '/fleet', handler: () => this.fleetRoute() },
      {
        method: 'POST', path: '/admin/drain', auth: 'admin', maxBodyBytes: 1024,
        handler: (req) => {
          const body = req.body as { reason?: unknown; handoff?: unknown } | undefined;
          const reason = typeof body?.reason === 'string' ? body.reason.slice(0, 200) : 'drained by an operator';
          if (body?.handoff !== undefined && typeof body.handoff !== 'boolean') return { status: 400, json: { error: 'bad_request', message: 'handoff must be true or false' } };
          const handoff = typeof body?.handoff === 'boolean' ? body.handoff : this.src.config.drainHandoff;
          const deadline = this.drain(reason, handoff);
          return { status: 202, json: { state: 'draining', member: this.memberId, drainDeadlineMs: deadline, handoff: handoff && this.fleet.mode === 'redis' } };
        },
      },
      { method: 'POST', path: '/admin/handoff', auth: 'admin', maxBodyBytes: MAX_HANDOFF_BODY_BYTES, handler: (req) => this.handoffRoute(req) },
    ];
  }

  /** POST /admin/handoff `{ blob }` (base64 of a handoff, server/fleet/handoff.ts): another member offers a room. */
  private async handoffRoute(req: RouteRequest): Promise<RouteReply> {
    const blob = (req.body as { blob?: unknown } | undefined)?.blob;
    if (typeof blob !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(blob)) return { status: 400, json: { error: 'bad_request', message: 'the body must be { "blob": base64 }' } };
    const r = await this.handoff.accept(new Uint8Array(Buffer.from(blob, 'base64')));
    if (r.ok) return { status: 200, json: r };
    return { status: r.status, json: { error: 'refused', message: r.reason } };
  }

  private async fleetRoute(): Promise<RouteReply> {
    try {
      const members = await this.fleet.members();
      return { status: 200, json: { mode: this.fleet.mode, self: this.memberId, state: this.fleet.state(), members } };
    } catch (err) {
      return { status: 503, json: { error: 'unavailable', message: `the fleet registry is not reachable (${(err as Error).message})`, mode: this.fleet.mode, self: this.memberId, state: this.fleet.state() } };
    }
  }

  /** Per-address rate limit of POST /matchmake (a seat holds a place for seatTtlMs: unlimited requests would fill the fleet). */
  private allowed(key: string, now: number): boolean {
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= MAX_TRACKED_ADDRESSES) {
        for (const [k, v] of this.buckets) if (v.full(now)) this.buckets.delete(k);
      }
      const rate = this.src.config.matchmakePerSec;
      b = new TokenBucket(rate, rate * 4);
      this.buckets.set(key, b);
    }
    return b.take(now);
  }

  private async matchmakeRoute(req: RouteRequest): Promise<RouteReply> {
    const parsed = parseMatchRequest(req.body);
    if (typeof parsed === 'string') return { status: 400, json: { error: 'bad_request', message: parsed } };
    const key = addressKey(req.remoteAddress);
    if (!this.allowed(key, Date.now())) return { status: 429, json: { error: 'rate_limited', message: 'too many matchmaking requests from this address; try again shortly' }, headers: { 'retry-after': '1' } };
    if (this.inflight >= MAX_MATCHMAKE_INFLIGHT) return { status: 503, json: { error: 'busy', message: 'too many matchmaking requests at once; try again shortly' }, headers: { 'retry-after': '1' } };
    this.inflight++;
    const t0 = performance.now();
    let out: MatchResult | MatchRefusal;
    try {
      out = await this.matchmake({ ...parsed, addressKey: key });
    } finally {
      this.inflight--;
      this.src.matchmakeSeconds.observe((performance.now() - t0) / 1000);
    }
    if (out.ok) return { status: 200, json: { url: out.url, ws: out.ws, signalingPort: out.signalingPort, room: out.room, seat: out.seat, owner: out.owner } };
    const status = out.reason === 'fleet_full' || out.reason === 'unavailable' || out.reason === 'draining' || out.reason === 'owner_unavailable' ? 503 : 409;
    return { status, json: { error: out.reason, message: out.message }, headers: status === 503 ? { 'retry-after': '1' } : {} };
  }

  /** Grants a seat (a draining member grants none: matchmaking on it refuses at once). */
  async matchmake(req: MatchRequest): Promise<MatchResult | MatchRefusal> {
    const st = this.fleet.state();
    if (st === 'draining' || st === 'stopped') {
      this.fleet.stats.seatsRefused++;
      return { ok: false, reason: 'draining', message: 'this server is draining: ask another member of the fleet' };
    }
    return this.fleet.matchmake(req);
  }
}

/** A room of GET /rooms. */
export interface ListedRoom {
  name: string;
  game: string;
  players: number;
  capacity: number;
  entities: number;
  tick: number;
  inputs: RoomInfo['inputs'];
  spectators: number;
  owner: string;
  ownerUrl: string;
}

/** The details of a room's listing that only its owner knows (reported at each heartbeat). */
type Details = Pick<ListedRoom, 'entities' | 'tick' | 'inputs' | 'spectators'>;

function listingDetails(i: RoomInfo): Details {
  return { entities: i.entities, tick: i.tick, inputs: i.inputs, spectators: i.spectators };
}

function parseDetails(raw: string | undefined): Details {
  const none = { entities: 0, tick: 0, inputs: { applied: 0, repeated: 0, lost: 0 }, spectators: 0 };
  if (!raw) return none;
  try {
    const o = JSON.parse(raw) as Partial<Details>;
    const n = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
    return { entities: n(o.entities), tick: n(o.tick), inputs: { applied: n(o.inputs?.applied), repeated: n(o.inputs?.repeated), lost: n(o.inputs?.lost) }, spectators: n(o.spectators) };
  } catch {
    return none;
  }
}

/** Checks a POST /matchmake body (hostile JSON): `{ name, game?, room?, private?, spectate? }`. */
export function parseMatchRequest(body: unknown): Omit<MatchRequest, 'addressKey'> | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'the body must be a JSON object { "name", "game"?, "room"? }';
  const o = body as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['name', 'game', 'room', 'private', 'spectate'].includes(k)) return `unknown field ${JSON.stringify(k).slice(0, 40)}`;
  if (typeof o.name !== 'string' || o.name.length > MAX_NAME_LENGTH) return `name must be a string of at most ${MAX_NAME_LENGTH} characters`;
  const out: { name: string; game?: string; room?: string; unlisted?: boolean; spectate?: boolean } = { name: o.name };
  if (o.spectate !== undefined) {
    if (typeof o.spectate !== 'boolean') return 'spectate must be true or false';
    if (o.spectate && o.private !== undefined) return 'a spectator creates no room: private does not apply';
    if (o.spectate) out.spectate = true;
  }
  if (o.game !== undefined) {
    if (typeof o.game !== 'string' || !/^[A-Za-z0-9._-]{1,64}$/.test(o.game)) return 'game must be a game name';
    out.game = o.game;
  }
  if (o.room !== undefined && o.room !== '') {
    if (typeof o.room !== 'string' || o.room.length > MAX_ROOM_NAME_LENGTH || !ROOM_NAME_PATTERN.test(o.room)) return 'room must be a room name ([A-Za-z0-9_-], at most 64)';
    out.room = o.room;
  }
  if (o.private !== undefined) {
    if (typeof o.private !== 'boolean') return 'private must be true or false';
    if (o.private) out.unlisted = true;
  }
  return out;
}

/** A Redis URL without its password, for logs. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}
