// The reliable channel and HTTP: uWebSockets.js serving the WebSocket at /ws, the bundled client,
// /healthz, /metrics, /rooms and /config. Callbacks only hand bytes to the server's inbox.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import uWS from 'uWebSockets.js';

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

/** What the HTTP layer asks of the server. None of these may throw. */
export interface HttpHandlers {
  /** A WebSocket wants to open: returns a new session id, or 0 to refuse (server full or closing). */
  acceptSocket(remoteAddress: string): number;
  onSocketOpen(sessionId: number): void;
  onSocketMessage(sessionId: number, bytes: Uint8Array): void;
  onSocketClose(sessionId: number): void;
  /** Counts a refused message (text frame, etc.). */
  onBadFrame(sessionId: number): void;
  health(): object;
  rooms(): object;
  config(): object;
  metrics(): Promise<string>;
}

/** The running HTTP/WebSocket server. */
export interface HttpServer {
  readonly port: number;
  /** Sends a binary WebSocket message; false when closed or dropped by backpressure. Never throws. */
  send(sessionId: number, bytes: Uint8Array): boolean;
  /** Bytes waiting to be written to the session's socket (0 when unknown). */
  bufferedAmount(sessionId: number): number;
  /** Closes the session's socket with a WebSocket close code. */
  close(sessionId: number, code: number, reason: string): void;
  /** Number of open sockets. */
  openSockets(): number;
  /** Stops listening (open sockets stay until closed). */
  stopListening(): void;
}

interface SocketData {
  sessionId: number;
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

/** Starts the HTTP + WebSocket server. */
export function startHttpServer(o: HttpServerOptions, h: HttpHandlers): Promise<HttpServer> {
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
    const body = h.health() as { status?: string };
    if (body.status === 'ok') json(res, body);
    else res.cork(() => res.writeStatus('503 Service Unavailable').writeHeader('content-type', 'application/json').end(JSON.stringify(body)));
  });
  app.get('/rooms', (res) => json(res, h.rooms()));
  app.get('/config', (res) => json(res, h.config()));
  app.get('/metrics', (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    h.metrics().then(
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
      const sessionId = h.acceptSocket(text(res.getRemoteAddressAsText()));
      if (sessionId === 0) {
        res.writeStatus('503 Service Unavailable').end('server full');
        return;
      }
      res.upgrade<SocketData>(
        { sessionId },
        req.getHeader('sec-websocket-key'),
        req.getHeader('sec-websocket-protocol'),
        req.getHeader('sec-websocket-extensions'),
        context,
      );
    },
    open: (ws) => {
      const { sessionId } = ws.getUserData();
      sockets.set(sessionId, ws);
      h.onSocketOpen(sessionId);
    },
    message: (ws, message, isBinary) => {
      const { sessionId } = ws.getUserData();
      if (!isBinary) {
        h.onBadFrame(sessionId);
        return;
      }
      h.onSocketMessage(sessionId, new Uint8Array(message));
    },
    close: (ws) => {
      const { sessionId } = ws.getUserData();
      sockets.delete(sessionId);
      h.onSocketClose(sessionId);
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
      resolve({
        port,
        send(sessionId, bytes) {
          const ws = sockets.get(sessionId);
          if (!ws) return false;
          try {
            return ws.send(bytes, true, false) !== 2;
          } catch {
            return false;
          }
        },
        bufferedAmount(sessionId) {
          const ws = sockets.get(sessionId);
          try {
            return ws ? ws.getBufferedAmount() : 0;
          } catch {
            return 0;
          }
        },
        close(sessionId, code, reason) {
          const ws = sockets.get(sessionId);
          if (!ws) return;
          try {
            ws.end(code, reason);
          } catch {
            // already closed
          }
        },
        openSockets: () => sockets.size,
        stopListening() {
          if (listening) {
            listening = false;
            uWS.us_listen_socket_close(listenSocket);
          }
        },
      });
    });
  });
}
