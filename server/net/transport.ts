// Transport contracts: what a socket layer (uWebSockets.js, geckos.io) must offer the server core.
// Callbacks only copy bytes into the server's queue; no game logic runs inside them.

/** Which channel carries a session's unreliable traffic. */
export type ChannelKind = 'ws' | 'webrtc';

/** Events a transport reports to the server core. Implementations must never let these throw. */
export interface PeerEvents {
  /**
   * Maps a session token presented by a connecting peer to a session id.
   * Returns (or resolves to) 0 when the token is unknown or already bound, which refuses the peer
   * before any expensive state (a WebRTC peer connection) is created. It is asynchronous when the
   * transport runs in another process and asks the server over IPC.
   */
  authorize(token: string): number | Promise<number>;
  /** A peer authorized as `sessionId` finished connecting. */
  onOpen(sessionId: number): void;
  /** A binary message from the peer of `sessionId`. `bytes` is valid only during the call. */
  onMessage(sessionId: number, bytes: Uint8Array): void;
  /** The peer of `sessionId` is gone (closed, timed out or refused). Called once per open. */
  onClose(sessionId: number): void;
}

/** Memory figures of a process, bytes (process.memoryUsage()). */
export interface ProcessMemory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

/** The unreliable datagram side (WebRTC datachannels through geckos.io). */
export interface DatagramTransport {
  /** Port of the signaling HTTP server. */
  readonly signalingPort: number;
  /** Sends bytes to the session's peer. Returns false when it has no open peer. Never throws. */
  send(sessionId: number, bytes: Uint8Array): boolean;
  /** Closes the session's peer if any. Never throws. */
  close(sessionId: number): void;
  /** Number of open peers. */
  peerCount(): number;
  /** Memory of a separate process running the transport (bytes, last reported), if it runs in one. */
  processMemory?(): ProcessMemory | undefined;
  /** Stops accepting and closes every peer. */
  stop(): Promise<void>;
}
