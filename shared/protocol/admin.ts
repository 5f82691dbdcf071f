// The admin HTTP API the monitor page reads and the server answers (server/admin.ts): its paths and
// the JSON of every request and reply. Types and constants only; no code runs here.

/** Paths of the operator's routes, relative to the server's root. */
export const ADMIN_PATHS = {
  /** GET: the monitor page (HTML); its script is at `monitorScript`. No Authorization header (a browser opens it). */
  monitor: '/monitor',
  monitorScript: '/monitor/monitor.js',
  /** GET: every room (listed or not) with its sessions: AdminRoomsReply. */
  rooms: '/admin/rooms',
  /** GET ?room=NAME[&limit=N]: one room's entities, every networked field dequantized: AdminEntitiesReply. */
  entities: '/admin/entities',
  /** POST AdminKickRequest: ends a session with bye Kicked (3). */
  kick: '/admin/kick',
  /** POST AdminCloseRoomRequest: ends every session in a room with bye RoomClosed (10), then disposes it. */
  closeRoom: '/admin/close-room',
} as const;

/** Entities listed by GET /admin/entities unless `limit` says otherwise, and the most it lists. */
export const ADMIN_ENTITY_LIMIT = 200;
export const ADMIN_ENTITY_LIMIT_MAX = 2000;

/** Longest `reason` a kick or a room close passes on to clients (longer is cut). */
export const ADMIN_REASON_MAX = 200;

/** GET /admin/rooms. */
export interface AdminRoomsReply {
  /** Server clock when the reply was made, ms (monotonic; differences are durations). */
  readonly atMs: number;
  readonly uptimeSec: number;
  /** Sessions on the server (all rooms, resuming ones included). */
  readonly sessions: number;
  /** Every open room, in creation order. */
  readonly rooms: readonly AdminRoom[];
}

/** One room as the admin API lists it. */
export interface AdminRoom {
  readonly name: string;
  readonly game: string;
  /** Players in the room now, and the most it takes. */
  readonly players: number;
  readonly capacity: number;
  /** Networked entities now. */
  readonly entities: number;
  /** The room's tick (it stands still while the room sleeps). */
  readonly tick: number;
  /** The room is ticked (it has players, or the game ticks empty rooms). */
  readonly awake: boolean;
  /** Shown by GET /rooms (false: created with hello.private). */
  readonly listed: boolean;
  /** Matchmaking may place anyone here (false: only clients from the creator's address). */
  readonly matchmade: boolean;
  /** 'server': made by matchmaking or the server; 'client': a client's hello named it. */
  readonly createdBy: 'server' | 'client';
  /** The session that named it and its address key (IPv4, or IPv6 /64), when a client created it. */
  readonly creator: { readonly sessionId: number; readonly name: string; readonly address: string } | null;
  /** Snapshots sent to the room's current players, by kind (a player's counts leave with them). */
  readonly snapshots: AdminSnapshotKinds;
  /** Input counters summed over the current players (as in GET /rooms). */
  readonly inputs: { readonly applied: number; readonly repeated: number; readonly lost: number };
  /** The room's players, in join order. */
  readonly sessions: readonly AdminSession[];
}

/** Snapshots by kind. */
export interface AdminSnapshotKinds {
  readonly full: number;
  readonly delta: number;
}

/** One player's session as the admin API lists it. */
export interface AdminSession {
  readonly sessionId: number;
  readonly name: string;
  /** The player's entity id. */
  readonly eid: number;
  /** 'active' (playing) or 'resuming' (its connection dropped; the entity waits for a resume). */
  readonly state: string;
  /** The channel carrying its unreliable traffic: 'webrtc', 'ws' (or 'loopback' in tests). */
  readonly transport: string;
  /** The address its hello came from. */
  readonly address: string;
  /**
   * Round trip measured by the server, ms: from sending a snapshot to the arrival of the first ack
   * naming it (smoothed with gain 1/8, and the latest sample); null before the first sample.
   */
  readonly rttMs: number | null;
  readonly lastRttMs: number | null;
  readonly rttSamples: number;
  /**
   * Snapshots never acknowledged: of the snapshots settled (out of every later ack's 33-snapshot
   * window), those no ack named; `share` = lost / settled (0 before any settled).
   */
  readonly snapshotLoss: { readonly settled: number; readonly lost: number; readonly share: number };
  /** Time since its last snapshot ack arrived, ms (null before the first). */
  readonly lastAckAgeMs: number | null;
  /** Its input counters: applied, repeated (ticks whose input had not arrived: inputs that missed their tick), lost (never applied), late, duplicate, received. */
  readonly inputs: {
    readonly applied: number; readonly repeated: number; readonly lost: number; readonly late: number; readonly duplicate: number; readonly received: number;
  };
  /** Payload bytes from and to the client since the session began, both channels. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** The same over the last second (sampled once a second). */
  readonly bytesInPerSec: number;
  readonly bytesOutPerSec: number;
  /** Snapshots sent to it by kind, since it joined or resumed. */
  readonly snapshots: AdminSnapshotKinds;
}

/** GET /admin/entities?room=NAME: the first entities by id (at most `limit`), and how many there are. */
export interface AdminEntitiesReply {
  readonly room: string;
  readonly tick: number;
  /** Networked entities in the room, and how many are listed. */
  readonly count: number;
  readonly shown: number;
  /** Networked fields as `Component.field`, in wire order: the columns of `values`. */
  readonly columns: readonly string[];
  readonly entities: readonly AdminEntity[];
}

/** One entity: its id, the session it is the player of (if any), and its fields as clients decode them (null: the entity lacks that component). */
export interface AdminEntity {
  readonly id: number;
  readonly sessionId: number | null;
  readonly values: readonly (number | null)[];
}

/** POST /admin/kick. */
export interface AdminKickRequest {
  readonly sessionId: number;
  /** Sent to the client in its bye (cut to ADMIN_REASON_MAX characters). */
  readonly reason?: string;
}

/** POST /admin/close-room. */
export interface AdminCloseRoomRequest {
  readonly room: string;
  readonly reason?: string;
}

/** What a kick or a room close answers (200): it happens within a tick, through the session life cycle. */
export interface AdminActionReply {
  readonly ok: true;
  /** The session kicked, or the room closed and how many players it held. */
  readonly sessionId?: number;
  readonly room?: string;
  readonly players?: number;
}

/** Any refusal (400, 401, 404, 413, 500). */
export interface AdminErrorReply {
  readonly error: string;
}
