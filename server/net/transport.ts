// The one transport contract: what every socket layer (uWebSockets.js, geckos.io in or out of
// process, the in-process loopback) offers the server, and the events it reports. Callbacks only
// admit or enqueue; no game logic runs inside them.

/** Names a transport; also the `channel` label of the byte and message metrics. */
export type ChannelKind = 'ws' | 'webrtc' | 'loopback';

/** Every channel kind, in metric order. */
export const CHANNEL_KINDS: readonly ChannelKind[] = ['ws', 'webrtc', 'loopback'];

/** A peer asking to connect, as the transport saw it. */
export interface ConnectRequest {
  /** Remote address (IPv4/IPv6 text, or 'loopback'). */
  readonly remoteAddress: string;
  /**
   * Session token the peer presented. Datagram transports (WebRTC) bind a connection to an existing
   * session with it; reliable transports (the WebSocket) open new connections without one.
   */
  readonly token?: string;
}

/**
 * Events a transport reports to the server. Implementations call them from socket callbacks and
 * must never let them throw; the server's implementations only check admission or copy bytes into
 * the inbox (server/net/inbox.ts).
 */
export interface TransportEvents {
  /**
   * A peer wants to connect: returns the connection id the transport must use for it from now on,
   * or 0 to refuse (before any expensive state exists, such as a WebRTC peer connection). May be
   * asynchronous when the transport runs in another process and asks over IPC.
   */
  admit(req: ConnectRequest): number | Promise<number>;
  /** An admitted connection finished opening. */
  onOpen(connId: number): void;
  /** A binary message from `connId`; `bytes` is valid only during the call. */
  onMessage(connId: number, bytes: Uint8Array): void;
  /** The connection is gone (closed by either side, timed out, or never opened). Once per admitted connection. */
  onClose(connId: number): void;
}

/**
 * What a send did: `sent` (queued to the peer), `dropped` (refused for backpressure or size; the
 * connection stays open), `closed` (no such open connection).
 */
export type SendResult = 'sent' | 'dropped' | 'closed';

/** Memory figures of a process, bytes (process.memoryUsage()). */
export interface ProcessMemory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

/** A running transport. None of these methods throws. */
export interface Transport {
  /** Which kind of transport this is (metric label, channel choice). */
  readonly kind: ChannelKind;
  /**
   * True for an ordered, lossless stream that can carry control messages (WebSocket); false for
   * datagrams (inputs, snapshots and acks only).
   */
  readonly reliable: boolean;
  /** Sends one binary message to the connection. */
  send(connId: number, bytes: Uint8Array): SendResult;
  /** Closes the connection (a close code and reason where the transport has them). onClose follows. */
  close(connId: number, code?: number, reason?: string): void;
  /** Bytes queued for the connection and not yet written (0 when unknown or closed). */
  bufferedAmount(connId: number): number;
  /** Open connections. */
  connectionCount(): number;
  /** Stops accepting and closes every connection. */
  stop(): Promise<void>;
}

/** A datagram transport that peers reach through WebRTC signaling. */
export interface DatagramTransport extends Transport {
  /** Port of the signaling HTTP server the welcome names (0 when not signaled over HTTP). */
  readonly signalingPort: number;
  /** Memory of a separate process running the transport (last reported), if it runs in one. */
  processMemory?(): ProcessMemory | undefined;
  /** The signaling port a new session's welcome names, when the transport spreads sessions over several (0: none up). */
  signalingPortFor?(sessionId: number): number;
}

/** The signaling port a session's welcome names: its WebRTC process's (sessions spread over several), or 0 without WebRTC. */
export function signalingPortOf(rtc: DatagramTransport | undefined, sessionId?: number): number {
  if (!rtc) return 0;
  return rtc.signalingPortFor && sessionId !== undefined ? rtc.signalingPortFor(sessionId) : rtc.signalingPort;
}
