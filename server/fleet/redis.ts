// A fleet member on Redis (ioredis): a lease renewed by heartbeat with a fencing token, rooms
// registered under it, matchmaking and single-use seats in atomic Lua steps (scripts.ts), and
// fleet-wide listings in one round trip each. A member that cannot reach Redis keeps its matches
// and refuses matchmaking; one whose lease lapsed grants nothing until it holds a new one.
import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ClaimOutcome, ClaimResult, Fleet, FleetMember, FleetRoom, FleetState, FleetStats, MatchRefusal, MatchRequest, MatchResult, RoomReport } from './fleet.ts';
import { newFleetStats } from './fleet.ts';
import { ACQUIRE, CLAIM, LEAVE, MATCHMAKE, MEMBERS, RELEASE, RENEW, ROOMS, SPECTATE, TRANSFER } from './scripts.ts';

/** Logger the fleet writes to (pino-compatible). */
export interface FleetLog {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

/** Settings of a Redis fleet member. */
export interface RedisFleetOptions {
  /** redis://host:port[/db] */
  readonly url: string;
  /** Prefix of every key. */
  readonly prefix: string;
  /** Lease of the member and its rooms, ms; renewed every third of it. */
  readonly leaseMs: number;
  /** How long a granted seat stays valid, ms. */
  readonly seatTtlMs: number;
  readonly memberId: string;
  /** Public HTTP base URL, WebSocket URL and signaling port clients are sent to. */
  readonly publicUrl: string;
  readonly wsUrl: string;
  readonly signalingPort: number;
  /** Players this member takes at most, and rooms. */
  readonly capacity: number;
  readonly maxRooms: number;
  /** Players per room. */
  readonly roomCapacity: number;
  /** The game every member of the fleet hosts. */
  readonly game: string;
  readonly log: FleetLog;
  /** The rooms this member hosts now. */
  report(): RoomReport[];
  /** Rooms this member hosts whose name the fleet gave to another member while it was cut off: end them. */
  onConflict(rooms: string[]): void;
}

const SCRIPTS = { ACQUIRE, RENEW, MATCHMAKE, SPECTATE, CLAIM, RELEASE, LEAVE, ROOMS, MEMBERS, TRANSFER } as const;
type ScriptName = keyof typeof SCRIPTS;
const SHA = Object.fromEntries(Object.entries(SCRIPTS).map(([k, src]) => [k, createHash('sha1').update(src).digest('hex')])) as Record<ScriptName, string>;

/** Rooms assigned to a member that nobody joined are released after this, ms. */
const UNCLAIMED_ROOM_MS = 30_000;

/** A member of a fleet on Redis. */
export class RedisFleet implements Fleet {
  readonly mode = 'redis';
  readonly memberId: string;
  readonly stats: FleetStats = newFleetStats();
  private readonly redis: Redis;
  private token: string | undefined;
  private st: FleetState = 'unavailable';
  private draining = false;
  private timer: NodeJS.Timeout | undefined;
  private beating = false;
  private lastOkMs = 0;
  private lastWarnMs = 0;

  constructor(private readonly o: RedisFleetOptions) {
    this.memberId = o.memberId;
    // Commands fail fast while Redis is away (no offline queue, one try); the connection itself
    // keeps retrying, so the member rejoins within a heartbeat of Redis coming back.
    this.redis = new Redis(o.url, {
      lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1, protocol: 2, connectTimeout: 2000, commandTimeout: 2000,
      retryStrategy: (times: number) => Math.min(1000, 100 * times),
    });
    this.redis.on('error', (err: Error) => this.warn({ err: err.message }, 'fleet: redis connection error'));
  }

  state(): FleetState {
    // A lease that was not renewed within its length may have lapsed: grant nothing on it.
    if ((this.st === 'serving' || this.st === 'draining') && Date.now() - this.lastOkMs > this.o.leaseMs) return 'lost';
    return this.st;
  }

  async start(): Promise<void> {
    try {
      await this.redis.connect();
    } catch (err) {
      this.warn({ err: (err as Error).message }, 'fleet: redis not reachable at start; retrying');
    }
    await this.heartbeat();
    this.timer = setInterval(() => void this.heartbeat(), Math.max(200, Math.floor(this.o.leaseMs / 3)));
    this.timer.unref();
  }

  /** Renews the lease (taking a new one when it was lost) and publishes the room report. */
  async heartbeat(): Promise<void> {
    if (this.beating || this.st === 'stopped') return;
    this.beating = true;
    try {
      if (!this.token) {
        const o = this.o;
        this.token = String(await this.run('ACQUIRE', [o.memberId, o.publicUrl, o.wsUrl, String(o.signalingPort), String(o.capacity), String(o.maxRooms), String(o.leaseMs)]));
        this.o.log.info({ member: o.memberId, token: this.token }, 'fleet: lease acquired');
      }
      const reports = this.o.report().map((r) => ({ n: r.name, g: r.game, p: r.players, c: r.capacity, l: r.listed ? 1 : 0, m: r.matchmade ? 1 : 0, k: r.ownerKey, x: r.info ?? '', v: r.spectators ?? 0, vc: r.maxSpectators ?? -1 }));
      const res = (await this.run('RENEW', [this.memberId, this.token, String(this.o.leaseMs), this.draining ? 'draining' : 'serving', JSON.stringify(reports), String(UNCLAIMED_ROOM_MS)])) as string[];
      if (res[0] === 'lost') {
        this.stats.leasesLost++;
        this.token = undefined;
        this.st = 'lost';
        this.o.log.warn({ member: this.memberId }, 'fleet: lease lost (it lapsed); taking a new one');
        return;
      }
      this.stats.leaseRenewals++;
      this.stats.seatsExpired += Number(res[0].split(':')[1] ?? 0);
      this.lastOkMs = Date.now();
      this.st = this.draining ? 'draining' : 'serving';
      const conflicts = res.slice(2);
      if (conflicts.length > 0) {
        this.stats.roomConflicts += conflicts.length;
        this.o.log.warn({ member: this.memberId, rooms: conflicts }, 'fleet: rooms owned elsewhere now; ending them here');
        this.o.onConflict(conflicts);
      }
    } catch (err) {
      this.stats.leaseFailures++;
      if (this.st !== 'lost') this.st = 'unavailable';
      this.warn({ err: (err as Error).message }, 'fleet: heartbeat failed');
    } finally {
      this.beating = false;
    }
  }

  async matchmake(req: MatchRequest): Promise<MatchResult | MatchRefusal> {
    const game = req.game ?? this.o.game;
    const seat = randomBytes(18).toString('base64url');
    const named = req.room !== undefined && req.room !== '';
    let res: string[];
    try {
      res = req.spectate
        ? ((await this.run('SPECTATE', [game, req.room ?? '', seat, String(this.o.seatTtlMs)])) as string[])
        : ((await this.run('MATCHMAKE', [
          game, req.room ?? '', seat, String(this.o.seatTtlMs), String(this.o.roomCapacity), String(this.o.leaseMs),
          req.unlisted ? '0' : '1', named ? '0' : '1', named ? req.addressKey : '',
        ])) as string[]);
    } catch (err) {
      this.stats.seatsRefused++;
      return { ok: false, reason: 'unavailable', message: `the fleet registry is not reachable (${(err as Error).message})` };
    }
    if (res[0] !== 'ok') {
      this.stats.seatsRefused++;
      // a room at its spectator limit is full to spectators: the reason clients already know
      const reason = res[0] === 'spectators_full' ? 'room_full' : (res[0] as MatchRefusal['reason']);
      return { ok: false, reason, message: REFUSALS[res[0]] ?? res[0] };
    }
    this.stats.seatsGranted++;
    this.stats.seatsExpired += Number(res[6] ?? 0);
    return { ok: true, room: res[1], owner: res[2], url: res[3], ws: res[4], signalingPort: Number(res[5]), seat };
  }

  async claim(seat: string, room: string, spectate = false): Promise<ClaimResult> {
    const st = this.state();
    if (!this.token || (st !== 'serving' && st !== 'draining')) {
      this.stats.seatsClaimRefused++;
      return { outcome: st === 'unavailable' ? 'unavailable' : 'fenced' };
    }
    try {
      const out = (await this.run('CLAIM', [seat, room, this.memberId, this.token, spectate ? '1' : '0'])) as string | string[];
      if (Array.isArray(out) && out[0] === 'ok') {
        this.stats.seatsClaimed++;
        return { outcome: 'ok', listed: out[1] === '1', matchmade: out[2] === '1', ownerKey: out[3] };
      }
      this.stats.seatsClaimRefused++;
      return { outcome: String(out) as ClaimOutcome };
    } catch {
      this.stats.seatsClaimRefused++;
      return { outcome: 'unavailable' };
    }
  }

  async seatRoom(seat: string, spectate = false): Promise<string | undefined> {
    try {
      return (await this.redis.get(`${this.o.prefix}${spectate ? 'vseat' : 'seat'}:${seat}`)) ?? undefined;
    } catch {
      return undefined;
    }
  }

  leaseToken(): string | undefined {
    const st = this.state();
    return st === 'serving' || st === 'draining' ? this.token : undefined;
  }

  async transfer(room: string, from: string, fromToken: string): Promise<string> {
    const token = this.leaseToken();
    if (!token) return 'fenced';
    try {
      return String(await this.run('TRANSFER', [room, from, fromToken, this.memberId, token, String(this.o.leaseMs)]));
    } catch (err) {
      return `unavailable (${(err as Error).message})`;
    }
  }

  async roomOwner(room: string): Promise<string | undefined> {
    return (await this.redis.hget(`${this.o.prefix}r:${room}`, 'owner')) ?? undefined;
  }

  async release(room: string): Promise<void> {
    try {
      await this.run('RELEASE', [room, this.memberId]);
    } catch (err) {
      this.warn({ err: (err as Error).message, room }, 'fleet: could not release a room (its lease will expire)');
    }
  }

  async rooms(): Promise<FleetRoom[]> {
    const flat = (await this.run('ROOMS', [])) as string[];
    const out: FleetRoom[] = [];
    for (let i = 0; i + 8 < flat.length; i += 9) {
      const room: FleetRoom = { name: flat[i], game: flat[i + 1], players: Number(flat[i + 2]), capacity: Number(flat[i + 3]), owner: flat[i + 4], listed: flat[i + 5] === '1', ownerUrl: flat[i + 6], seats: Number(flat[i + 7]) };
      out.push(flat[i + 8] ? { ...room, info: flat[i + 8] } : room);
    }
    return out;
  }

  async members(): Promise<FleetMember[]> {
    const flat = (await this.run('MEMBERS', [])) as string[];
    const out: FleetMember[] = [];
    for (let i = 0; i + 8 < flat.length; i += 9) {
      out.push({ id: flat[i], url: flat[i + 1], state: flat[i + 2] === 'draining' ? 'draining' : 'serving', players: Number(flat[i + 3]), rooms: Number(flat[i + 4]), capacity: Number(flat[i + 5]), leaseAgeMs: Number(flat[i + 6]), ws: flat[i + 7], signalingPort: Number(flat[i + 8]) });
    }
    return out;
  }

  async drain(): Promise<void> {
    this.draining = true;
    if (this.st === 'serving') this.st = 'draining';
    await this.heartbeat();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const token = this.token;
    this.st = 'stopped';
    try {
      if (token) await this.run('LEAVE', [this.memberId, token]);
    } catch (err) {
      this.warn({ err: (err as Error).message }, 'fleet: could not leave cleanly (the lease will expire)');
    }
    this.redis.disconnect();
  }

  /** Runs a script by hash, loading it on NOSCRIPT (a Redis that restarted has none). */
  private async run(name: ScriptName, args: string[]): Promise<unknown> {
    const argv = [this.o.prefix, ...args];
    try {
      return await this.redis.evalsha(SHA[name], 0, ...argv);
    } catch (err) {
      if (!String((err as Error).message).includes('NOSCRIPT')) throw err;
      return this.redis.eval(SCRIPTS[name], 0, ...argv);
    }
  }

  private warn(o: object, msg: string): void {
    const now = Date.now();
    if (now - this.lastWarnMs < 1000) return;
    this.lastWarnMs = now;
    this.o.log.warn({ member: this.memberId, ...o }, msg);
  }
}

const REFUSALS: Record<string, string> = {
  fleet_full: 'no member of the fleet has room for another player',
  room_full: 'that room is full',
  spectators_full: 'that room has no spectator place left (maxSpectatorsPerRoom)',
  wrong_game: 'that room hosts another game',
  owner_unavailable: 'the member that owns that room is draining or gone',
  no_room: 'no room to watch: spectating needs a room that exists (named, or a listed room of the game being played)',
};
