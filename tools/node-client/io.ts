// ClientIO for Node (bots, tests, benchmarks): WebSocket from the `ws` package and geckos.io over
// node-datachannel's WebRTC polyfill.
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import type { ClientIO, DatagramLike, WebSocketLike } from '../../netcode/connection.ts';

/** Creates the Node ClientIO; `webrtc: false` leaves out the datagram opener (WebSocket only). */
export function nodeClientIO(o: { webrtc: boolean }): ClientIO {
  const io: ClientIO = {
    openWebSocket: (url) => new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 20 }) as unknown as WebSocketLike,
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
