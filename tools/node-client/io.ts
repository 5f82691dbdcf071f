// ClientIO for Node (bots, tests, benchmarks): WebSocket from the `ws` package and geckos.io over
// node-datachannel's WebRTC polyfill.
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import type { ClientIO, DatagramLike, WebSocketLike } from '../../netcode/connection.ts';

/**
 * Creates the Node ClientIO; `webrtc: false` leaves out the datagram opener (WebSocket only).
 * `origin` is sent as the WebSocket's Origin header (a server with allowedOrigins checks it);
 * `localAddress` binds the client's sockets to that source address (e.g. 127.0.0.2).
 */
export function nodeClientIO(o: { webrtc: boolean; origin?: string; localAddress?: string }): ClientIO {
  const wsOptions = { perMessageDeflate: false, maxPayload: 1 << 20, ...(o.origin ? { origin: o.origin } : {}), ...(o.localAddress ? { localAddress: o.localAddress } : {}) };
  const io: ClientIO = {
    openWebSocket: (url) => new WebSocket(url, wsOptions) as unknown as WebSocketLike,
    nowMs: () => performance.now(),
  };
  if (o.webrtc) {
    io.openDatagram = async ({ url, port, token, timeoutMs, onMessage, onClose }): Promise<DatagramLike> => {
      const { loadGeckosClient, connectGeckos } = await import('./rtc.ts');
      const geckos = await loadGeckosClient();
      const ch = await connectGeckos(geckos, { url, port, token, timeoutMs });
      ch.onMessage(onMessage);
      ch.onClose(onClose);
      return { send: (b) => ch.send(b), close: () => ch.close() };
    };
  }
  return io;
}
