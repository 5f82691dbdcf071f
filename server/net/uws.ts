// The reliable transport and HTTP: uWebSockets.js serving the WebSocket at /ws (the Transport
// contract, kind 'ws'), the bundled client, /healthz, /metrics, /rooms and /config. Socket
// callbacks only ask for admission or hand bytes to the transport events.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import uWS from 'uWebSockets.js';
import type { SendResult, Transport, TransportEvents } from './transport.ts';

/** Refuses to run on uWebSockets.js' pure-JS fallback, which silently replaces a missing native addon. */
export function assertNativeUws(): void {
  const native = typeof uWS.App === 'function' && Function.prototype.toString.call(uWS.App).includes('[native code]');
  if (!native) {
    throw new Error(
      'uWebSockets.js native addon did not load (pure-JS fallback active). Tickwire needs the native build: ' +
        `Node ${process.versions.node} (ABI ${process.versions.modules}) on ${process.platform}-${process.arch} with glibc >= 2.27; ` +
        'use Node 20 and reinstall with `npm install`, and unset UWS_USE_FALLBACK.',
    );
  }
}

/** Options of the HTTP/WebSocket server. */
export interface HttpServerOptions {
  /** Bind address. */
  host: string;
  /** Port (0 = ephemeral; the bound port is returned). */
  port: number;
  /** Largest WebSocket message in bytes; bigger closes the connection. */
  maxPayloadBytes: number;
  /** Bytes buffered for a slow reader before the connection is closed. */
  maxBackpressureBytes: number;
  /** Seconds without traffic before uWS closes the socket (it pings in between). */
  idleTimeoutSec: number;
  /** Allowed Origin header values; empty allows any. */
  allowedOrigins: readonly string[];
  /** Directory with the bundled client (index.html and assets). */
  clientDir: string;
}

/** What the HTTP routes answer. None of these may throw. */
export interface HttpRoutes {
  /** GET /healthz body; answered with 503 unless `status` is 'ok'. */
  health(): { status: string } & Record<string, unknown>;
  /** GET /rooms body. */
  rooms(): object;
  /** GET /config body. */
  config(): object;
  /** GET /metrics body (Prometheus text). */
  metrics(): Promise<string>;
}

/** The running HTTP server and its WebSocket transport. */
export interface UwsServer extends Transport {
  /** The bound HTTP/WebSocket port. */
  readonly port: number;
  /** Stops listening (open sockets stay until closed). */
  stopListening(): void;
}

interface SocketData {
  connId: number;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.map': 'application/json', '.json': 'application/json', '.png': 'image/png', '.svg': 'image/svg+xml', '.ico': 'image/x-icon',
};

function loadStatic(dir: string): Map<string, { body: Buffer; type: string }> {
  const files = new Map<string, { body: Buffer; type: string }>();
  if (!existsSync(dir)) return files;
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else files.set('/' + relative(dir, p).split('\\').join('/'), { body: readFileSync(p), type: CONTENT_TYPES[extname(p)] ?? 'application/octet-stream' });
    }
  };
  walk(dir);
  return files;
}

const MISSING_CLIENT = '<!doctype html><title>Tickwire</title><p>The browser client is not built. Run <code>npm run build:client</code> and restart.</p>';

const EMPTY = new Uint8Array(0);

/**
 * Starts the HTTP + WebSocket server. A WebSocket upgrade is admitted through `events.admit`
 * (synchronously or not; a client that aborts while it waits is dropped); a text frame reaches
 * `events.onMessage` as an empty message, which the server counts as malformed.
 */
export function startHttpServer(o: HttpServerOptions, events: TransportEvents, routes: HttpRoutes): Promise<UwsServer> {
  assertNativeUws();
  const app = uWS.App();
  const sockets = new Map<number, uWS.WebSocket<SocketData>>();
  const files = loadStatic(o.clientDir);
  const text = (ab: ArrayBuffer): string => Buffer.from(ab).toString();

  const json = (res: uWS.HttpResponse, body: object): void => {
    res.cork(() => {
      res.writeHeader('content-type', 'application/json').writeHeader('cache-control', 'no-store').end(JSON.stringify(body));
    });
  };

  // 503 until the server runs (and while it stops), so load balancers and scripts wait for it.
  app.get('/healthz', (res) => {
    const body = routes.health();
    if (body.status === 'ok') json(res, body);
    else res.cork(() => res.writeStatus('503 Service Unavailable').writeHeader('content-type', 'application/json').end(JSON.stringify(body)));
  });
  app.get('/rooms', (res) => json(res, routes.rooms()));
  app.get('/config', (res) => json(res, routes.config()));
  app.get('/metrics', (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    routes.metrics().then(
      (body) => {
        if (!aborted) res.cork(() => res.writeHeader('content-type', 'text/plain; version=0.0.4').end(body));
      },
      () => {
        if (!aborted) res.cork(() => res.writeStatus('500 Internal Server Error').end('metrics unavailable'));
      },
    );
  });
  app.get('/*', (res, req) => {
    let url = req.getUrl();
    if (url === '/') url = '/index.html';
    const file = files.get(url);
    if (file) {
      res.cork(() => res.writeHeader('content-type', file.type).writeHeader('cache-control', url === '/index.html' ? 'no-cache' : 'max-age=60').end(file.body));
    } else if (url === '/index.html') {
      res.cork(() => res.writeHeader('content-type', 'text/html; charset=utf-8').end(MISSING_CLIENT));
    } else {
      res.cork(() => res.writeStatus('404 Not Found').end('not found'));
    }
  });
  app.any('/*', (res) => {
    res.cork(() => res.writeStatus('405 Method Not Allowed').end());
  });

  const refuse = (res: uWS.HttpResponse): void => {
    res.writeStatus('503 Service Unavailable').end('server full');
  };

  app.ws<SocketData>('/ws', {
    compression: uWS.DISABLED,
    maxPayloadLength: o.maxPayloadBytes,
    maxBackpressure: o.maxBackpressureBytes,
    closeOnBackpressureLimit: 1,
    idleTimeout: o.idleTimeoutSec,
    sendPingsAutomatically: true,
    upgrade: (res, req, context) => {
      const origin = req.getHeader('origin');
      if (o.allowedOrigins.length > 0 && !o.allowedOrigins.includes(origin)) {
        res.writeStatus('403 Forbidden').end('origin not allowed');
        return;
      }
      const key = req.getHeader('sec-websocket-key');
      const protocol = req.getHeader('sec-websocket-protocol');
      const extensions = req.getHeader('sec-websocket-extensions');
      const admitted = events.admit({ remoteAddress: text(res.getRemoteAddressAsText()) });
      if (typeof admitted === 'number') {
        if (admitted === 0) refuse(res);
        else res.upgrade<SocketData>({ connId: admitted }, key, protocol, extensions, context);
        return;
      }
      let aborted = false;
      res.onAborted(() => {
        aborted = true;
      });
      admitted.then(
        (connId) => {
          if (aborted) {
            if (connId !== 0) events.onClose(connId);
            return;
          }
          res.cork(() => {
            if (connId === 0) refuse(res);
            else res.upgrade<SocketData>({ connId }, key, protocol, extensions, context);
          });
        },
        () => {
          if (!aborted) res.cork(() => refuse(res));
        },
      );
    },
    open: (ws) => {
      const { connId } = ws.getUserData();
      sockets.set(connId, ws);
      events.onOpen(connId);
    },
    message: (ws, message, isBinary) => {
      const { connId } = ws.getUserData();
      events.onMessage(connId, isBinary ? new Uint8Array(message) : EMPTY);
    },
    close: (ws) => {
      const { connId } = ws.getUserData();
      sockets.delete(connId);
      events.onClose(connId);
    },
  });

  return new Promise((resolve, reject) => {
    app.listen(o.host, o.port, (listenSocket) => {
      if (!listenSocket) {
        reject(new Error(`could not listen on ${o.host}:${o.port} (in use or not permitted)`));
        return;
      }
      const port = uWS.us_socket_local_port(listenSocket as unknown as uWS.us_socket);
      let listening = true;
      const stopListening = (): void => {
        if (listening) {
          listening = false;
          uWS.us_listen_socket_close(listenSocket);
        }
      };
      resolve({
        kind: 'ws',
        reliable: true,
        port,
        send(connId, bytes): SendResult {
          const ws = sockets.get(connId);
          if (!ws) return 'closed';
          try {
            return ws.send(bytes, true, false) === 2 ? 'dropped' : 'sent';
          } catch {
            return 'closed';
          }
        },
        bufferedAmount(connId) {
          const ws = sockets.get(connId);
          try {
            return ws ? ws.getBufferedAmount() : 0;
          } catch {
            return 0;
          }
        },
        close(connId, code = 1000, reason = '') {
          const ws = sockets.get(connId);
          if (!ws) return;
          try {
            ws.end(code, reason);
          } catch {
            // already closed
          }
        },
        connectionCount: () => sockets.size,
        stopListening,
        async stop() {
          stopListening();
          for (const ws of [...sockets.values()]) {
            try {
              ws.end(1001, 'server stopping');
            } catch {
              // already closed
            }
          }
        },
      });
    });
  });
}
