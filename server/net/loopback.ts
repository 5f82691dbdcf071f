// The in-process loopback transport: the Transport contract with no sockets, for tests and
// benchmarks that run many clients in one process. Each connection has a client end shaped like a
// WebSocket (or a datagram channel) and one seeded LinkConditioner per direction, so latency,
// jitter, loss, duplication and reordering are settings. Delivery is never synchronous: messages
// wait in the links until their time, on real timers or when the owner pumps a fake clock.
import { MsgType } from '../../shared/protocol/ids.ts';
import { defaultLinkSettings, LinkConditioner, type Deliver, type LinkSettings } from '../../shared/net/link-conditioner.ts';
import type { ChannelKind, SendResult, Transport, TransportEvents } from './transport.ts';

/** Options of a loopback transport. */
export interface LoopbackOptions {
  /** True: an ordered, lossless stream carrying control messages (a WebSocket); false: datagrams. */
  reliable: boolean;
  /** Metric label and channel kind. Default 'loopback'. */
  kind?: ChannelKind;
  /**
   * Link settings of every connection, both directions, read live (a test may change or heal the
   * link). Default: no impairment, but delivery still waits for the next pump or timer turn.
   */
  link?: LinkSettings;
  /** Seed of the links; connection k uses seeds derived from it. Default 1. */
  seed?: number;
  /** Time source. Default performance.now(). */
  nowMs?: () => number;
  /** When true no timers are set: the owner calls pump() (fake clocks). Default false. */
  manual?: boolean;
  /**
   * On a reliable loopback, treat everything but control messages as datagrams (lossy,
   * duplicable, reorderable), as a test of WebSocket-only clients under loss would. Default false.
   */
  lossyDatagrams?: boolean;
  /** Signaling port a datagram loopback reports (welcome's webrtc flag needs a non-zero one). Default 1 for datagrams, 0 otherwise. */
  signalingPort?: number;
}

/** Client end of a loopback connection: the subset of the WebSocket API the client netcode uses. */
export class LoopbackPeer {
  binaryType = 'arraybuffer';
  /** 0 connecting, 1 open, 3 closed (WebSocket readyState values). */
  readyState = 0;
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: ((ev: unknown) => void) | null = null;
  /** Server-side connection id, once admitted (0 before or when refused). */
  connId = 0;
  private readonly msg = { data: undefined as unknown };

  /** @internal */
  constructor(private readonly owner: LoopbackTransport) {}

  /** Sends one binary message to the server (copied; delivered through the upstream link). */
  send(data: Uint8Array): void {
    if (this.readyState === 1) this.owner.fromPeer(this, data);
  }

  /** Closes the connection from the client side. */
  close(code = 1000, reason = ''): void {
    if (this.readyState === 3) return;
    this.owner.peerClosing(this, code, reason);
  }

  /** @internal */
  deliver(bytes: Uint8Array): void {
    if (this.readyState !== 1) return;
    this.msg.data = bytes;
    this.onmessage?.(this.msg);
  }

  /** @internal */
  opened(): void {
    if (this.readyState !== 0) return;
    this.readyState = 1;
    this.onopen?.({});
  }

  /** @internal */
  closed(code: number, reason: string): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

interface LoopbackConn {
  readonly peer: LoopbackPeer;
  readonly up: LinkConditioner;
  readonly down: LinkConditioner;
  readonly toServer: Deliver;
  readonly toPeer: Deliver;
  open: boolean;
}

/** The loopback transport. Start it by handing it the server's events (attach). */
export class LoopbackTransport implements Transport {
  readonly kind: ChannelKind;
  readonly reliable: boolean;
  readonly signalingPort: number;
  private events: TransportEvents | undefined;
  private readonly conns = new Map<number, LoopbackConn>();
  private readonly link: LinkSettings;
  private readonly seed: number;
  private readonly timers: { nowMs(): number; setTimer?(fn: () => void, ms: number): unknown };
  private readonly lossy: boolean;
  private readonly all = new Set<LinkConditioner>();
  /** Links whose delivery is held (hold()). */
  private readonly held = new Set<LinkConditioner>();
  private serial = 0;

  constructor(readonly o: LoopbackOptions) {
    this.kind = o.kind ?? 'loopback';
    this.reliable = o.reliable;
    this.signalingPort = o.signalingPort ?? (o.reliable ? 0 : 1);
    this.link = o.link ?? { ...defaultLinkSettings(), enabled: true };
    this.seed = o.seed ?? 1;
    const nowMs = o.nowMs ?? (() => performance.now());
    this.timers = o.manual ? { nowMs } : { nowMs, setTimer: (fn, ms) => setTimeout(fn, ms) };
    this.lossy = !o.reliable || o.lossyDatagrams === true;
  }

  /** Connects the transport to the server's events; a TransportStarter returns it after this. */
  attach(events: TransportEvents): this {
    this.events = events;
    return this;
  }

  /**
   * Opens a client end: the server admits it (with `token` for a datagram loopback), then it opens
   * after the link's delay. A refused peer closes with code 1013.
   */
  connect(o: { remoteAddress?: string; token?: string } = {}): LoopbackPeer {
    const peer = new LoopbackPeer(this);
    const events = this.events;
    if (!events) {
      queueMicrotask(() => peer.closed(1011, 'transport not started'));
      return peer;
    }
    const admitted = events.admit({ remoteAddress: o.remoteAddress ?? 'loopback', token: o.token });
    const bind = (connId: number): void => {
      if (connId === 0 || peer.readyState === 3) {
        if (connId !== 0) events.onClose(connId);
        queueMicrotask(() => peer.closed(1013, 'refused'));
        return;
      }
      peer.connId = connId;
      const k = ++this.serial;
      const up = new LinkConditioner(this.link, (this.seed * 0x9e3779b1 + k * 2) >>> 0, this.timers);
      const down = new LinkConditioner(this.link, (this.seed * 0x9e3779b1 + k * 2 + 1) >>> 0, this.timers);
      this.all.add(up);
      this.all.add(down);
      const c: LoopbackConn = {
        peer, up, down, open: false,
        toServer: (b) => {
          if (this.conns.get(connId) === c && c.open) events.onMessage(connId, b);
        },
        toPeer: (b) => peer.deliver(b),
      };
      this.conns.set(connId, c);
      // The open travels both ways in order with the messages: the server hears it first, then the peer.
      up.sendEvent(() => {
        if (this.conns.get(connId) !== c) return;
        c.open = true;
        events.onOpen(connId);
        down.sendEvent(() => peer.opened());
      });
    };
    if (typeof admitted === 'number') bind(admitted);
    else admitted.then(bind, () => bind(0));
    return peer;
  }

  /** @internal A client end sent a message. */
  fromPeer(peer: LoopbackPeer, data: Uint8Array): void {
    const c = this.conns.get(peer.connId);
    if (!c) return;
    c.up.send(data, !this.isLossy(data), c.toServer);
  }

  /** @internal A client end closes: the server hears it after the messages sent before it. */
  peerClosing(peer: LoopbackPeer, code: number, reason: string): void {
    const c = this.conns.get(peer.connId);
    peer.closed(code, reason);
    if (!c) return;
    c.up.sendEvent(() => this.finish(peer.connId, c));
  }

  private isLossy(bytes: Uint8Array): boolean {
    return this.lossy && !(bytes.length > 0 && bytes[0] === MsgType.Control);
  }

  private finish(connId: number, c: LoopbackConn): void {
    if (this.conns.get(connId) !== c) return;
    this.conns.delete(connId);
    c.up.clear();
    c.down.clear();
    this.all.delete(c.up);
    this.all.delete(c.down);
    this.held.delete(c.down);
    this.events?.onClose(connId);
  }

  send(connId: number, bytes: Uint8Array): SendResult {
    const c = this.conns.get(connId);
    if (!c || !c.open) return 'closed';
    c.down.send(bytes, !this.isLossy(bytes), c.toPeer);
    return 'sent';
  }

  close(connId: number, code = 1000, reason = ''): void {
    const c = this.conns.get(connId);
    if (!c) return;
    // The peer sees the close after what was sent before it (a held link is let go); the server hears onClose now.
    this.held.delete(c.down);
    c.down.sendEvent(() => {
      c.peer.closed(code, reason);
      this.all.delete(c.down);
      this.held.delete(c.down);
    });
    this.conns.delete(connId);
    c.up.clear();
    this.all.delete(c.up);
    this.events?.onClose(connId);
  }

  bufferedAmount(connId: number): number {
    return this.conns.get(connId)?.down.pendingBytes ?? 0;
  }

  /**
   * Holds what the server sends to the connection (on) in its link, as a client that stops reading
   * would, until released (off); bufferedAmount counts it meanwhile. Manual mode (pump) only.
   */
  hold(connId: number, on: boolean): void {
    const c = this.conns.get(connId);
    if (!c) return;
    if (on) this.held.add(c.down);
    else this.held.delete(c.down);
  }

  connectionCount(): number {
    return this.conns.size;
  }

  /** Delivers everything due now in every link (manual mode; harmless with timers). Returns messages delivered. */
  pump(): number {
    let n = 0;
    for (const l of [...this.all]) if (!this.held.has(l)) n += l.pump();
    return n;
  }

  /** Datagrams dropped, duplicated and reordered over every live connection, both directions. */
  linkTotals(): { dropped: number; duplicated: number; reordered: number } {
    const t = { dropped: 0, duplicated: 0, reordered: 0 };
    for (const l of this.all) {
      t.dropped += l.stats.dropped;
      t.duplicated += l.stats.duplicated;
      t.reordered += l.stats.reordered;
    }
    return t;
  }

  async stop(): Promise<void> {
    for (const id of [...this.conns.keys()]) this.close(id, 1001, 'server stopping');
    this.events = undefined;
  }
}

/**
 * A client environment over loopback transports, shaped like the client netcode's ClientIO:
 * `openWebSocket` connects to `reliable`, `openDatagram` (when a datagram loopback is given) binds
 * to `datagram` with the session token. Hand it to Connection or ClientNetcode.
 */
export function loopbackClientIO(reliable: LoopbackTransport, datagram?: LoopbackTransport, o: { nowMs?: () => number; remoteAddress?: string } = {}) {
  const nowMs = o.nowMs ?? (() => performance.now());
  const remoteAddress = o.remoteAddress ?? 'loopback';
  return {
    nowMs,
    openWebSocket: (_url: string): LoopbackPeer => reliable.connect({ remoteAddress }),
    openDatagram: datagram
      ? (d: { token: string; timeoutMs: number; onMessage(bytes: Uint8Array): void; onClose(): void }): Promise<{ send(bytes: Uint8Array): void; close(): void }> =>
          new Promise((resolve, reject) => {
            const peer = datagram.connect({ remoteAddress, token: d.token });
            const timer = setTimeout(() => {
              peer.close();
              reject(new Error('loopback datagram channel timed out'));
            }, d.timeoutMs);
            let opened = false;
            peer.onopen = () => {
              opened = true;
              clearTimeout(timer);
              resolve({ send: (b) => peer.send(b), close: () => peer.close() });
            };
            peer.onmessage = (ev) => d.onMessage(ev.data as Uint8Array);
            peer.onclose = () => {
              clearTimeout(timer);
              if (opened) d.onClose();
              else reject(new Error('loopback datagram channel refused'));
            };
          })
      : undefined,
  };
}
