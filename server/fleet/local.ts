// The embedded single-process fleet: this process is the whole fleet, and seats are kept in
// memory. POST /matchmake answers exactly as in a fleet on Redis, so clients and bots use one path
// (spectators' seats included).
import { randomBytes } from 'node:crypto';
import type { ClaimResult, Fleet, FleetMember, FleetRoom, FleetState, FleetStats, MatchRefusal, MatchRequest, MatchResult, RoomReport } from './fleet.ts';
import { newFleetStats } from './fleet.ts';

/** Settings of the embedded fleet. */
export interface LocalFleetOptions {
  readonly memberId: string;
  readonly publicUrl: () => string;
  readonly wsUrl: () => string;
  readonly signalingPort: () => number;
  readonly capacity: number;
  readonly maxRooms: number;
  readonly roomCapacity: number;
  readonly game: string;
  readonly seatTtlMs: number;
  /** The rooms this process hosts now. */
  report(): RoomReport[];
  nowMs?(): number;
}

interface Seat {
  readonly room: string;
  readonly expiresMs: number;
  readonly listed: boolean;
  readonly matchmade: boolean;
  readonly ownerKey: string;
  /** A spectator's seat: not counted toward occupancy, claimed only by a spectating hello. */
  readonly spectator?: boolean;
}

/** The fleet of one process. */
export class LocalFleet implements Fleet {
  readonly mode = 'local';
  readonly memberId: string;
  readonly stats: FleetStats = newFleetStats();
  private readonly seats = new Map<string, Seat>();
  private draining = false;
  private stopped = false;
  private autoName = 0;

  constructor(private readonly o: LocalFleetOptions) {
    this.memberId = o.memberId;
  }

  private now(): number {
    return this.o.nowMs?.() ?? Date.now();
  }

  state(): FleetState {
    return this.stopped ? 'stopped' : this.draining ? 'draining' : 'serving';
  }

  async start(): Promise<void> {}

  /** Unexpired seats of each room (expired ones are dropped and counted). */
  private seatCounts(): Map<string, number> {
    const now = this.now();
    const counts = new Map<string, number>();
    for (const [token, s] of this.seats) {
      if (s.expiresMs <= now) {
        this.seats.delete(token);
        this.stats.seatsExpired++;
        continue;
      }
      if (s.spectator) continue;
      counts.set(s.room, (counts.get(s.room) ?? 0) + 1);
    }
    return counts;
  }

  async matchmake(req: MatchRequest): Promise<MatchResult | MatchRefusal> {
    const refuse = (reason: MatchRefusal['reason'], message: string): MatchRefusal => {
      this.stats.seatsRefused++;
      return { ok: false, reason, message };
    };
    if (this.draining || this.stopped) return refuse('draining', 'this server is draining: it takes no new players');
    const game = req.game ?? this.o.game;
    if (game !== this.o.game) return refuse('wrong_game', `this server hosts ${this.o.game}, not ${game}`);
    const seats = this.seatCounts();
    const rooms = this.o.report();
    if (req.spectate) return this.spectatorSeat(req, game, rooms, refuse);
    const occupancy = (r: RoomReport): number => r.players + (seats.get(r.name) ?? 0);
    const total = rooms.reduce((n, r) => n + occupancy(r), 0) + [...seats.entries()].filter(([name]) => !rooms.some((r) => r.name === name)).reduce((n, [, k]) => n + k, 0);
    if (total >= this.o.capacity) return refuse('fleet_full', 'this server has room for no more players');
    const pendingNew = [...new Set([...this.seats.values()].map((s) => s.room))].filter((n) => !rooms.some((r) => r.name === n));
    let room: string;
    let listed = true;
    let matchmade = true;
    let ownerKey = '';
    if (req.room) {
      const r = rooms.find((x) => x.name === req.room);
      if (r) {
        if (occupancy(r) >= r.capacity) return refuse('room_full', 'that room is full');
        ({ listed, matchmade, ownerKey } = r);
      } else {
        if ((seats.get(req.room) ?? 0) >= this.o.roomCapacity) return refuse('room_full', 'that room is full');
        if (!pendingNew.includes(req.room) && rooms.length + pendingNew.length >= this.o.maxRooms) return refuse('fleet_full', 'this server can open no more rooms');
        listed = req.unlisted !== true;
        matchmade = false;
        ownerKey = req.addressKey;
      }
      room = req.room;
    } else {
      const open = rooms.filter((r) => r.game === game && (r.matchmade || r.ownerKey === req.addressKey) && occupancy(r) < r.capacity).sort((a, b) => occupancy(b) - occupancy(a));
      const pending = pendingNew.find((n) => {
        const s = [...this.seats.values()].find((x) => x.room === n);
        return s?.matchmade === true && (seats.get(n) ?? 0) < this.o.roomCapacity;
      });
      if (open.length > 0) room = open[0].name;
      else if (pending) room = pending;
      else {
        if (rooms.length + pendingNew.length >= this.o.maxRooms) return refuse('fleet_full', 'this server can open no more rooms');
        do room = `${game}-m${++this.autoName}`;
        while (rooms.some((r) => r.name === room) || pendingNew.includes(room));
      }
    }
    const seat = randomBytes(18).toString('base64url');
    this.seats.set(seat, { room, expiresMs: this.now() + this.o.seatTtlMs, listed, matchmade, ownerKey });
    this.stats.seatsGranted++;
    return { ok: true, url: this.o.publicUrl(), ws: this.o.wsUrl(), signalingPort: this.o.signalingPort(), room, seat, owner: this.memberId };
  }

  /** A seat to watch an existing room (the named one, or the listed room of the game with the most players). */
  private spectatorSeat(req: MatchRequest, game: string, rooms: RoomReport[], refuse: (reason: MatchRefusal['reason'], message: string) => MatchRefusal): MatchResult | MatchRefusal {
    let room: RoomReport | undefined;
    if (req.room) {
      room = rooms.find((r) => r.name === req.room);
      if (room && room.game !== game) return refuse('wrong_game', 'that room hosts another game');
      if (room && watchedFull(room)) return refuse('room_full', 'that room has no spectator place left (maxSpectatorsPerRoom)');
    } else {
      room = rooms.filter((r) => r.game === game && r.listed && r.players > 0 && !watchedFull(r)).sort((a, b) => b.players - a.players || (a.name < b.name ? -1 : 1))[0];
    }
    if (!room) return refuse('no_room', req.room ? 'no room of that name is open to watch' : 'no listed room of that game is being played');
    const seat = randomBytes(18).toString('base64url');
    this.seats.set(seat, { room: room.name, expiresMs: this.now() + this.o.seatTtlMs, listed: room.listed, matchmade: room.matchmade, ownerKey: room.ownerKey, spectator: true });
    this.stats.seatsGranted++;
    return { ok: true, url: this.o.publicUrl(), ws: this.o.wsUrl(), signalingPort: this.o.signalingPort(), room: room.name, seat, owner: this.memberId };
  }

  async claim(seat: string, room: string, spectate = false): Promise<ClaimResult> {
    const s = this.seats.get(seat);
    if (s && (s.spectator === true) !== spectate) {
      this.stats.seatsClaimRefused++;
      return { outcome: 'unknown_seat' };
    }
    if (!s || s.expiresMs <= this.now()) {
      if (s) {
        this.seats.delete(seat);
        this.stats.seatsExpired++;
      }
      this.stats.seatsClaimRefused++;
      return { outcome: 'unknown_seat' };
    }
    if (s.room !== room) {
      this.stats.seatsClaimRefused++;
      return { outcome: 'wrong_room' };
    }
    this.seats.delete(seat);
    this.stats.seatsClaimed++;
    return { outcome: 'ok', listed: s.listed, matchmade: s.matchmade, ownerKey: s.ownerKey };
  }

  async seatRoom(seat: string, spectate = false): Promise<string | undefined> {
    const s = this.seats.get(seat);
    return s && (s.spectator === true) === spectate ? s.room : undefined;
  }

  async release(): Promise<void> {}

  async rooms(): Promise<FleetRoom[]> {
    const seats = this.seatCounts();
    const url = this.o.publicUrl();
    return this.o.report().map((r) => ({ name: r.name, game: r.game, players: r.players, capacity: r.capacity, owner: this.memberId, ownerUrl: url, listed: r.listed, seats: seats.get(r.name) ?? 0, ...(r.info ? { info: r.info } : {}) }));
  }

  async members(): Promise<FleetMember[]> {
    const rooms = this.o.report();
    return [{
      id: this.memberId, url: this.o.publicUrl(), ws: this.o.wsUrl(), signalingPort: this.o.signalingPort(), state: this.draining ? 'draining' : 'serving',
      players: rooms.reduce((n, r) => n + r.players, 0), rooms: rooms.length, capacity: this.o.capacity, leaseAgeMs: 0,
    }];
  }

  async drain(): Promise<void> {
    this.draining = true;
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }
}

/** True when the room is at the spectator limit its owner reported. */
function watchedFull(r: RoomReport): boolean {
  return r.maxSpectators !== undefined && r.maxSpectators >= 0 && (r.spectators ?? 0) >= r.maxSpectators;
}
