// Test helpers: start a real in-process server on ephemeral ports, connect Node clients, and wait
// on conditions with bounded polling.
import { arena } from '../../games/arena.ts';
import { nodeClientIO } from '../../tools/node-client/io.ts';
import { loadServerConfig, type ServerConfig } from '../../server/config.ts';
import { TickwireServer, type ServerOptions } from '../../server/server.ts';
import { Connection, type ConnectionEvents, type ConnectionOptions } from '../../netcode/connection.ts';

/** Starts a server on 127.0.0.1 with ephemeral ports. */
export async function startTestServer(overrides: Partial<ServerConfig> = {}, opts: Partial<ServerOptions> = {}): Promise<TickwireServer> {
  const cfg = loadServerConfig({}, { port: 0, signalingPort: 0, webrtc: false, logLevel: 'silent', gameParams: { npcs: 20 }, ...overrides });
  const srv = new TickwireServer(cfg, { game: arena, ...opts });
  await srv.start();
  return srv;
}

/** Base URL of a started server. */
export const urlOf = (srv: TickwireServer): string => `http://127.0.0.1:${srv.http!.port}`;

/** Polls `cond` every 10 ms until true or `timeoutMs` passes (then throws with `what`). */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Connects a Node client and waits for its welcome. */
export async function connectClient(srv: TickwireServer, o: Partial<ConnectionOptions> = {}, events: ConnectionEvents = {}, timeoutMs = 5000): Promise<Connection> {
  const webrtc = o.transport !== 'ws';
  const c = new Connection(arena, nodeClientIO({ webrtc }), { url: urlOf(srv), name: 'test', transport: 'ws', ...o }, events);
  c.connect();
  await waitFor(() => c.state === 'active' || c.state === 'closed', timeoutMs, 'welcome');
  return c;
}
