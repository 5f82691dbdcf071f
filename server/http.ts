// What the HTTP routes answer (/healthz, /rooms, /config, /metrics, /replays, the rooms' read-only feeds),
// from the server's state; the uWebSockets.js layer (net/uws.ts) serves them, and in-process tests
// call them directly.
import { PROTOCOL_VERSION } from '../shared/config.ts';
import type { HttpRoutes } from './net/uws.ts';
import { renderMetrics, type ServerStats } from './metrics.ts';
import type { RoomManager } from './rooms.ts';
import type { SessionTable } from './sessions.ts';
import type { ServerConfig } from './config.ts';
import type { Registry } from 'prom-client';
import type { FleetHost } from './fleet/host.ts';
import { replayRoutes } from './replay-routes.ts';
import { RoomFeeds } from './feed.ts';

/** What the routes read. */
export interface RouteSources {
  readonly config: ServerConfig;
  readonly gameName: string;
  readonly hash: number;
  readonly stats: ServerStats;
  readonly registry: Registry;
  readonly rooms: RoomManager;
  readonly sessions: SessionTable;
  /** 'ok' while running, else the server state. */
  status(): string;
  uptimeSec(): number;
  /** The datagram channel's signaling port, 0 when there is none. */
  datagramPort(): number;
  /** The fleet: GET /rooms lists every room of it; POST /matchmake, GET /fleet, POST /admin/drain. */
  readonly fleet: FleetHost;
}

/** The route handlers of one server. */
export function httpRoutes(src: RouteSources): HttpRoutes {
  return {
    health: () => ({
      status: src.status(), uptimeSec: src.uptimeSec(), rooms: src.rooms.size, sessions: src.sessions.size, webrtc: src.datagramPort() !== 0,
      member: src.fleet.memberId, fleet: src.fleet.fleet.mode, fleetState: src.fleet.fleet.state(),
    }),
    rooms: () => src.fleet.listing(),
    table: [...src.fleet.routes(), ...replayRoutes(src.config, src.rooms)],
    config: () => publicConfig(src),
    metrics: () => renderMetrics(src.registry, src.stats),
    streams: new RoomFeeds(src).routes(),
  };
}

/** Public settings a client or bot may read before connecting (GET /config). */
export function publicConfig(src: RouteSources): object {
  const n = src.config.net;
  const port = src.datagramPort();
  return { game: src.gameName, protocolVersion: PROTOCOL_VERSION, configHash: src.hash, tickRateHz: n.tickRateHz, snapshotRateHz: n.snapshotRateHz, signalingPort: port, webrtc: port !== 0 };
}
