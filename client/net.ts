// Browser ClientIO: the native WebSocket and geckos.io's WebRTC datachannel (no ICE servers: the
// server's host candidates are enough on a LAN, on loopback, and for servers with a public address).
import geckos, { type ClientChannel } from '@geckos.io/client';
import type { ClientIO, DatagramLike, WebSocketLike } from '../netcode/connection.ts';

/** Creates the browser ClientIO; `webrtc: false` leaves out the datagram opener (WebSocket only). */
export function browserClientIO(o: { webrtc: boolean }): ClientIO {
  const io: ClientIO = {
    openWebSocket: (url) => new WebSocket(url) as unknown as WebSocketLike,
    nowMs: () => performance.now(),
  };
  if (o.webrtc) io.openDatagram = openGeckos;
  return io;
}

function toBytes(raw: unknown): Uint8Array | undefined {
  if (raw instanceof ArrayBuffer) return new Uint8Array(raw);
  if (ArrayBuffer.isView(raw)) return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  return undefined;
}

function closeQuietly(ch: ClientChannel): void {
  try {
    ch.close();
  } catch {
    // not connected yet: nothing to close
  }
}

/**
 * Connects a geckos.io channel bound to the session token; resolves once the datachannel is open,
 * rejects on a refusal or after `timeoutMs`. Messages are copied on send (geckos sends later).
 */
function openGeckos(o: { url: string; port: number; token: string; timeoutMs: number; onMessage(bytes: Uint8Array): void; onClose(): void }): Promise<DatagramLike> {
  return new Promise<DatagramLike>((resolve, reject) => {
    let settled = false;
    let closed = false;
    const ch = geckos({ url: o.url, port: o.port, authorization: o.token, iceServers: [] });
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      closeQuietly(ch);
      reject(new Error(`WebRTC connect timed out after ${o.timeoutMs} ms`));
    }, o.timeoutMs);
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      closeQuietly(ch);
      reject(err instanceof Error ? err : new Error(String((err as { message?: unknown })?.message ?? err)));
    };
    ch.onConnect((error) => {
      if (error) return fail(error);
      if (settled) return closeQuietly(ch);
      settled = true;
      clearTimeout(timer);
      ch.onRaw((raw) => {
        const bytes = toBytes(raw);
        if (bytes && !closed) o.onMessage(bytes);
      });
      ch.onDisconnect(() => {
        if (closed) return;
        closed = true;
        o.onClose();
      });
      resolve({
        send: (bytes) => {
          if (closed) return;
          try {
            ch.raw.emit(bytes.slice());
          } catch {
            // closed underneath us
          }
        },
        close: () => {
          if (closed) return;
          closed = true;
          closeQuietly(ch);
        },
      });
    }).catch(fail);
  });
}
