// Server configuration: defaults, environment variables and an optional JSON file, validated at
// start with every error listed, then frozen.
import { readFileSync } from 'node:fs';
import { checkInt, DEFAULT_NET_CONFIG, validateNetConfig, type NetConfig } from '../shared/config.ts';

/** Everything the server process reads at start. */
export interface ServerConfig {
  /** Bind address for HTTP, WebSocket, signaling and WebRTC. Env HOST. Default '127.0.0.1'. */
  readonly host: string;
  /** HTTP + WebSocket port. Env PORT. Default 8080. 0 picks a free port. */
  readonly port: number;
  /** WebRTC signaling HTTP port. Env TICKWIRE_SIGNALING_PORT. Default port + 1 (0 when port is 0). */
  readonly signalingPort: number;
  /** First UDP port for WebRTC. Env TICKWIRE_UDP_PORT_MIN. Default 20000. */
  readonly udpPortMin: number;
  /** Last UDP port for WebRTC. Env TICKWIRE_UDP_PORT_MAX. Default 20999. */
  readonly udpPortMax: number;
  /** Enables the WebRTC channel; when false every client uses the WebSocket. Env TICKWIRE_WEBRTC. Default true. */
  readonly webrtc: boolean;
  /** Runs WebRTC in a supervised child process, restarted on a crash. Env TICKWIRE_WEBRTC_PROCESS. Default true. */
  readonly webrtcProcess: boolean;
  /**
   * Supervised WebRTC processes (with webrtcProcess): each has its own signaling port
   * (signalingPort + i) and slice of the UDP range, and restarts on its own; sessions are spread
   * over them. 0 = half the cores, 1..4. Env TICKWIRE_WEBRTC_PROCESSES. Default 0.
   */
  readonly webrtcProcesses: number;
  /**
   * Hands the snapshot packets of a tick to the transports after its timed part (simulation and
   * encoding), instead of one send per packet inside it. Env TICKWIRE_SENDS_AFTER_TICK. Default true.
   */
  readonly sendsAfterTick: boolean;
  /** Game hosted by every room. Env TICKWIRE_GAME. Default 'tag' (the demo; benchmarks set arena-v1). */
  readonly game: string;
  /** Game parameters for new rooms (e.g. { npcs: 500 }). Env TICKWIRE_GAME_PARAMS (JSON). Default {}. */
  readonly gameParams: Readonly<Record<string, number>>;
  /** Seed of the first room's PRNG; room k uses a seed derived from it. Env TICKWIRE_SEED. Default 1. */
  readonly seed: number;
  /** Players per room. Env TICKWIRE_ROOM_CAPACITY. Default 64. */
  readonly roomCapacity: number;
  /** Most rooms per process. Env TICKWIRE_MAX_ROOMS. Default 64. */
  readonly maxRooms: number;
  /** Most sessions per process. Env TICKWIRE_MAX_SESSIONS. Default 2000. */
  readonly maxSessions: number;
  /** An empty room is disposed after this many milliseconds. Env TICKWIRE_ROOM_GRACE_MS. Default 30000. */
  readonly roomEmptyGraceMs: number;
  /** Ticks the loop may run back to back after a stall; later ones are skipped and counted. Env TICKWIRE_MAX_CATCHUP_TICKS. Default 5. */
  readonly maxCatchUpTicks: number;
  /** Largest WebSocket message accepted, in bytes; bigger closes the connection. Env TICKWIRE_WS_MAX_PAYLOAD_BYTES. Default 4096. */
  readonly wsMaxPayloadBytes: number;
  /** Bytes buffered for a slow WebSocket reader before it is dropped. Env TICKWIRE_WS_MAX_BACKPRESSURE_BYTES. Default 262144. */
  readonly wsMaxBackpressureBytes: number;
  /** WebSocket idle timeout in seconds (uWS sends pings). Env TICKWIRE_WS_IDLE_TIMEOUT_SEC. Default 16. */
  readonly wsIdleTimeoutSec: number;
  /** WebRTC peers still connecting at once, beyond which new ones are refused. Env TICKWIRE_MAX_PENDING_PEERS. Default 128. */
  readonly maxPendingPeers: number;
  /** Origins allowed at the WebSocket upgrade; empty allows any. Env TICKWIRE_ALLOWED_ORIGINS (comma list). Default []. */
  readonly allowedOrigins: readonly string[];
  /** Bad messages a client may send before it is disconnected. Env TICKWIRE_MAX_BAD_MESSAGES. Default 20. */
  readonly maxBadMessages: number;
  /** How long a dropped session keeps its entity and can be resumed, ms; 0 disables resume. Env TICKWIRE_RESUME_GRACE_MS. Default 15000. */
  readonly resumeGraceMs: number;
  /** A playing client that acknowledges no snapshot for this long has its connection closed (it may resume), ms. Env TICKWIRE_CLIENT_TIMEOUT_MS. Default 5000. */
  readonly clientTimeoutMs: number;
  /** Messages per second a client may send (both channels); excess is dropped, sustained excess disconnects. Env TICKWIRE_MAX_MESSAGES_PER_SEC. Default 300. */
  readonly maxMessagesPerSec: number;
  /** Longest lag-compensation rewind, ms (Source's sv_maxunlag); claims beyond it are clamped and counted; also the rewind history's length. Env TICKWIRE_LAGCOMP_MAX_REWIND_MS. Default 1000. */
  readonly lagCompMaxRewindMs: number;
  /** Longest interpolation delay a client may claim it drew with, ms; older claims are clamped and counted. Env TICKWIRE_LAGCOMP_MAX_INTERP_MS. Default 250. */
  readonly lagCompMaxInterpMs: number;
  /** Slack of the lag-compensation claim checks for jitter and clock error, ms. Env TICKWIRE_LAGCOMP_TOLERANCE_MS. Default 100. */
  readonly lagCompToleranceMs: number;
  /** Time allowed for a graceful shutdown, ms. Env TICKWIRE_SHUTDOWN_MS. Default 5000. */
  readonly shutdownMs: number;
  /** A connection that sends no hello or resume within this long is closed, ms. Env TICKWIRE_HANDSHAKE_TIMEOUT_MS. Default 5000. */
  readonly handshakeTimeoutMs: number;
  /** Input packets claiming a tick further than this from the room's are dropped (counted), ms. Env TICKWIRE_MAX_INPUT_TICK_SKEW_MS. Default 2000. */
  readonly maxInputTickSkewMs: number;
  /** Bytes all clients may queue between two ticks; beyond it messages are dropped and counted. Env TICKWIRE_INBOX_BYTES. Default 4194304. */
  readonly inboxBytes: number;
  /** Unacknowledged reliable messages a session may have before it ends. Env TICKWIRE_MAX_UNACKED_MESSAGES. Default 1024. */
  readonly maxUnackedMessages: number;
  /** Unacknowledged reliable bytes (64 counted per message) a session may have before it ends. Env TICKWIRE_MAX_UNACKED_BYTES. Default 524288. */
  readonly maxUnackedBytes: number;
  /** Distinct snapshot baselines encoded per room and snapshot tick before sections are re-encoded. Env TICKWIRE_SNAPSHOT_MAX_SECTIONS. Default 8. */
  readonly snapshotMaxSections: number;
  /** After a full snapshot, snapshots during which a client gets deltas against it while its ack is pending. Env TICKWIRE_SNAPSHOT_FULL_RETRY. Default 8. */
  readonly snapshotFullRetrySnapshots: number;
  /**
   * Snapshot bytes per second each client's view may take (games with interest rules): entities
   * entering a view wait, most important first, while the budget is spent; 0 = no budget.
   * Env TICKWIRE_VIEW_BUDGET_BYTES_PER_SEC. Default 4096.
   */
  readonly viewBudgetBytesPerSec: number;
  /** A WebRTC peer admitted but not open after this long is closed, ms. Env TICKWIRE_WEBRTC_PENDING_TIMEOUT_MS. Default 10000. */
  readonly webrtcPendingTimeoutMs: number;
  /** Connections still in the handshake (no hello yet) at once, all addresses; beyond it new ones get 503. Env TICKWIRE_MAX_HANDSHAKES. Default 512. */
  readonly maxHandshakes: number;
  /** Connections still in the handshake at once from one address (IPv4, or IPv6 /64). Env TICKWIRE_MAX_HANDSHAKES_PER_ADDRESS. Default 32. */
  readonly maxHandshakesPerAddress: number;
  /** Sessions (playing or resuming) from one address. Env TICKWIRE_MAX_SESSIONS_PER_ADDRESS. Default 256. */
  readonly maxSessionsPerAddress: number;
  /** WebRTC peers still connecting at once for the sessions of one address. Env TICKWIRE_MAX_PENDING_PEERS_PER_ADDRESS. Default 16. */
  readonly maxPendingPeersPerAddress: number;
  /** Rooms one address may create by naming them, per minute (burst of as many). Env TICKWIRE_ROOM_CREATES_PER_ADDRESS_PER_MIN. Default 10. */
  readonly roomCreatesPerAddressPerMin: number;
  /** Rooms all clients together may create by naming them, per second (burst of as many). Env TICKWIRE_ROOM_CREATES_PER_SEC. Default 20. */
  readonly roomCreatesPerSec: number;
  /** An empty room no player ever stayed in for 5 s is disposed after this, ms (instead of roomEmptyGraceMs). Env TICKWIRE_ROOM_UNUSED_GRACE_MS. Default 2000. */
  readonly roomUnusedGraceMs: number;
  /** Chat messages a session may send per second (burst of four seconds' worth); excess is dropped and counted. Env TICKWIRE_CHAT_PER_SEC. Default 5. */
  readonly chatPerSec: number;
  /** Game events a session may send per second (burst of four seconds' worth); excess is dropped and counted. Env TICKWIRE_EVENTS_PER_SEC. Default 30. */
  readonly eventsPerSec: number;
  /** A receiver with more unacknowledged reliable messages than this gets no more chat until it catches up (counted). Env TICKWIRE_MAX_RECEIVER_BACKLOG. Default 128. */
  readonly maxReceiverBacklog: number;
  /** Parameters of rooms clients create by naming them, over gameParams. Env TICKWIRE_CLIENT_ROOM_PARAMS (JSON). Default: the game's clientRooms.params. */
  readonly clientRoomParams: Readonly<Record<string, number>> | undefined;
  /**
   * Bearer token of the monitor page and the /admin/* routes (16..1024 visible ASCII characters);
   * empty turns them off (they answer 404). Env TICKWIRE_ADMIN_TOKEN. Default ''.
   */
  readonly adminToken: string;
  /** Redis of the fleet this process joins (redis://host:port[/db]); empty: a fleet of one, in memory. Env TICKWIRE_REDIS_URL. Default ''. */
  readonly redisUrl: string;
  /** HTTP base URL clients reach this process at (matchmaking sends them there); empty: derived from host and port. Env TICKWIRE_PUBLIC_URL. Default ''. */
  readonly publicUrl: string;
  /** This member's id in the fleet (letters, digits, '.', '_', '-'); empty: host name, port and a random suffix. Env TICKWIRE_MEMBER_ID. Default ''. */
  readonly memberId: string;
  /** Prefix of every fleet key in Redis. Env TICKWIRE_FLEET_PREFIX. Default 'tw:'. */
  readonly fleetPrefix: string;
  /** Lease of a fleet member and its rooms, ms; renewed every third of it. Env TICKWIRE_FLEET_LEASE_MS. Default 5000. */
  readonly fleetLeaseMs: number;
  /** How long a seat POST /matchmake grants stays valid, ms. Env TICKWIRE_SEAT_TTL_MS. Default 10000. */
  readonly seatTtlMs: number;
  /** Matchmaking requests one address may make per second (burst of four seconds' worth); excess gets 429. Env TICKWIRE_MATCHMAKE_PER_SEC. Default 10. */
  readonly matchmakePerSec: number;
  /** A draining process closes its last sessions and exits after this, ms (its rooms may end sooner). Env TICKWIRE_DRAIN_MS. Default 300000. */
  readonly drainMs: number;
  /** A drain (SIGTERM, Agones Shutdown, POST /admin/drain without `handoff`) first moves each room to another fleet member (docs/fleet.md). Env TICKWIRE_DRAIN_HANDOFF. Default false. */
  readonly drainHandoff: boolean;
  /** Run the Agones game-server lifecycle through the SDK sidecar (server/agones.ts): Ready, health pings, labels, Shutdown. Env TICKWIRE_AGONES. Default false. */
  readonly agones: boolean;
  /** Milliseconds between Agones health pings. Env TICKWIRE_AGONES_HEALTH_MS. Default 2000. */
  readonly agonesHealthMs: number;
  /** Spectators one room takes at most (hello.spectate). Env TICKWIRE_MAX_SPECTATORS_PER_ROOM. Default 32. */
  readonly maxSpectatorsPerRoom: number;
  /** Spectators whose snapshots ride the WebSocket share one delta chain per room, encoded once per snapshot tick and sent without acks (docs/snapshots.md, Spectator stream). Env TICKWIRE_SPECTATOR_STREAM. Default true. */
  readonly spectatorStream: boolean;
  /** Bytes a shared-stream spectator's connection may hold unsent before it skips snapshots (resynchronised with a keyframe once it drains; closed with Backpressure after clientTimeoutMs behind). Env TICKWIRE_SPECTATOR_STREAM_MAX_BEHIND_BYTES. Default 65536. */
  readonly spectatorStreamMaxBehindBytes: number;
  /** Enter radius of a spectator's view in a room with interest rules until its camera asks for another, world units; 0 = the game's viewRadius. Env TICKWIRE_SPECTATOR_VIEW_RADIUS. Default 0. */
  readonly spectatorViewRadius: number;
  /** Largest enter radius a spectator's camera may ask for (a zoomed-out camera gets this), world units; 0 = twice the spectator view radius. Env TICKWIRE_SPECTATOR_MAX_VIEW_RADIUS. Default 0. */
  readonly spectatorMaxViewRadius: number;
  /** Camera messages a spectator may send per second (burst of one second's worth); the excess is dropped and counted. Env TICKWIRE_CAMERA_PER_SEC. Default 20. */
  readonly cameraPerSec: number;
  /** Records every room's match to a replay file in replayDir (docs/replay.md); in games with interest rules the whole world. Env TICKWIRE_RECORD_ROOMS. Default false. */
  readonly recordRooms: boolean;
  /** Directory of the replay files (written when recordRooms is on; listed at GET /replays). Env TICKWIRE_REPLAY_DIR. Default 'replays'. */
  readonly replayDir: string;
  /** Seconds between a replay's keyframes (full snapshots; seeking decodes from the nearest one). Env TICKWIRE_REPLAY_KEYFRAME_SEC. Default 10. */
  readonly replayKeyframeSec: number;
  /** Largest replay file, bytes: a recording that reaches it is finished there; also the most GET /replays/:name serves. Env TICKWIRE_REPLAY_MAX_BYTES. Default 67108864. */
  readonly replayMaxBytes: number;
  /** Readers of one room's read-only feed (GET /rooms/:name/feed) at once; 0 turns the feed off. Env TICKWIRE_FEED_CONNECTIONS_PER_ROOM. Default 16. */
  readonly feedConnectionsPerRoom: number;
  /** Feed readers one address may hold at once, all rooms. Env TICKWIRE_FEED_CONNECTIONS_PER_ADDRESS. Default 4. */
  readonly feedConnectionsPerAddress: number;
  /** Milliseconds between a feed's `summary` events. Env TICKWIRE_FEED_SUMMARY_MS. Default 1000. */
  readonly feedSummaryMs: number;
  /** Milliseconds between a feed's heartbeat comments. Env TICKWIRE_FEED_HEARTBEAT_MS. Default 15000. */
  readonly feedHeartbeatMs: number;
  /** Bytes a feed reader may leave unread in the server's buffer before it is dropped as too slow. Env TICKWIRE_FEED_MAX_BUFFERED_BYTES. Default 65536. */
  readonly feedMaxBufferedBytes: number;
  /** Directory of the bundled browser client served at `/`. Default 'client/dist'. */
  readonly clientDir: string;
  /** pino log level. Env LOG_LEVEL. Default 'info'. */
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Netcode settings shared with clients (rates, buffers, packet size). Env TICKWIRE_TICK_RATE_HZ, TICKWIRE_SNAPSHOT_RATE_HZ, TICKWIRE_MAX_PACKET_BYTES. */
  readonly net: NetConfig;
}

/** Defaults, before environment and file overrides. */
export const DEFAULT_SERVER_CONFIG: ServerConfig = Object.freeze({
  host: '127.0.0.1',
  port: 8080,
  signalingPort: 8081,
  udpPortMin: 20000,
  udpPortMax: 20999,
  webrtc: true,
  webrtcProcess: true,
  webrtcProcesses: 0,
  sendsAfterTick: true,
  game: 'tag',
  gameParams: {},
  seed: 1,
  roomCapacity: 64,
  maxRooms: 64,
  maxSessions: 2000,
  roomEmptyGraceMs: 30_000,
  maxCatchUpTicks: 5,
  wsMaxPayloadBytes: 4096,
  wsMaxBackpressureBytes: 256 * 1024,
  wsIdleTimeoutSec: 16,
  maxPendingPeers: 128,
  allowedOrigins: [],
  maxBadMessages: 20,
  resumeGraceMs: 15_000,
  clientTimeoutMs: 5000,
  maxMessagesPerSec: 300,
  lagCompMaxRewindMs: 1000,
  lagCompMaxInterpMs: 250,
  lagCompToleranceMs: 100,
  shutdownMs: 5000,
  handshakeTimeoutMs: 5000,
  maxInputTickSkewMs: 2000,
  inboxBytes: 4 << 20,
  maxUnackedMessages: 1024,
  maxUnackedBytes: 512 * 1024,
  snapshotMaxSections: 8,
  snapshotFullRetrySnapshots: 8,
  viewBudgetBytesPerSec: 4096,
  webrtcPendingTimeoutMs: 10_000,
  maxHandshakes: 512,
  maxHandshakesPerAddress: 32,
  maxSessionsPerAddress: 256,
  maxPendingPeersPerAddress: 16,
  roomCreatesPerAddressPerMin: 10,
  roomCreatesPerSec: 20,
  roomUnusedGraceMs: 2000,
  chatPerSec: 5,
  eventsPerSec: 30,
  maxReceiverBacklog: 128,
  clientRoomParams: undefined,
  adminToken: '',
  redisUrl: '',
  publicUrl: '',
  memberId: '',
  fleetPrefix: 'tw:',
  fleetLeaseMs: 5000,
  seatTtlMs: 10_000,
  matchmakePerSec: 10,
  drainMs: 300_000,
  drainHandoff: false,
  agones: false,
  agonesHealthMs: 2000,
  maxSpectatorsPerRoom: 32,
  spectatorStream: true,
  spectatorStreamMaxBehindBytes: 64 * 1024,
  spectatorViewRadius: 0,
  spectatorMaxViewRadius: 0,
  cameraPerSec: 20,
  recordRooms: false,
  replayDir: 'replays',
  replayKeyframeSec: 10,
  replayMaxBytes: 64 << 20,
  feedConnectionsPerRoom: 16,
  feedConnectionsPerAddress: 4,
  feedSummaryMs: 1000,
  feedHeartbeatMs: 15_000,
  feedMaxBufferedBytes: 65_536,
  clientDir: 'client/dist',
  logLevel: 'info',
  net: DEFAULT_NET_CONFIG,
});

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Integer options and the environment variable that sets each. */
export const INT_ENV: readonly (readonly [keyof ServerConfig, string])[] = [
  ['port', 'PORT'], ['signalingPort', 'TICKWIRE_SIGNALING_PORT'], ['udpPortMin', 'TICKWIRE_UDP_PORT_MIN'], ['udpPortMax', 'TICKWIRE_UDP_PORT_MAX'],
  ['seed', 'TICKWIRE_SEED'], ['webrtcProcesses', 'TICKWIRE_WEBRTC_PROCESSES'], ['roomCapacity', 'TICKWIRE_ROOM_CAPACITY'], ['maxRooms', 'TICKWIRE_MAX_ROOMS'], ['maxSessions', 'TICKWIRE_MAX_SESSIONS'],
  ['roomEmptyGraceMs', 'TICKWIRE_ROOM_GRACE_MS'], ['maxCatchUpTicks', 'TICKWIRE_MAX_CATCHUP_TICKS'], ['wsMaxPayloadBytes', 'TICKWIRE_WS_MAX_PAYLOAD_BYTES'],
  ['wsMaxBackpressureBytes', 'TICKWIRE_WS_MAX_BACKPRESSURE_BYTES'], ['wsIdleTimeoutSec', 'TICKWIRE_WS_IDLE_TIMEOUT_SEC'], ['maxPendingPeers', 'TICKWIRE_MAX_PENDING_PEERS'],
  ['maxBadMessages', 'TICKWIRE_MAX_BAD_MESSAGES'], ['shutdownMs', 'TICKWIRE_SHUTDOWN_MS'], ['resumeGraceMs', 'TICKWIRE_RESUME_GRACE_MS'],
  ['maxMessagesPerSec', 'TICKWIRE_MAX_MESSAGES_PER_SEC'], ['clientTimeoutMs', 'TICKWIRE_CLIENT_TIMEOUT_MS'],
  ['handshakeTimeoutMs', 'TICKWIRE_HANDSHAKE_TIMEOUT_MS'], ['maxInputTickSkewMs', 'TICKWIRE_MAX_INPUT_TICK_SKEW_MS'], ['inboxBytes', 'TICKWIRE_INBOX_BYTES'],
  ['maxUnackedMessages', 'TICKWIRE_MAX_UNACKED_MESSAGES'], ['maxUnackedBytes', 'TICKWIRE_MAX_UNACKED_BYTES'], ['snapshotMaxSections', 'TICKWIRE_SNAPSHOT_MAX_SECTIONS'],
  ['snapshotFullRetrySnapshots', 'TICKWIRE_SNAPSHOT_FULL_RETRY'], ['viewBudgetBytesPerSec', 'TICKWIRE_VIEW_BUDGET_BYTES_PER_SEC'], ['webrtcPendingTimeoutMs', 'TICKWIRE_WEBRTC_PENDING_TIMEOUT_MS'],
  ['maxHandshakes', 'TICKWIRE_MAX_HANDSHAKES'], ['maxHandshakesPerAddress', 'TICKWIRE_MAX_HANDSHAKES_PER_ADDRESS'], ['maxSessionsPerAddress', 'TICKWIRE_MAX_SESSIONS_PER_ADDRESS'],
  ['maxPendingPeersPerAddress', 'TICKWIRE_MAX_PENDING_PEERS_PER_ADDRESS'], ['roomCreatesPerAddressPerMin', 'TICKWIRE_ROOM_CREATES_PER_ADDRESS_PER_MIN'],
  ['roomCreatesPerSec', 'TICKWIRE_ROOM_CREATES_PER_SEC'], ['roomUnusedGraceMs', 'TICKWIRE_ROOM_UNUSED_GRACE_MS'], ['chatPerSec', 'TICKWIRE_CHAT_PER_SEC'],
  ['eventsPerSec', 'TICKWIRE_EVENTS_PER_SEC'], ['maxReceiverBacklog', 'TICKWIRE_MAX_RECEIVER_BACKLOG'],
  ['maxSpectatorsPerRoom', 'TICKWIRE_MAX_SPECTATORS_PER_ROOM'], ['spectatorStreamMaxBehindBytes', 'TICKWIRE_SPECTATOR_STREAM_MAX_BEHIND_BYTES'], ['replayKeyframeSec', 'TICKWIRE_REPLAY_KEYFRAME_SEC'], ['replayMaxBytes', 'TICKWIRE_REPLAY_MAX_BYTES'], ['fleetLeaseMs', 'TICKWIRE_FLEET_LEASE_MS'], ['seatTtlMs', 'TICKWIRE_SEAT_TTL_MS'], ['matchmakePerSec', 'TICKWIRE_MATCHMAKE_PER_SEC'], ['drainMs', 'TICKWIRE_DRAIN_MS'],
  ['maxSpectatorsPerRoom', 'TICKWIRE_MAX_SPECTATORS_PER_ROOM'], ['spectatorViewRadius', 'TICKWIRE_SPECTATOR_VIEW_RADIUS'], ['spectatorMaxViewRadius', 'TICKWIRE_SPECTATOR_MAX_VIEW_RADIUS'], ['cameraPerSec', 'TICKWIRE_CAMERA_PER_SEC'], ['replayKeyframeSec', 'TICKWIRE_REPLAY_KEYFRAME_SEC'], ['replayMaxBytes', 'TICKWIRE_REPLAY_MAX_BYTES'], ['fleetLeaseMs', 'TICKWIRE_FLEET_LEASE_MS'], ['seatTtlMs', 'TICKWIRE_SEAT_TTL_MS'], ['matchmakePerSec', 'TICKWIRE_MATCHMAKE_PER_SEC'], ['drainMs', 'TICKWIRE_DRAIN_MS'],
  ['lagCompMaxRewindMs', 'TICKWIRE_LAGCOMP_MAX_REWIND_MS'], ['lagCompMaxInterpMs', 'TICKWIRE_LAGCOMP_MAX_INTERP_MS'], ['lagCompToleranceMs', 'TICKWIRE_LAGCOMP_TOLERANCE_MS'],
  ['agonesHealthMs', 'TICKWIRE_AGONES_HEALTH_MS'], ['feedConnectionsPerRoom', 'TICKWIRE_FEED_CONNECTIONS_PER_ROOM'], ['feedConnectionsPerAddress', 'TICKWIRE_FEED_CONNECTIONS_PER_ADDRESS'],
  ['feedSummaryMs', 'TICKWIRE_FEED_SUMMARY_MS'], ['feedHeartbeatMs', 'TICKWIRE_FEED_HEARTBEAT_MS'], ['feedMaxBufferedBytes', 'TICKWIRE_FEED_MAX_BUFFERED_BYTES'],
];
/** Netcode options (`net.*`) and the environment variable that sets each. */
export const NET_ENV: readonly (readonly [keyof NetConfig, string])[] = [
  ['tickRateHz', 'TICKWIRE_TICK_RATE_HZ'], ['snapshotRateHz', 'TICKWIRE_SNAPSHOT_RATE_HZ'], ['maxPacketBytes', 'TICKWIRE_MAX_PACKET_BYTES'],
  ['inputRedundancy', 'TICKWIRE_INPUT_REDUNDANCY'], ['inputBufferMax', 'TICKWIRE_INPUT_BUFFER_MAX'],
];

/** Options that are not integers, and the environment variable loadServerConfig parses for each. */
export const OTHER_ENV = {
  host: 'HOST',
  game: 'TICKWIRE_GAME',
  logLevel: 'LOG_LEVEL',
  webrtc: 'TICKWIRE_WEBRTC',
  webrtcProcess: 'TICKWIRE_WEBRTC_PROCESS',
  agones: 'TICKWIRE_AGONES',
  drainHandoff: 'TICKWIRE_DRAIN_HANDOFF',
  sendsAfterTick: 'TICKWIRE_SENDS_AFTER_TICK',
  recordRooms: 'TICKWIRE_RECORD_ROOMS',
  spectatorStream: 'TICKWIRE_SPECTATOR_STREAM',
  replayDir: 'TICKWIRE_REPLAY_DIR',
  allowedOrigins: 'TICKWIRE_ALLOWED_ORIGINS',
  gameParams: 'TICKWIRE_GAME_PARAMS',
  clientRoomParams: 'TICKWIRE_CLIENT_ROOM_PARAMS',
  adminToken: 'TICKWIRE_ADMIN_TOKEN',
  redisUrl: 'TICKWIRE_REDIS_URL',
  publicUrl: 'TICKWIRE_PUBLIC_URL',
  memberId: 'TICKWIRE_MEMBER_ID',
  fleetPrefix: 'TICKWIRE_FLEET_PREFIX',
} as const satisfies Partial<Record<keyof ServerConfig, string>>;

/** Spellings of a boolean environment variable (compared in lower case). */
const FLAG_VALUES: Readonly<Record<string, boolean>> = { 1: true, true: true, yes: true, on: true, 0: false, false: false, no: false, off: false };

function envFlag(errors: string[], name: string, raw: string): boolean | undefined {
  const v = FLAG_VALUES[raw.trim().toLowerCase()];
  if (v === undefined) errors.push(`${name} must be 1/0, true/false, yes/no or on/off (got ${JSON.stringify(raw)})`);
  return v;
}

function envInt(errors: string[], env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  // decimal digits only ("1e3", "0x10" and " " are typos here, not numbers); a bad value is one error, and the option keeps its default
  if (!/^\s*[+-]?\d+\s*$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    errors.push(`${name} must be an integer (got ${JSON.stringify(raw)})`);
    return undefined;
  }
  return Number(raw);
}

/** True for a plain JSON object (not an array or null). */
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The error loadServerConfig throws: every problem, one per entry of `errors`. */
export class ConfigError extends Error {
  constructor(readonly errors: readonly string[]) {
    super(`invalid configuration:\n  - ${errors.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Builds the config from defaults, then the JSON file named by TICKWIRE_CONFIG (if any), then
 * environment variables, then `overrides`. Throws one ConfigError listing every problem.
 */
export function loadServerConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<ServerConfig> = {}): ServerConfig {
  const errors: string[] = [];
  const cfg: Mutable<ServerConfig> = { ...DEFAULT_SERVER_CONFIG, net: { ...DEFAULT_NET_CONFIG } };
  let signalingSet = false;
  if (env.TICKWIRE_CONFIG) {
    const where = `TICKWIRE_CONFIG ${env.TICKWIRE_CONFIG}`;
    let file: unknown;
    try {
      file = JSON.parse(readFileSync(env.TICKWIRE_CONFIG, 'utf8'));
    } catch (err) {
      errors.push(`${where}: ${(err as Error).message}`);
    }
    if (file !== undefined && !isObject(file)) errors.push(`${where}: not a JSON object`);
    else if (file !== undefined) {
      const { net, ...rest } = file;
      for (const key of Object.keys(rest)) {
        if (!(key in DEFAULT_SERVER_CONFIG)) errors.push(`${where}: unknown option ${key}`);
        else (cfg as Record<string, unknown>)[key] = rest[key];
      }
      if (net !== undefined) {
        if (!isObject(net)) errors.push(`${where}: net must be an object of netcode options`);
        else {
          const known: Record<string, unknown> = {};
          for (const [key, v] of Object.entries(net)) {
            if (!(key in DEFAULT_NET_CONFIG)) errors.push(`${where}: unknown option net.${key}`);
            else known[key] = v;
          }
          cfg.net = { ...cfg.net, ...(known as Partial<NetConfig>) };
        }
      }
      signalingSet = 'signalingPort' in rest;
    }
  }
  for (const [key, name] of INT_ENV) {
    const v = envInt(errors, env, name);
    if (v !== undefined) {
      (cfg as Record<string, unknown>)[key] = v;
      if (key === 'signalingPort') signalingSet = true;
    }
  }
  const net: Mutable<NetConfig> = { ...cfg.net };
  for (const [key, name] of NET_ENV) {
    const v = envInt(errors, env, name);
    if (v !== undefined) net[key] = v;
  }
  cfg.net = net;
  const e = (key: keyof typeof OTHER_ENV): string | undefined => env[OTHER_ENV[key]] || undefined;
  const host = e('host');
  if (host) cfg.host = host;
  const game = e('game');
  if (game) cfg.game = game;
  const logLevel = e('logLevel');
  if (logLevel) cfg.logLevel = logLevel as ServerConfig['logLevel'];
  for (const key of ['webrtc', 'webrtcProcess', 'agones', 'drainHandoff', 'sendsAfterTick', 'recordRooms', 'spectatorStream'] as const) {
    const raw = e(key);
    const v = raw === undefined ? undefined : envFlag(errors, OTHER_ENV[key], raw);
    if (v !== undefined) cfg[key] = v;
  }
  const origins = e('allowedOrigins');
  if (origins) cfg.allowedOrigins = origins.split(',').map((s) => s.trim()).filter(Boolean);
  const adminToken = e('adminToken');
  if (adminToken) cfg.adminToken = adminToken;
  for (const key of ['redisUrl', 'publicUrl', 'memberId', 'fleetPrefix', 'replayDir'] as const) {
    const v = e(key);
    if (v) cfg[key] = v;
  }
  for (const key of ['gameParams', 'clientRoomParams'] as const) {
    const raw = e(key);
    if (!raw) continue;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch {
      v = undefined;
    }
    if (!isObject(v) || Object.values(v).some((n) => typeof n !== 'number' || !Number.isFinite(n))) errors.push(`${OTHER_ENV[key]} must be a JSON object of numbers (got ${JSON.stringify(raw)})`);
    else cfg[key] = v as Record<string, number>;
  }
  Object.assign(cfg, overrides);
  if (overrides.net) cfg.net = { ...DEFAULT_NET_CONFIG, ...overrides.net };
  if ('signalingPort' in overrides) signalingSet = true;
  if (!signalingSet) cfg.signalingPort = cfg.port === 0 ? 0 : cfg.port + 1;
  errors.push(...validateServerConfig(cfg));
  if (errors.length) throw new ConfigError(errors);
  return Object.freeze({
    ...cfg, net: Object.freeze({ ...cfg.net }), gameParams: Object.freeze({ ...cfg.gameParams }), allowedOrigins: Object.freeze([...cfg.allowedOrigins]),
    clientRoomParams: cfg.clientRoomParams === undefined ? undefined : Object.freeze({ ...cfg.clientRoomParams }),
  });
}

/** Checks every field; returns all problems. */
export function validateServerConfig(cfg: ServerConfig): string[] {
  const errors: string[] = [];
  if (typeof cfg.host !== 'string' || cfg.host.length === 0) errors.push('host must be a non-empty string');
  for (const key of ['webrtc', 'webrtcProcess', 'agones', 'drainHandoff', 'sendsAfterTick', 'recordRooms', 'spectatorStream'] as const) if (typeof cfg[key] !== 'boolean') errors.push(`${key} must be true or false (got ${JSON.stringify(cfg[key])})`);
  for (const key of ['game', 'clientDir', 'replayDir'] as const) if (typeof cfg[key] !== 'string' || cfg[key].length === 0) errors.push(`${key} must be a non-empty string (got ${JSON.stringify(cfg[key])})`);
  checkInt(errors, 'port', cfg.port, 0, 65535);
  checkInt(errors, 'signalingPort', cfg.signalingPort, 0, 65535);
  checkInt(errors, 'udpPortMin', cfg.udpPortMin, 1024, 65535);
  checkInt(errors, 'udpPortMax', cfg.udpPortMax, 1024, 65535);
  if (cfg.udpPortMax < cfg.udpPortMin) errors.push('udpPortMax must be >= udpPortMin');
  if (cfg.port !== 0 && cfg.port === cfg.signalingPort) errors.push('signalingPort must differ from port');
  checkInt(errors, 'seed', cfg.seed, 0, 0xffffffff);
  checkInt(errors, 'webrtcProcesses', cfg.webrtcProcesses, 0, 32);
  if (errors.length === 0 && cfg.webrtcProcesses > cfg.udpPortMax - cfg.udpPortMin + 1) errors.push('webrtcProcesses must not exceed the UDP ports in udpPortMin..udpPortMax');
  if (errors.length === 0 && cfg.port !== 0 && cfg.signalingPort !== 0 && cfg.port > cfg.signalingPort && cfg.port < cfg.signalingPort + Math.max(1, cfg.webrtcProcesses)) {
    errors.push('the signaling ports signalingPort..signalingPort + webrtcProcesses - 1 must not include port');
  }
  checkInt(errors, 'roomCapacity', cfg.roomCapacity, 1, 1024);
  checkInt(errors, 'maxRooms', cfg.maxRooms, 1, 10_000);
  checkInt(errors, 'maxSessions', cfg.maxSessions, 1, 100_000);
  checkInt(errors, 'roomEmptyGraceMs', cfg.roomEmptyGraceMs, 0, 86_400_000);
  checkInt(errors, 'maxCatchUpTicks', cfg.maxCatchUpTicks, 1, 120);
  checkInt(errors, 'wsMaxPayloadBytes', cfg.wsMaxPayloadBytes, 256, 1 << 20);
  checkInt(errors, 'wsMaxBackpressureBytes', cfg.wsMaxBackpressureBytes, 16 * 1024, 64 << 20);
  checkInt(errors, 'wsIdleTimeoutSec', cfg.wsIdleTimeoutSec, 8, 960);
  checkInt(errors, 'maxPendingPeers', cfg.maxPendingPeers, 1, 100_000);
  checkInt(errors, 'maxBadMessages', cfg.maxBadMessages, 1, 1_000_000);
  checkInt(errors, 'shutdownMs', cfg.shutdownMs, 100, 60_000);
  checkInt(errors, 'resumeGraceMs', cfg.resumeGraceMs, 0, 600_000);
  checkInt(errors, 'clientTimeoutMs', cfg.clientTimeoutMs, 1000, 600_000);
  checkInt(errors, 'maxMessagesPerSec', cfg.maxMessagesPerSec, 10, 100_000);
  checkInt(errors, 'lagCompMaxRewindMs', cfg.lagCompMaxRewindMs, 0, 5000);
  checkInt(errors, 'lagCompMaxInterpMs', cfg.lagCompMaxInterpMs, 0, 2000);
  checkInt(errors, 'lagCompToleranceMs', cfg.lagCompToleranceMs, 0, 2000);
  checkInt(errors, 'handshakeTimeoutMs', cfg.handshakeTimeoutMs, 500, 600_000);
  checkInt(errors, 'maxInputTickSkewMs', cfg.maxInputTickSkewMs, 100, 60_000);
  checkInt(errors, 'inboxBytes', cfg.inboxBytes, 64 * 1024, 256 << 20);
  checkInt(errors, 'maxUnackedMessages', cfg.maxUnackedMessages, 16, 1_000_000);
  checkInt(errors, 'maxUnackedBytes', cfg.maxUnackedBytes, 4096, 256 << 20);
  checkInt(errors, 'snapshotMaxSections', cfg.snapshotMaxSections, 1, 64);
  checkInt(errors, 'snapshotFullRetrySnapshots', cfg.snapshotFullRetrySnapshots, 1, 64);
  checkInt(errors, 'viewBudgetBytesPerSec', cfg.viewBudgetBytesPerSec, 0, 100_000_000);
  checkInt(errors, 'webrtcPendingTimeoutMs', cfg.webrtcPendingTimeoutMs, 1000, 120_000);
  checkInt(errors, 'maxHandshakes', cfg.maxHandshakes, 1, 100_000);
  checkInt(errors, 'maxHandshakesPerAddress', cfg.maxHandshakesPerAddress, 1, 100_000);
  checkInt(errors, 'maxSessionsPerAddress', cfg.maxSessionsPerAddress, 1, 100_000);
  checkInt(errors, 'maxPendingPeersPerAddress', cfg.maxPendingPeersPerAddress, 1, 100_000);
  checkInt(errors, 'roomCreatesPerAddressPerMin', cfg.roomCreatesPerAddressPerMin, 1, 100_000);
  checkInt(errors, 'roomCreatesPerSec', cfg.roomCreatesPerSec, 1, 100_000);
  checkInt(errors, 'roomUnusedGraceMs', cfg.roomUnusedGraceMs, 0, 86_400_000);
  checkInt(errors, 'chatPerSec', cfg.chatPerSec, 1, 10_000);
  checkInt(errors, 'eventsPerSec', cfg.eventsPerSec, 1, 100_000);
  checkInt(errors, 'maxReceiverBacklog', cfg.maxReceiverBacklog, 1, 1_000_000);
  if (cfg.clientRoomParams !== undefined && (typeof cfg.clientRoomParams !== 'object' || cfg.clientRoomParams === null || Object.values(cfg.clientRoomParams).some((v) => typeof v !== 'number' || !Number.isFinite(v)))) {
    errors.push('clientRoomParams must be an object of finite numbers');
  }
  if (typeof cfg.redisUrl !== 'string' || (cfg.redisUrl !== '' && !/^rediss?:\/\/[^\s]+$/.test(cfg.redisUrl))) errors.push(`redisUrl must be empty (no fleet) or redis://host:port[/db] (got ${JSON.stringify(cfg.redisUrl)})`);
  if (typeof cfg.publicUrl !== 'string' || (cfg.publicUrl !== '' && !/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(cfg.publicUrl))) errors.push(`publicUrl must be empty (derived) or an http(s):// URL (got ${JSON.stringify(cfg.publicUrl)})`);
  if (typeof cfg.memberId !== 'string' || !/^[A-Za-z0-9._-]{0,64}$/.test(cfg.memberId)) errors.push(`memberId must be at most 64 letters, digits, '.', '_' or '-' (got ${JSON.stringify(cfg.memberId)})`);
  if (typeof cfg.fleetPrefix !== 'string' || !/^[A-Za-z0-9:._-]{1,32}$/.test(cfg.fleetPrefix)) errors.push(`fleetPrefix must be 1..32 letters, digits, ':', '.', '_' or '-' (got ${JSON.stringify(cfg.fleetPrefix)})`);
  checkInt(errors, 'fleetLeaseMs', cfg.fleetLeaseMs, 600, 600_000);
  checkInt(errors, 'seatTtlMs', cfg.seatTtlMs, 1000, 600_000);
  checkInt(errors, 'matchmakePerSec', cfg.matchmakePerSec, 1, 1_000_000);
  checkInt(errors, 'drainMs', cfg.drainMs, 0, 86_400_000);
  checkInt(errors, 'maxSpectatorsPerRoom', cfg.maxSpectatorsPerRoom, 0, 100_000);
  checkInt(errors, 'spectatorStreamMaxBehindBytes', cfg.spectatorStreamMaxBehindBytes, 0, 1 << 30);
  checkInt(errors, 'spectatorViewRadius', cfg.spectatorViewRadius, 0, 1_000_000);
  checkInt(errors, 'spectatorMaxViewRadius', cfg.spectatorMaxViewRadius, 0, 1_000_000);
  checkInt(errors, 'cameraPerSec', cfg.cameraPerSec, 1, 1000);
  checkInt(errors, 'replayKeyframeSec', cfg.replayKeyframeSec, 1, 3600);
  checkInt(errors, 'replayMaxBytes', cfg.replayMaxBytes, 65_536, 2 ** 31);
  checkInt(errors, 'feedConnectionsPerRoom', cfg.feedConnectionsPerRoom, 0, 100_000);
  checkInt(errors, 'feedConnectionsPerAddress', cfg.feedConnectionsPerAddress, 1, 100_000);
  checkInt(errors, 'feedSummaryMs', cfg.feedSummaryMs, 50, 600_000);
  checkInt(errors, 'feedHeartbeatMs', cfg.feedHeartbeatMs, 100, 600_000);
  checkInt(errors, 'feedMaxBufferedBytes', cfg.feedMaxBufferedBytes, 1024, 16_777_216);
  checkInt(errors, 'agonesHealthMs', cfg.agonesHealthMs, 100, 60_000);
  if (typeof cfg.adminToken !== 'string' || (cfg.adminToken !== '' && !/^[\x21-\x7e]{16,1024}$/.test(cfg.adminToken))) errors.push('adminToken must be empty (off) or 16..1024 visible ASCII characters');
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(cfg.logLevel)) errors.push(`logLevel ${JSON.stringify(cfg.logLevel)} is not a pino level`);
  if (typeof cfg.gameParams !== 'object' || cfg.gameParams === null || Object.values(cfg.gameParams).some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    errors.push('gameParams must be an object of finite numbers');
  }
  if (!Array.isArray(cfg.allowedOrigins) || cfg.allowedOrigins.some((o) => typeof o !== 'string')) errors.push('allowedOrigins must be a list of origins');
  errors.push(...validateNetConfig(cfg.net).map((e) => `net.${e}`));
  return errors;
}
