// Test helpers: start a real in-process server on ephemeral ports, connect Node clients, scrape its
// metrics, and wait on conditions with bounded polling.
import { arena } from '../../games/arena.ts';
import { nodeClientIO } from '../../tools/node-client/io.ts';
import { loadServerConfig, type ServerConfig } from '../../server/config.ts';
import { TickwireServer, type ServerOptions } from '../../server/server.ts';
import WebSocket from 'ws';
import { Connection, type ClientIO, type ConnectionEvents, type ConnectionOptions, type WebSocketLike } from '../../netcode/connection.ts';
import { parsePromText, type PromSample } from '../../tools/measure/prom.ts';

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

/** One scrape of GET /metrics: the text, its samples, and its families (name to type, from `# TYPE` lines). */
export interface MetricsScrape {
  text: string;
  samples: PromSample[];
  families: Map<string, string>;
}

/** Metric families of a Prometheus text exposition (its `# TYPE` lines): name to type. */
export function metricFamilies(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1], m[2]);
  return out;
}

/** Fetches GET /metrics of a started server over HTTP and parses it. */
export async function scrapeMetrics(srv: TickwireServer): Promise<MetricsScrape> {
  const res = await fetch(`${urlOf(srv)}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
  const text = await res.text();
  return { text, samples: parsePromText(text), families: metricFamilies(text) };
}

/** Node client I/O with a switch that cuts the link: open sockets die and new ones fail while down. */
export function cuttableIO(): { io: ClientIO; cut(): void; heal(): void } {
  const base = nodeClientIO({ webrtc: false });
  let down = false;
  const live: WebSocket[] = [];
  return {
    io: {
      ...base,
      openWebSocket(url) {
        const ws = new WebSocket(down ? 'ws://127.0.0.1:1/ws' : url, { perMessageDeflate: false });
        live.push(ws);
        return ws as unknown as WebSocketLike;
      },
    },
    cut() {
      down = true;
      for (const ws of live.splice(0)) ws.terminate();
    },
    heal() {
      down = false;
    },
  };
}
