// geckos.io client for Node (bots, tests): installs node-datachannel's WebRTC polyfill and wraps a channel in a small binary API that never throws.
import type { ClientChannel } from '@geckos.io/client';
import { SCTP_SETTINGS } from '../../shared/net/sctp.ts';

/** The geckos.io client factory (`@geckos.io/client`'s default export). */
export type GeckosClientFactory = typeof import('@geckos.io/client').default;

/** A connected binary datagram channel to a geckos server. No method throws. */
export interface GeckosClientConnection {
  /** Sends bytes (copied first, so the caller may reuse the buffer). Dropped silently when closed or too large. */
  send(bytes: Uint8Array): void;
  /** Registers a handler for binary messages from the server; `bytes` is a fresh view per message. Text is ignored. */
  onMessage(cb: (bytes: Uint8Array) => void): void;
  /** Closes the channel (and tells the server); idempotent. Fires onClose handlers. */
  close(): void;
  /** Registers a handler called once when the channel closes (by close(), the server or the network); immediately (next microtask) if already closed. */
  onClose(cb: () => void): void;
}

/** Rejection of connectGeckos; `status` is the HTTP status of a refused signaling request (401, 503, ...), when there was one. */
export class GeckosConnectError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'GeckosConnectError';
  }
}

let loading: Promise<GeckosClientFactory> | undefined;

/**
 * Makes `RTCPeerConnection`, `RTCSessionDescription` and `RTCIceCandidate` global (from
 * node-datachannel/polyfill, unless already defined) and then imports `@geckos.io/client`, which needs
 * them. Idempotent: every call returns the same promise.
 */
export function loadGeckosClient(): Promise<GeckosClientFactory> {
  loading ??= (async () => {
    const poly = await import('node-datachannel/polyfill');
    (await import('node-datachannel')).setSctpSettings({ ...SCTP_SETTINGS }); // before the first peer: fewer SACK datagrams
    const g = globalThis as unknown as Record<string, unknown>;
    g.RTCPeerConnection ??= poly.RTCPeerConnection;
    g.RTCSessionDescription ??= poly.RTCSessionDescription;
    g.RTCIceCandidate ??= poly.RTCIceCandidate;
    const mod = await import('@geckos.io/client');
    return mod.default;
  })();
  loading.catch(() => {
    loading = undefined; // allow a retry after a failed load
  });
  return loading;
}

function toBytes(raw: unknown): Uint8Array | undefined {
  if (raw instanceof ArrayBuffer) return new Uint8Array(raw);
  if (ArrayBuffer.isView(raw)) return new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
  return undefined;
}

/** The private parts of a ClientChannel we touch to release a half-made connection. */
interface ClientChannelInternals {
  connectionsManager?: { localPeerConnection?: { close(): void } };
}

/**
 * Closes a geckos client channel without throwing and without an unhandled rejection: ClientChannel.close()
 * fires an un-awaited fetch to the server's /close route, which rejects when the server is gone.
 */
function closeQuietly(channel: ClientChannel): void {
  const realFetch = globalThis.fetch;
  globalThis.fetch = ((...args: Parameters<typeof fetch>) => {
    const p = realFetch(...args);
    p.catch(() => undefined);
    return p;
  }) as typeof fetch;
  try {
    channel.close();
  } catch {
    // not connected yet: release the half-made peer connection directly
    try {
      (channel as unknown as ClientChannelInternals).connectionsManager?.localPeerConnection?.close();
    } catch {
      // already gone
    }
  } finally {
    globalThis.fetch = realFetch;
  }
}

/**
 * Connects to a geckos server as session `token` (sent as geckos' `authorization`), with no ICE servers
 * (host candidates only). Resolves once the datachannel is up; rejects with GeckosConnectError when the
 * server refuses (status set), on any other error, or after `timeoutMs` milliseconds (the half-made
 * connection is closed).
 */
export function connectGeckos(
  geckosFactory: GeckosClientFactory,
  o: {
    /** Server origin without port, e.g. 'http://127.0.0.1'. */
    url: string;
    /** Signaling port. */
    port: number;
    /** Session token. */
    token: string;
    /** Milliseconds before giving up. */
    timeoutMs: number;
  },
): Promise<GeckosClientConnection> {
  return new Promise<GeckosClientConnection>((resolve, reject) => {
    let settled = false;
    let channel: ClientChannel;
    try {
      channel = geckosFactory({ url: o.url, port: o.port, authorization: o.token, iceServers: [] });
    } catch (err) {
      reject(new GeckosConnectError(`geckos client failed: ${err instanceof Error ? err.message : String(err)}`));
      return;
    }
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      closeQuietly(channel);
      reject(new GeckosConnectError(`geckos connect timed out after ${o.timeoutMs} ms`));
    }, o.timeoutMs);
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      closeQuietly(channel);
      const status = typeof err === 'object' && err !== null && typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : undefined;
      const message = typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string' ? (err as { message: string }).message : String(err);
      reject(new GeckosConnectError(`geckos connect failed: ${message}`, status));
    };
    channel
      .onConnect((error) => {
        if (error) return fail(error);
        if (settled) {
          closeQuietly(channel); // connected after the timeout: nobody wants it
          return;
        }
        settled = true;
        clearTimeout(timer);
        resolve(wrap(channel));
      })
      .catch(fail);
  });
}

function wrap(channel: ClientChannel): GeckosClientConnection {
  const messageHandlers: ((bytes: Uint8Array) => void)[] = [];
  const closeHandlers: (() => void)[] = [];
  let closed = false;
  let released = false;
  // geckos only reports a server-side close; the local RTCPeerConnection stays until closed, holding
  // its native threads and sockets (and a live one makes node-datachannel's cleanup() block the thread
  // for 10 s). So release it on every close path.
  const release = (): void => {
    if (released) return;
    released = true;
    closeQuietly(channel);
  };
  const fireClose = (): void => {
    if (closed) return;
    closed = true;
    for (const cb of closeHandlers.splice(0)) {
      try {
        cb();
      } catch {
        // a handler's problem is not the channel's
      }
    }
  };
  channel.onRaw((raw: unknown) => {
    const bytes = toBytes(raw);
    if (!bytes || closed) return;
    for (const cb of messageHandlers) {
      try {
        cb(bytes);
      } catch {
        // keep delivering to the others
      }
    }
  });
  channel.onDisconnect(() => {
    fireClose();
    queueMicrotask(release); // outside geckos' event dispatch
  });
  return {
    send(bytes: Uint8Array): void {
      if (closed) return;
      try {
        const max = channel.maxMessageSize;
        if (typeof max === 'number' && max > 0 && bytes.byteLength > max) return;
        // geckos sends in a later microtask without copying: copy now so the caller may reuse `bytes`
        channel.raw.emit(bytes.slice());
      } catch {
        // closed underneath us
      }
    },
    onMessage(cb: (bytes: Uint8Array) => void): void {
      messageHandlers.push(cb);
    },
    close(): void {
      release(); // emits geckos' disconnect, which runs fireClose
      fireClose();
    },
    onClose(cb: () => void): void {
      if (!closed) {
        closeHandlers.push(cb);
        return;
      }
      queueMicrotask(() => {
        try {
          cb();
        } catch {
          // ignored, as above
        }
      });
    },
  };
}
