// What a server is built with besides its config: the game, hooks, clock, logger, encoder and
// transports (the defaults, or injected ones such as the loopback), ticking, and a test conditioner.
import type { Logger } from 'pino';
import type { LinkSettings } from '../shared/net/link-conditioner.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import type { ServerHooks } from './hooks.ts';
import type { Clock } from './loop.ts';
import type { DatagramTransport, Transport, TransportEvents } from './net/transport.ts';
import type { EncoderFactory } from './rooms.ts';

/** Starts a transport that reports to `events`. */
export type TransportStarter<T extends Transport = Transport> = (events: TransportEvents) => Promise<T>;

/** An in-process transport that is handed its events (the loopback). */
export type AttachableTransport = Transport & { attach(events: TransportEvents): unknown };

/** Options besides the config. */
export interface ServerOptions {
  game: AnyGame;
  hooks?: ServerHooks;
  clock?: Clock;
  logger?: Logger;
  /** Snapshot encoder per room; default delta snapshots with the config's encoder settings. */
  encoderFactory?: EncoderFactory;
  /** The reliable transport; default uWebSockets.js with the HTTP routes (net/uws.ts). */
  reliableTransport?: TransportStarter;
  /** The datagram transport when config.webrtc is on; default geckos.io in a supervised process (or in this one). */
  datagramTransport?: TransportStarter<DatagramTransport>;
  /** When false the loop is not scheduled (tests call `frame()` or `tickOnce()` by hand). Default true. */
  autoTick?: boolean;
  /**
   * Seeded link conditioner on the server's end of every connection (soak tests): inputs and
   * snapshot acks in, and snapshots out, on either channel (net/conditioned.ts). `settings` is read
   * live, so a run may change or heal the link. Default: none.
   */
  conditioner?: { settings: LinkSettings; seed: number };
}

/** Server life cycle. */
export type ServerState = 'starting' | 'running' | 'stopping' | 'stopped';
