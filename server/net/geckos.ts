// The unreliable channel: WebRTC datachannels through geckos.io, signaling on our own HTTP server, binary messages only.
// Every callback here may run inside a native node-datachannel callback, where an escaping exception aborts the process.
import { createServer, type IncomingMessage, type OutgoingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import geckos, { type GeckosServer, type ServerChannel } from '@geckos.io/server';
import { bridge } from '@geckos.io/server/lib/deps.js';
import type { DataChannel } from 'node-datachannel';
import { SCTP_SETTINGS } from '../../shared/net/sctp.ts';
import type { DatagramTransport, SendResult, TransportEvents } from './transport.ts';

/** Options of the geckos.io transport. */
export interface GeckosTransportOptions {
  /** Bind address of the signaling HTTP server and of the ICE (UDP) sockets, e.g. '127.0.0.1' or '0.0.0.0'. Required. */
  host: string;
  /** TCP port of the signaling HTTP server; 0 = ephemeral (the bound port is `transport.signalingPort`). */
  signalingPort: number;
  /**
   * Lowest UDP port for WebRTC. With udpPortMax, restricts ICE to [udpPortMin, udpPortMax]; geckos raises
   * a minimum below 1025 to 1025. 0 (with udpPortMax 0) = any port the OS picks. All peers share one UDP
   * port when possible (ICE UDP mux, geckos' default).
   */
  udpPortMin: number;
  /** Highest UDP port for WebRTC (inclusive, at most 65535); 0 = no range. */
  udpPortMax: number;
  /**
   * STUN/TURN servers for the server's own candidates; [] = host candidates only (LAN/loopback and
   * servers with a public address). Only `urls` is used (geckos drops username/credential; put TURN
   * credentials in the URL as node-datachannel accepts: turn:user:pass@host:port).
   */
  iceServers: { urls: string | string[] }[];
  /** Most peers that are authorized but not open yet; beyond this new peers get HTTP 503. */
  maxPendingPeers: number;
  /** Largest datachannel message in bytes, both directions; bigger incoming ones are dropped, bigger outgoing ones refused. */
  maxMessageBytes: number;
  /** Access-Control-Allow-Origin of the signaling routes. Default '*' (safe: the token is not a cookie). */
  corsOrigin?: string;
  /** Milliseconds an authorized peer may take to open before it is closed and its slot freed. Default 10000. */
  pendingTimeoutMs?: number;
  /** Bytes queued in a peer's datachannel above which send() drops (answers 'dropped'). Default 262144. */
  maxBufferedBytes?: number;
  /** A signaling request not received whole within this long is answered 408 and closed, ms (headers: half of it). Default 10000. */
  signalingRequestTimeoutMs?: number;
  /** Largest signaling request body in bytes (an SDP answer is a few KiB); bigger gets HTTP 413. Default 16384. */
  maxSignalingBodyBytes?: number;
}

/** Logger the transport writes to (pino-compatible). */
export interface TransportLog {
  info(o: object, msg?: string): void;
  warn(o: object, msg?: string): void;
  error(o: object, msg?: string): void;
}

/** Counters of the geckos transport, all monotonically increasing since start. */
export interface GeckosTransportStats {
  /** Peers refused for a missing/unknown token (HTTP 401). */
  refusedUnauthorized: number;
  /** Peers refused because maxPendingPeers were connecting (HTTP 503). */
  refusedBusy: number;
  /** Authorized peers closed because they did not open within pendingTimeoutMs. */
  pendingExpired: number;
  /** Opened channels closed because their session already had an open channel. */
  duplicatePeers: number;
  /** Peers reported to onOpen. */
  opened: number;
  /** Peers reported to onClose. */
  closed: number;
  /** Binary messages handed to onMessage. */
  messagesIn: number;
  /** Incoming messages dropped for not being binary (strings, JSON events). */
  droppedNonBinary: number;
  /** Incoming messages dropped for being larger than maxMessageBytes. */
  droppedOversize: number;
  /** Outgoing messages refused by send() for size or backpressure. */
  sendDropped: number;
  /** Exceptions caught from TransportEvents handlers or geckos internals at a callback boundary. */
  callbackErrors: number;
}

/** The running geckos transport: the DatagramTransport contract plus counters. */
export interface GeckosTransport extends DatagramTransport {
  /** A snapshot of the counters. */
  stats(): GeckosTransportStats;
  /** Peers authorized and still connecting. */
  pendingCount(): number;
  /** Open peers (the same as connectionCount()). */
  peerCount(): number;
  /** RTCPeerConnections geckos holds (connecting or open). */
  rtcConnectionCount(): number;
}

/** What authorization hands geckos as the connection's userData (sent back to the client as JSON, so nothing secret). */
interface PeerTicket {
  readonly connId: number;
}

interface PendingPeer {
  readonly connId: number;
  readonly timer: NodeJS.Timeout;
}

interface OpenPeer {
  readonly connId: number;
  readonly channel: ServerChannel;
  closed: boolean;
}

/** The subset of geckos' per-connection object we use (`io.connectionsManager.connections` values). */
interface GeckosConnection {
  userData: unknown;
  channel?: { dataChannel?: DataChannel | null };
  close(): Promise<void>;
}

/** The listeners `attach()` adds to the list `listeners()` reads (to take them off again later). */
function listenersAddedBy<F>(listeners: () => F[], attach: () => void): F[] {
  const before = new Set(listeners());
  attach();
  return listeners().filter((l) => !before.has(l));
}

/**
 * Closes a connection's datachannel itself, open or not. geckos' connection.close() closes it only when
 * open, so a channel that never opened keeps its native handle past the peer connection's teardown.
 */
function closeDataChannelOf(c: GeckosConnection): void {
  try {
    c.channel?.dataChannel?.close();
  } catch {
    // already closed
  }
}

/**
 * Refuses to start when patches/@geckos.io+server+3.1.0.patch is not applied: without it any peer can
 * abort the process by sending the text `null`.
 */
export async function assertGeckosPatched(): Promise<void> {
  const mod = (await import('@geckos.io/server/lib/geckos/channel.js')) as unknown as Record<string, unknown>;
  if (typeof mod.safeParseMessage !== 'function' || typeof mod.reportCallbackError !== 'function') {
    throw new Error(
      '@geckos.io/server is not patched (patches/@geckos.io+server+3.1.0.patch). Unpatched, one datachannel ' +
        'message can abort the process. Run `npm install` (postinstall applies the patch with patch-package).',
    );
  }
}

/** Turns whatever geckos hands onRaw into a plain Uint8Array view (no copy), or undefined when not binary. */
export function rawToBytes(raw: unknown): Uint8Array | undefined {
  if (raw instanceof Uint8Array) return raw.constructor === Uint8Array ? raw : new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  if (raw instanceof ArrayBuffer) return new Uint8Array(raw);
  if (ArrayBuffer.isView(raw)) return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  return undefined;
}

function isTicket(v: unknown): v is PeerTicket {
  return typeof v === 'object' && v !== null && typeof (v as { connId?: unknown }).connId === 'number';
}

/** Logs at most one line per key and second, with the number suppressed since. */
function rateLimitedLogger(log: TransportLog): (key: string, o: object, msg: string) => void {
  const last = new Map<string, { atMs: number; suppressed: number }>();
  return (key, o, msg) => {
    try {
      const now = Date.now();
      const e = last.get(key);
      if (e && now - e.atMs < 1000) {
        e.suppressed++;
        return;
      }
      last.set(key, { atMs: now, suppressed: 0 });
      log.warn({ ...o, suppressed: e?.suppressed ?? 0 }, msg);
    } catch {
      // a logger must not break a native callback
    }
  };
}

/**
 * Starts the WebRTC datagram transport: a signaling HTTP server on opts.host:opts.signalingPort and
 * geckos.io peers, each admitted by its session token (the client's `authorization` string) through
 * `events.admit` before any RTCPeerConnection exists; the connection id admit answers names the peer
 * from then on. Every admitted connection reports onClose exactly once (after onOpen, or when it
 * expires or fails before opening). Only binary messages travel; they reach `events.onMessage` as
 * Uint8Array views valid during the call. Rejects when the port cannot be bound or the geckos patch
 * is missing.
 */
export async function startGeckosTransport(opts: GeckosTransportOptions, events: TransportEvents, log: TransportLog): Promise<GeckosTransport> {
  (await import('node-datachannel')).setSctpSettings({ ...SCTP_SETTINGS }); // before the first peer: fewer SACK datagrams
  await assertGeckosPatched();
  const pendingTimeoutMs = opts.pendingTimeoutMs ?? 10_000;
  const maxBufferedBytes = opts.maxBufferedBytes ?? 256 * 1024;
  const maxMessageBytes = opts.maxMessageBytes;
  const warn = rateLimitedLogger(log);
  const stats: GeckosTransportStats = {
    refusedUnauthorized: 0, refusedBusy: 0, pendingExpired: 0, duplicatePeers: 0, opened: 0, closed: 0,
    messagesIn: 0, droppedNonBinary: 0, droppedOversize: 0, sendDropped: 0, callbackErrors: 0,
  };
  const pending = new Map<PeerTicket, PendingPeer>();
  const open = new Map<number, OpenPeer>();
  let stopping = false;

  const callbackError = (where: string, err: unknown, connId?: number): void => {
    stats.callbackErrors++;
    warn(`cb:${where}`, { err, where, conn: connId }, 'webrtc: exception caught at a callback boundary');
  };

  // geckos reads iceServers[].urls as one entry each; node-datachannel wants plain URL strings.
  const iceServers: RTCIceServer[] = opts.iceServers.flatMap((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]).map((urls) => ({ urls })));

  // The signaling server is ours: bound to opts.host, with timeouts and a 404 for everything not geckos'.
  // connectionsCheckingInterval: Node checks requestTimeout and headersTimeout only this often (30 s by
  // default, which made the 10 s limit 10-40 s).
  const requestTimeout = opts.signalingRequestTimeoutMs ?? 10_000;
  const server: Server = createServer({
    requestTimeout, headersTimeout: Math.ceil(requestTimeout / 2), maxHeaderSize: 8192, keepAliveTimeout: 5_000,
    connectionsCheckingInterval: Math.min(1000, Math.ceil(requestTimeout / 4)),
  });
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    // geckos calls this only for paths outside /.wrtc/v2
    try {
      res.statusCode = 404;
      res.end();
    } catch {
      // socket gone
    }
  });

  // `io` is created below, after the callbacks it needs; these closures run only once it exists.
  const connections = (): Map<unknown, GeckosConnection> => io.connectionsManager.connections as Map<unknown, GeckosConnection>;
  const findConnection = (ticket: PeerTicket): GeckosConnection | undefined => {
    for (const c of connections().values()) if (c.userData === ticket) return c;
    return undefined;
  };
  const closeConnection = (c: GeckosConnection | undefined): void => {
    if (!c) return;
    closeDataChannelOf(c);
    try {
      c.close().catch((err: unknown) => callbackError('closeConnection', err));
    } catch (err) {
      callbackError('closeConnection', err);
    }
  };
  const closeChannel = (channel: ServerChannel): void => {
    try {
      // ServerChannel.close() logs 'connection not found!' for a connection geckos already dropped
      if (connections().has(channel.id)) channel.close().catch((err: unknown) => callbackError('closeChannel', err));
    } catch (err) {
      callbackError('closeChannel', err);
    }
  };

  const dropPending = (ticket: PeerTicket): PendingPeer | undefined => {
    const p = pending.get(ticket);
    if (!p) return undefined;
    pending.delete(ticket);
    clearTimeout(p.timer);
    return p;
  };

  /** An admitted connection that will never open: the server hears onClose for it once. */
  const abandoned = (connId: number): void => {
    try {
      events.onClose(connId);
    } catch (err) {
      callbackError('onClose', err, connId);
    }
  };

  const expirePending = (ticket: PeerTicket): void => {
    try {
      if (!dropPending(ticket)) return;
      stats.pendingExpired++;
      abandoned(ticket.connId);
      closeConnection(findConnection(ticket));
    } catch (err) {
      callbackError('expirePending', err);
    }
  };

  /** Once geckos answered the signaling request, free the slot early if the connection dies before opening. */
  const watchPending = (ticket: PeerTicket): void => {
    try {
      if (!pending.has(ticket)) return;
      const c = findConnection(ticket) as (GeckosConnection & { channel?: ServerChannel }) | undefined;
      c?.channel?.onDisconnect(() => {
        if (!dropPending(ticket)) return;
        stats.pendingExpired++;
        abandoned(ticket.connId);
      });
    } catch (err) {
      callbackError('watchPending', err);
    }
  };

  /** Admissions under way (asked, not answered): they hold a pending slot, so the cap is exact under concurrency. */
  let admitting = 0;

  const authorization = async (auth: string | undefined, req: IncomingMessage, res: OutgoingMessage): Promise<boolean | number | PeerTicket> => {
    try {
      if (stopping) return 503;
      if (pending.size + admitting >= opts.maxPendingPeers) {
        stats.refusedBusy++;
        warn('busy', { pending: pending.size, admitting }, 'webrtc: too many pending peers, refusing');
        return 503;
      }
      if (typeof auth !== 'string' || auth.length === 0 || auth.length > 512) {
        stats.refusedUnauthorized++;
        return false;
      }
      admitting++;
      let connId: number;
      try {
        connId = await events.admit({ remoteAddress: req.socket?.remoteAddress ?? '', token: auth });
      } finally {
        admitting--;
      }
      if (!Number.isSafeInteger(connId) || connId <= 0) {
        stats.refusedUnauthorized++;
        return false;
      }
      if (stopping) {
        events.onClose(connId);
        return 503;
      }
      const ticket: PeerTicket = { connId };
      const timer = setTimeout(() => expirePending(ticket), pendingTimeoutMs);
      timer.unref();
      pending.set(ticket, { connId, timer });
      res.once('close', () => watchPending(ticket));
      return ticket;
    } catch (err) {
      callbackError('authorize', err);
      return 500;
    }
  };

  const peerGone = (peer: OpenPeer): void => {
    if (peer.closed) return;
    peer.closed = true;
    if (open.get(peer.connId) === peer) open.delete(peer.connId);
    stats.closed++;
    try {
      events.onClose(peer.connId);
    } catch (err) {
      callbackError('onClose', err, peer.connId);
    }
  };

  const onRaw = (peer: OpenPeer, raw: unknown): void => {
    try {
      if (peer.closed) return;
      const bytes = rawToBytes(raw);
      if (!bytes) {
        stats.droppedNonBinary++;
        return;
      }
      if (bytes.byteLength > maxMessageBytes) {
        stats.droppedOversize++;
        return;
      }
      stats.messagesIn++;
      events.onMessage(peer.connId, bytes);
    } catch (err) {
      callbackError('onMessage', err, peer.connId);
    }
  };

  const onConnection = (channel: ServerChannel): void => {
    try {
      const userData: unknown = channel.userData;
      const p = isTicket(userData) ? dropPending(userData) : undefined;
      if (!p) {
        // Expired while connecting (ours: close it), or another geckos server in this process (its bridge is global).
        if (channel.webrtcConnection?.connections === io.connectionsManager.connections) closeChannel(channel);
        return;
      }
      if (stopping || open.has(p.connId)) {
        stats.duplicatePeers++;
        closeChannel(channel);
        abandoned(p.connId);
        return;
      }
      const peer: OpenPeer = { connId: p.connId, channel, closed: false };
      open.set(peer.connId, peer);
      channel.onRaw((raw: unknown) => onRaw(peer, raw));
      channel.onDisconnect(() => {
        try {
          peerGone(peer);
        } catch (err) {
          callbackError('onDisconnect', err, peer.connId);
        }
      });
      stats.opened++;
      try {
        events.onOpen(peer.connId);
      } catch (err) {
        callbackError('onOpen', err, peer.connId);
      }
    } catch (err) {
      callbackError('onConnection', err);
    }
  };

  const io: GeckosServer = geckos({
    authorization,
    bindAddress: opts.host,
    iceServers,
    portRange: opts.udpPortMin > 0 && opts.udpPortMax > 0 ? { min: opts.udpPortMin, max: opts.udpPortMax } : undefined,
    cors: { origin: opts.corsOrigin ?? '*', allowAuthorization: true },
    // unordered, no retransmits: datagram semantics (geckos' defaults, stated for the reader)
    ordered: false,
    maxRetransmits: 0,
    // Added by our patch: advertised to the peer in the SDP and enforced by libdatachannel, which
    // TRUNCATES a longer incoming message to this size. One byte of headroom turns truncation into
    // "longer than maxMessageBytes", which onRaw drops.
    maxMessageSize: maxMessageBytes + 1,
    maxSignalingBodyBytes: opts.maxSignalingBodyBytes ?? 16 * 1024,
    onCallbackError: (err: unknown, where: string) => callbackError(`geckos:${where}`, err),
  });
  // geckos' onConnection listens on a bridge shared by every geckos server in the process; ours comes off at stop().
  const bridgeListeners = listenersAddedBy(() => bridge.eventEmitter.listeners('connection'), () => io.onConnection(onConnection));
  // addServer also hooks the server's 'close' event to close every connection and then call
  // node-datachannel's cleanup(), which closes every peer connection and datachannel of the whole
  // process (other servers' and clients' too) and can segfault: it closes the datachannels after their
  // peer connections, racing the native threads tearing those down. stop() closes what is ours instead.
  const geckosOnClose = listenersAddedBy(() => server.listeners('close'), () => io.addServer(server));
  for (const l of geckosOnClose) server.off('close', l as (...args: unknown[]) => void);
  // geckos answers some routes without reading the body; a client that then never sends it would
  // hold the socket open (Node waits for the body to reuse the connection). Close it instead.
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    res.once('finish', () => {
      if (!req.complete) req.socket.destroy();
    });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(opts.signalingPort, opts.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  server.on('error', (err: Error) => log.error({ err }, 'webrtc signaling server error'));
  const signalingPort = (server.address() as AddressInfo).port;
  log.info({ host: opts.host, signalingPort, udpPortMin: opts.udpPortMin, udpPortMax: opts.udpPortMax }, 'webrtc signaling listening');

  return {
    kind: 'webrtc',
    reliable: false,
    signalingPort,

    send(connId: number, bytes: Uint8Array): SendResult {
      try {
        const peer = open.get(connId);
        if (!peer || peer.closed) return 'closed';
        // Straight to node-datachannel rather than channel.raw.emit(): geckos sends in a later microtask
        // (so a caller reusing `bytes` would send the wrong content), drops whenever anything is buffered,
        // and cannot report failure. sendMessageBinary copies synchronously.
        const dc = peer.channel.dataChannel as DataChannel | null;
        if (!dc || !dc.isOpen()) return 'closed';
        if (bytes.byteLength > maxMessageBytes || dc.bufferedAmount() > maxBufferedBytes) {
          stats.sendDropped++;
          return 'dropped';
        }
        dc.sendMessageBinary(bytes); // false only means "queued", not "failed"
        return 'sent';
      } catch (err) {
        stats.sendDropped++;
        warn('send', { err, conn: connId }, 'webrtc send failed');
        return 'dropped';
      }
    },

    close(connId: number): void {
      try {
        const peer = open.get(connId);
        if (peer) {
          peerGone(peer);
          closeChannel(peer.channel);
          return;
        }
        // Still connecting: give up on it now (its slot frees at once; onClose reports it).
        for (const ticket of pending.keys()) {
          if (ticket.connId !== connId) continue;
          dropPending(ticket);
          abandoned(connId);
          closeConnection(findConnection(ticket));
          return;
        }
      } catch (err) {
        callbackError('close', err, connId);
      }
    },

    bufferedAmount(connId: number): number {
      try {
        const dc = open.get(connId)?.channel.dataChannel as DataChannel | null | undefined;
        return dc && dc.isOpen() ? dc.bufferedAmount() : 0;
      } catch {
        return 0;
      }
    },

    connectionCount: (): number => open.size,
    peerCount: (): number => open.size,
    pendingCount: (): number => pending.size,
    rtcConnectionCount: (): number => connections().size,
    stats: (): GeckosTransportStats => ({ ...stats }),

    async stop(): Promise<void> {
      if (stopping) return;
      stopping = true;
      for (const ticket of [...pending.keys()]) if (dropPending(ticket)) abandoned(ticket.connId);
      for (const peer of [...open.values()]) peerGone(peer);
      const closing = [...connections().values()].map((c) => {
        closeDataChannelOf(c);
        return c.close().catch((err: unknown) => callbackError('stop', err));
      });
      await Promise.race([Promise.allSettled(closing), new Promise((r) => setTimeout(r, 2_000).unref())]);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      for (const l of bridgeListeners) bridge.eventEmitter.removeListener('connection', l);
      log.info({ stats: { ...stats } }, 'webrtc transport stopped');
    },
  };
}
