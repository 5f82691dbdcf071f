// The reliable transport and HTTP: uWebSockets.js serving the WebSocket at /ws (the Transport
// contract, kind 'ws'), the bundled client, /healthz, /metrics, /rooms and /config, and a table of
// further GET and POST routes (JSON bodies read with a size cap, admin routes behind a bearer
// token). Socket callbacks only ask for admission or hand bytes to the transport events.
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

/** A request to a table route, read before anything asynchronous (uWS requests live only during the callback). */
export interface RouteRequest {
  /** The parsed JSON body of a POST (undefined when empty, and for GET). Hostile: check every field. */
  readonly body: unknown;
  /** The raw query string, without `?` ('' when none). */
  readonly query: string;
  /** The peer's address as uWS saw it. */
  readonly remoteAddress: string;
  /** The request's path, without the query (routes with a parameter read it from here). */
  readonly url?: string;
}

/** What a table route answers: a JSON value, or a body with its content type; plus extra headers. */
export type RouteReply =
  | { readonly status: number; readonly json: unknown; readonly headers?: Readonly<Record<string, string>> }
  | { readonly status: number; readonly body: string | Uint8Array; readonly contentType: string; readonly headers?: Readonly<Record<string, string>> };

/**
 * One table route. `auth: 'admin'` needs `Authorization: Bearer <admin token>` (401 otherwise,
 * before any body is read); `auth: 'admin-page'` is a page a browser opens (it cannot send the
 * header; the page asks for the token and sends it on its own requests). Both answer 404 while the
 * server has no admin token. Without `auth` a route is public.
 */
export interface HttpRoute {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly auth?: 'admin' | 'admin-page';
  /** POST: the largest body read, bytes (413 beyond). Default MAX_ROUTE_BODY_BYTES. */
  readonly maxBodyBytes?: number;
  /** Answers the request; a throw or a rejection answers 500. */
  handler(req: RouteRequest): RouteReply | Promise<RouteReply>;
}

/** A request to a stream route: its path parameters (`:name` segments, in order), query and peer. */
export interface StreamRequest {
  readonly params: readonly string[];
  readonly query: string;
  readonly remoteAddress: string;
}

/** An open streamed response (headers sent, body chunked) a stream route writes to. */
export interface StreamResponse {
  /** Writes `text`; false when the response has ended or the peer has gone. */
  write(text: string): boolean;
  /**
   * Bytes written since the socket last refused to take everything and not yet known to have
   * drained (uWS holds them in memory): a reader that does not read makes this grow.
   */
  buffered(): number;
  /** Ends the response (the peer sees the end of the stream). */
  end(): void;
  /** Drops the connection at once (a reader too slow to keep). */
  close(): void;
}

/** What a stream route's `open` answers to take a request: `start` gets the response; it returns what to call when the peer goes away. */
export interface StreamStart {
  readonly contentType: string;
  start(res: StreamResponse): () => void;
}

/** A GET route that answers with a stream (Server-Sent Events); `path` is a uWS pattern such as `/rooms/:name/feed`. */
export interface StreamRoute {
  readonly path: string;
  /** A reply refuses (404, 429, 503 ...); a StreamStart takes the request. Must not throw. */
  open(req: StreamRequest): RouteReply | StreamStart;
}

/** The admin gate of routes with `auth`. */
export interface AdminGate {
  /** False: every route with `auth` answers 404 (no admin token set). */
  readonly enabled: boolean;
  /** True when the Authorization header carries the admin token (compared in constant time). */
  authorize(authorization: string): boolean;
}

/** Default cap of a table route's POST body, bytes. */
export const MAX_ROUTE_BODY_BYTES = 16 * 1024;

/** What the HTTP routes answer. None of these may throw. */
export interface HttpRoutes {
  /** GET /healthz body; answered with 503 unless `status` is 'ok'. */
  health(): { status: string } & Record<string, unknown>;
  /** GET /rooms body (the fleet-wide listing: asynchronous on a fleet on Redis). */
  rooms(): object | Promise<object>;
  /** GET /config body. */
  config(): object;
  /** GET /metrics body (Prometheus text). */
  metrics(): Promise<string>;
  /** Further GET and POST routes (the admin API, the monitor page). */
  readonly table?: readonly HttpRoute[];
  /** Gate of the table routes with `auth`; absent: they answer 404. */
  readonly admin?: AdminGate;
  /** GET routes answered with a stream (the read-only room feed). */
  readonly streams?: readonly StreamRoute[];
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

const STATUS_LINES: Record<number, string> = {
  200: '200 OK', 202: '202 Accepted', 400: '400 Bad Request', 401: '401 Unauthorized', 403: '403 Forbidden', 404: '404 Not Found',
  405: '405 Method Not Allowed', 409: '409 Conflict', 413: '413 Payload Too Large', 500: '500 Internal Server Error', 503: '503 Service Unavailable',
};

/** The HTTP status line of a status code. */
function statusLine(status: number): string {
  return STATUS_LINES[status] ?? `${Math.trunc(status)} Status`;
}

/**
 * Registers the table routes on `app`: the admin gate (404 while off, 401 without the token, both
 * before any body is read), POST bodies read up to their cap (413 beyond, and the connection
 * closed) and parsed as JSON (400 when they are not), the handler's reply or 500 when it throws.
 * A client that goes away meanwhile is never answered.
 */
function serveTable(app: uWS.TemplatedApp, table: readonly HttpRoute[], gate: AdminGate | undefined): void {
  for (const route of table) {
    const serve = (res: uWS.HttpResponse, req: uWS.HttpRequest): void => {
      const authorization = req.getHeader('authorization');
      const contentLength = req.getHeader('content-length');
      const query = req.getQuery() ?? '';
      const url = req.getUrl();
      const remoteAddress = Buffer.from(res.getRemoteAddressAsText()).toString();
      let done = false;
      res.onAborted(() => {
        done = true;
      });
      const reply = (r: RouteReply, close = false): void => {
        if (done) return;
        done = true;
        let body: string | Uint8Array;
        let type: string;
        try {
          if ('json' in r) {
            body = JSON.stringify(r.json) ?? 'null';
            type = 'application/json';
          } else {
            body = r.body;
            type = r.contentType;
          }
        } catch {
          r = { status: 500, json: { error: 'internal error' } };
          body = '{"error":"internal error"}';
          type = 'application/json';
        }
        res.cork(() => {
          res.writeStatus(statusLine(r.status)).writeHeader('content-type', type).writeHeader('cache-control', 'no-store').writeHeader('x-content-type-options', 'nosniff');
          for (const [k, v] of Object.entries(r.headers ?? {})) res.writeHeader(k, v);
          res.end(body, close);
        });
      };
      const fail = (status: number, error: string, close = false): void => reply({ status, json: { error } }, close);
      if (route.auth) {
        if (!gate?.enabled) {
          if (done) return;
          done = true;
          res.cork(() => res.writeStatus('404 Not Found').end('not found', route.method === 'POST'));
          return;
        }
        if (route.auth === 'admin' && !gate.authorize(authorization)) {
          reply({ status: 401, json: { error: 'unauthorized' }, headers: { 'www-authenticate': 'Bearer realm="tickwire-admin"' } }, route.method === 'POST');
          return;
        }
      }
      const run = (body: unknown): void => {
        let out: RouteReply | Promise<RouteReply>;
        try {
          out = route.handler({ body, query, remoteAddress, url });
        } catch {
          fail(500, 'internal error');
          return;
        }
        if (out instanceof Promise) out.then((r) => reply(r), () => fail(500, 'internal error'));
        else reply(out);
      };
      if (route.method === 'GET') {
        run(undefined);
        return;
      }
      const cap = route.maxBodyBytes ?? MAX_ROUTE_BODY_BYTES;
      if (contentLength !== '' && !(Number(contentLength) <= cap)) {
        fail(413, `body larger than ${cap} bytes`, true);
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.onData((chunk, isLast) => {
        if (done) return;
        size += chunk.byteLength;
        if (size > cap) {
          fail(413, `body larger than ${cap} bytes`, true);
          return;
        }
        // uWS reuses the chunk's memory after this callback: copy it.
        chunks.push(Buffer.from(new Uint8Array(chunk)));
        if (!isLast) return;
        let body: unknown;
        try {
          body = size === 0 ? undefined : JSON.parse(Buffer.concat(chunks, size).toString('utf8'));
        } catch {
          fail(400, 'body is not JSON');
          return;
        }
        run(body);
      });
    };
    if (route.method === 'GET') app.get(route.path, serve);
    else app.post(route.path, serve);
  }
}

/**
 * Registers the stream routes: a refusal is answered like a table route's JSON reply; a taken
 * request gets its headers at once and a chunked body. Writes while the socket is refusing data
 * are counted (StreamResponse.buffered) until uWS says it drained, so the route can drop a reader
 * that does not read instead of buffering for it without bound.
 */
function serveStreams(app: uWS.TemplatedApp, routes: readonly StreamRoute[]): Set<() => void> {
  // the open streams' enders, for the server's stop
  const open = new Set<() => void>();
  for (const route of routes) {
    const params = (route.path.match(/\/:/g) ?? []).length;
    app.get(route.path, (res, req) => {
      const p: string[] = [];
      for (let i = 0; i < params; i++) p.push(req.getParameter(i));
      const request: StreamRequest = { params: p, query: req.getQuery() ?? '', remoteAddress: Buffer.from(res.getRemoteAddressAsText()).toString() };
      let gone = false;
      // set once the stream is open: what the route wants told when the peer goes, and this stream's ender
      const hook: { gone?: () => void; ender?: () => void } = {};
      res.onAborted(() => {
        if (hook.ender) open.delete(hook.ender);
        if (gone) return;
        gone = true;
        hook.gone?.();
      });
      let out: RouteReply | StreamStart;
      try {
        out = route.open(request);
      } catch {
        out = { status: 500, json: { error: 'internal error' } };
      }
      if ('status' in out) {
        const r = out;
        const body = 'json' in r ? JSON.stringify(r.json) ?? 'null' : r.body;
        res.cork(() => {
          res.writeStatus(statusLine(r.status)).writeHeader('content-type', 'json' in r ? 'application/json' : r.contentType).writeHeader('cache-control', 'no-store');
          for (const [k, v] of Object.entries(r.headers ?? {})) res.writeHeader(k, v);
          res.end(body);
        });
        gone = true;
        return;
      }
      let pending = 0;
      res.onWritable(() => {
        pending = 0;
        return true;
      });
      const stream: StreamResponse = {
        write(text) {
          if (gone) return false;
          let ok = true;
          res.cork(() => {
            ok = res.write(text);
          });
          if (!ok || pending > 0) pending += Buffer.byteLength(text);
          return true;
        },
        buffered: () => pending,
        end() {
          if (hook.ender) open.delete(hook.ender);
          if (gone) return;
          gone = true;
          res.cork(() => res.end());
        },
        close() {
          if (hook.ender) open.delete(hook.ender);
          if (gone) return;
          gone = true;
          res.close();
        },
      };
      hook.ender = () => {
        hook.gone?.();
        stream.end();
      };
      open.add(hook.ender);
      res.cork(() => {
        res.writeStatus('200 OK').writeHeader('content-type', out.contentType).writeHeader('cache-control', 'no-store').writeHeader('x-accel-buffering', 'no').writeHeader('access-control-allow-origin', '*');
      });
      hook.gone = out.start(stream);
    });
  }
  return open;
}

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
  app.get('/rooms', (res) => {
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    Promise.resolve(routes.rooms()).then(
      (body) => {
        if (!aborted) json(res, body);
      },
      () => {
        if (!aborted) res.cork(() => res.writeStatus('503 Service Unavailable').writeHeader('content-type', 'application/json').end('{"error":"unavailable"}'));
      },
    );
  });
  serveTable(app, routes.table ?? [], routes.admin);
  const streams = serveStreams(app, routes.streams ?? []);
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
          for (const end of [...streams]) end();
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
