// A WebSocket client written by hand on a TCP socket, for clients no library would make: one that
// joins and then never reads again (slow-reader benchmark, hardening test).
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { arena } from '../../games/arena.ts';
import { configHash, PROTOCOL_VERSION } from '../../shared/config.ts';
import { encodeControl } from '../../shared/protocol/control.ts';

/** A masked binary WebSocket frame (client to server) carrying `body` (under 64 KiB). */
export function maskedBinaryFrame(body: Uint8Array): Buffer {
  const head = body.length < 126 ? Buffer.from([0x82, 0x80 | body.length]) : Buffer.from([0x82, 0x80 | 126, body.length >> 8, body.length & 255]);
  const mask = randomBytes(4);
  return Buffer.concat([head, mask, Buffer.from(body.map((b, i) => b ^ mask[i % 4]))]);
}

/**
 * Opens a WebSocket to the server's `/ws` on 127.0.0.1, sends an arena-v1 hello and pauses the
 * socket: from then on nothing is read, so the kernel's receive buffer fills and then the server's
 * send buffer. A paused socket does not see the server's close either. Resolves once the hello is
 * written; the caller destroys the socket.
 */
export async function joinWithoutReading(port: number, name: string): Promise<Socket> {
  const sock = connect(port, '127.0.0.1');
  sock.on('error', () => {});
  await new Promise((r) => sock.once('connect', r));
  const key = randomBytes(16).toString('base64');
  sock.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await new Promise((r) => sock.once('data', r));
  sock.write(maskedBinaryFrame(encodeControl({ t: 'hello', v: PROTOCOL_VERSION, hash: configHash(arena), name })));
  sock.pause();
  return sock;
}
