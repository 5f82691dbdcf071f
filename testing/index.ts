// Test kit for games (`tickwire/testing`): the real server for one game in this process over the loopback transport (no sockets), with ClientNetcode clients sending inputs on real timers.
import { ClientNetcode } from '../netcode/netcode.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import { loadServerConfig, type ServerConfig } from '../server/config.ts';
import { LoopbackTransport, loopbackClientIO } from '../server/net/loopback.ts';
import { TickwireServer, type ServerHooks } from '../server/server.ts';

/** One client of a test server. */
export interface TestClient {
  /** The client netcode (connection, prediction, interpolation, stats). */
  readonly netcode: ClientNetcode;
  /** The input sent every frame (a frame runs at frameHz); change it to steer. Missing fields are 0. */
  input: Record<string, number>;
  /** True once the server welcomed the client and its own entity exists. */
  readonly joined: boolean;
  /** Snapshots decoded so far. */
  readonly snapshots: number;
  /** The own entity's position in the newest snapshot (the server's, as this client decoded it), or undefined. */
  position(): { x: number; y: number } | undefined;
  /** Leaves and stops sending frames. */
  close(): void;
}

/** A running test server. */
export interface TestServer {
  /** The server (rooms, sessions, stats, metricsText()). */
  readonly server: TickwireServer;
  /** Connects a client named `name` (to room `room`, or by matchmaking); it starts sending frames at once. */
  join(name?: string, room?: string): TestClient;
  /** Resolves when `cond()` holds, polling every 10 ms; rejects naming `what` after `timeoutMs`. */
  waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void>;
  /** Closes every client and stops the server. */
  stop(): Promise<void>;
}

/** Settings of a test server. */
export interface TestServerOptions {
  /** Config options over the test defaults (WebRTC off, silent log, no resume; the environment is not read). */
  config?: Partial<ServerConfig>;
  /** Server hooks (authenticate, onEvent). */
  hooks?: ServerHooks;
  /** Client frames per second. Default 60. */
  frameHz?: number;
}

/** Starts the real server for `game` in this process on a loopback transport, ticking on real time. */
export function startTestServer(game: AnyGame, o: TestServerOptions = {}): TestServer {
  const config = loadServerConfig({}, { webrtc: false, logLevel: 'silent', resumeGraceMs: 0, game: game.name, ...o.config });
  const server = new TickwireServer(config, { game, ...(o.hooks ? { hooks: o.hooks } : {}) });
  const transport = new LoopbackTransport({ reliable: true });
  server.startInProcess(transport);
  const frameMs = 1000 / (o.frameHz ?? 60);
  const clients: TestClient[] = [];
  let count = 0;
  const join = (name = `player${++count}`, room?: string): TestClient => {
    const netcode = new ClientNetcode(game, loopbackClientIO(transport), { url: 'http://loopback', name, transport: 'ws', ...(room !== undefined ? { room } : {}) });
    let timer: NodeJS.Timeout | undefined;
    const client: TestClient = {
      netcode,
      input: {},
      get joined() {
        return netcode.connection.state === 'active' && netcode.eid >= 0;
      },
      get snapshots() {
        return netcode.stats.snapshots;
      },
      position() {
        const p = { x: 0, y: 0 };
        return netcode.serverPosition(p) ? p : undefined;
      },
      close() {
        if (timer) clearInterval(timer);
        timer = undefined;
        netcode.close('test client closed');
      },
    };
    netcode.connect();
    timer = setInterval(() => netcode.frame(performance.now(), client.input), frameMs);
    clients.push(client);
    return client;
  };
  const waitFor = async (cond: () => boolean, timeoutMs: number, what: string): Promise<void> => {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const stop = async (): Promise<void> => {
    for (const c of clients) c.close();
    await server.stop('test over');
  };
  return { server, join, waitFor, stop };
}
