// What the client netcode needs from its environment: a WebSocket, an optional datagram channel
// and a clock. The browser client (client/net.ts) and the Node bots (tools/node-client/io.ts)
// implement it; the link conditioner wraps it (conditioned-io.ts).

/** The subset of the browser WebSocket API the client uses (the `ws` package matches it too). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}

/** An open unreliable channel (a geckos.io datachannel). */
export interface DatagramLike {
  send(bytes: Uint8Array): void;
  close(): void;
}

/** Options of a datagram channel opener (ClientIO.openDatagram). */
export interface DatagramOpenOptions {
  /** Server base URL. */
  url: string;
  /** Signaling port the welcome named. */
  port: number;
  /** Session token binding the channel to the session. */
  token: string;
  /** Give up after this long, ms. */
  timeoutMs: number;
  onMessage(bytes: Uint8Array): void;
  onClose(): void;
}

/** Environment the connection runs in. */
export interface ClientIO {
  /** Opens a WebSocket to `url` (ws:// or wss://). */
  openWebSocket(url: string): WebSocketLike;
  /**
   * Opens the WebRTC channel (geckos.io) bound to the session token; rejects on failure or after
   * timeoutMs. Omit when WebRTC is not available: the WebSocket carries everything.
   */
  openDatagram?(o: DatagramOpenOptions): Promise<DatagramLike>;
  /** Monotonic time in ms. */
  nowMs(): number;
  /** Timer used for reconnects, heartbeats and WebRTC retries. Default: globalThis.setTimeout. */
  setTimeout?(fn: () => void, ms: number): unknown;
  /** Cancels a timer from setTimeout. Default: globalThis.clearTimeout. */
  clearTimeout?(handle: unknown): void;
}

