// The fleet contract: what a server process asks of the fleet it belongs to (its lease, matchmaking
// with single-use seats, the fleet-wide room and member lists), with the types both
// implementations share: the embedded single-process one (local.ts) and Redis (redis.ts).

/** What a member reports about one room it hosts, at every heartbeat. */
export interface RoomReport {
  readonly name: string;
  readonly game: string;
  /** Players in the room now, plus seats being claimed. */
  readonly players: number;
  readonly capacity: number;
  /** Shown in GET /rooms. */
  readonly listed: boolean;
  /** Matchmaking may place players from any address here. */
  readonly matchmade: boolean;
  /** Address key of the client that created it ('' for rooms matchmaking made). */
  readonly ownerKey: string;
  /** The room's listing details (GET /rooms: entities, tick, inputs) as JSON, shown by every member. */
  readonly info?: string;
  /** Spectators watching now, and the most the owner takes (maxSpectatorsPerRoom): matchmaking grants no spectator's seat at the limit. */
  readonly spectators?: number;
  readonly maxSpectators?: number;
}

/** A matchmaking request (POST /matchmake). */
export interface MatchRequest {
  /** The player's name (checked by the owner at hello, not here). */
  readonly name: string;
  /** Game wanted; default the fleet's (every member of a fleet hosts the same game). */
  readonly game?: string;
  /** A room to join or create by name. */
  readonly room?: string;
  /** The requester's address key (private rooms; creation budgets). */
  readonly addressKey: string;
  /** Create the named room unlisted. */
  readonly unlisted?: boolean;
  /**
   * A seat to watch (hello.spectate): only in a room that exists (the named one, or else the listed
   * room of the game with the most players), never creating one, not counted against capacity;
   * none in a room at maxSpectatorsPerRoom as its owner last reported it, and the owner checks
   * maxSpectatorsPerRoom again when the seat is claimed.
   */
  readonly spectate?: boolean;
}

/** A granted seat: where to connect and the token to say hello with. */
export interface MatchResult {
  readonly ok: true;
  /** The owner's public HTTP base URL. */
  readonly url: string;
  /** The owner's WebSocket URL. */
  readonly ws: string;
  readonly signalingPort: number;
  readonly room: string;
  /** Single-use seat token for hello.seat; valid for seatTtlMs. */
  readonly seat: string;
  /** Member id of the owner. */
  readonly owner: string;
}

/** Why no seat was granted. */
export type MatchRefusalReason = 'fleet_full' | 'room_full' | 'wrong_game' | 'owner_unavailable' | 'unavailable' | 'draining' | 'no_room';

/** A refused matchmaking request (HTTP 503 for fleet_full/unavailable/draining, 409 otherwise). */
export interface MatchRefusal {
  readonly ok: false;
  readonly reason: MatchRefusalReason;
  readonly message: string;
}

/** What a seat claim at hello found. */
export type ClaimOutcome = 'ok' | 'unknown_seat' | 'wrong_room' | 'not_owner' | 'fenced' | 'unavailable';

/** A claim's outcome, and for a taken seat how its room was registered (the owner creates it so). */
export interface ClaimResult {
  readonly outcome: ClaimOutcome;
  readonly listed?: boolean;
  readonly matchmade?: boolean;
  /** Address key of the client that named the room ('' for matchmade rooms). */
  readonly ownerKey?: string;
}

/** One room of the fleet-wide listing (GET /rooms). */
export interface FleetRoom {
  readonly name: string;
  readonly game: string;
  readonly players: number;
  readonly capacity: number;
  /** Member id of the owner, and its public URL. */
  readonly owner: string;
  readonly ownerUrl: string;
  readonly listed: boolean;
  /** Seats granted and not yet claimed or expired. */
  readonly seats: number;
  /** The owner's last report of the room's details (RoomReport.info). */
  readonly info?: string;
}

/** One member of the fleet (GET /fleet). */
export interface FleetMember {
  readonly id: string;
  readonly url: string;
  readonly ws: string;
  readonly signalingPort: number;
  readonly state: 'serving' | 'draining';
  readonly players: number;
  readonly rooms: number;
  readonly capacity: number;
  /** Milliseconds since its last renewal. */
  readonly leaseAgeMs: number;
}

/**
 * This member's standing: serving (holds its lease, takes seats), draining (holds it, takes no
 * new seats), lost (its lease lapsed: it grants nothing until it holds a new one), unavailable
 * (Redis cannot be reached; matches go on, matchmaking refuses), stopped.
 */
export type FleetState = 'serving' | 'draining' | 'lost' | 'unavailable' | 'stopped';

/** Every fleet state, in metric order. */
export const FLEET_STATES: readonly FleetState[] = ['serving', 'draining', 'lost', 'unavailable', 'stopped'];

/** Counters of a fleet member (exported as metrics). */
export interface FleetStats {
  leaseRenewals: number;
  leaseFailures: number;
  leasesLost: number;
  seatsGranted: number;
  seatsRefused: number;
  seatsClaimed: number;
  seatsClaimRefused: number;
  seatsExpired: number;
  /** Local rooms ended because the fleet gave their name to another member while this one was cut off. */
  roomConflicts: number;
  /** Rooms this member moved to another member (a drain with handoff). */
  roomsHandedOff: number;
  /** Rooms another member moved here. */
  roomsReceived: number;
  /** Room offers that did not move a room: refused or unanswered ones this member sent, and those it refused. */
  handoffsRefused: number;
  /** Bytes of the rooms moved here (saved room plus sessions). */
  handoffBytes: number;
}

/** Fresh zeroed fleet counters. */
export function newFleetStats(): FleetStats {
  return { leaseRenewals: 0, leaseFailures: 0, leasesLost: 0, seatsGranted: 0, seatsRefused: 0, seatsClaimed: 0, seatsClaimRefused: 0, seatsExpired: 0, roomConflicts: 0, roomsHandedOff: 0, roomsReceived: 0, handoffsRefused: 0, handoffBytes: 0 };
}

/** A server process's view of its fleet. */
export interface Fleet {
  /** 'local': this process alone (no Redis); 'redis': a member of a fleet on Redis. */
  readonly mode: 'local' | 'redis';
  /** This member's id. */
  readonly memberId: string;
  readonly stats: FleetStats;
  state(): FleetState;
  /** Joins (takes a lease) and starts heartbeats. */
  start(): Promise<void>;
  /** Grants a seat, or says why not. */
  matchmake(req: MatchRequest): Promise<MatchResult | MatchRefusal>;
  /** Takes a seat presented in a hello for `room` (only once, only before it expires); a spectator's seat only with `spectate`, a player's only without. */
  claim(seat: string, room: string, spectate?: boolean): Promise<ClaimResult>;
  /** The room a seat was granted in, if the seat is known here (to join it without naming it). */
  seatRoom(seat: string, spectate?: boolean): Promise<string | undefined>;
  /** A room this member hosted is gone. */
  release(room: string): Promise<void>;
  /** Every live room of the fleet. */
  rooms(): Promise<FleetRoom[]>;
  /** Every live member. */
  members(): Promise<FleetMember[]>;
  /** Stops taking seats (draining); reported at the next heartbeat and at once in matchmaking. */
  drain(): Promise<void>;
  /** Leaves the fleet: removes this member and its rooms, stops heartbeats. */
  stop(): Promise<void>;
  /** The lease token this member holds now (a fleet on Redis only: rooms move between members there). */
  leaseToken?(): string | undefined;
  /**
   * Takes `room` from member `from`, which owns it under lease `fromToken`, in one atomic step
   * fenced by both members' leases: 'ok', or why not (server/fleet/scripts.ts TRANSFER).
   */
  transfer?(room: string, from: string, fromToken: string): Promise<string>;
  /** The member that owns `room` now, per the registry. */
  roomOwner?(room: string): Promise<string | undefined>;
}
