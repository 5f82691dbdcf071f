// Everything the server sends (Quake III's outbound side): control messages on the session's
// reliable channel (sequenced ones numbered and kept until acknowledged), unreliable packets on its
// datagram channel with the reliable one as the fallback, and the byte and message counters.
import { encodeControl, SEQUENCED_TYPES, type ServerControl } from '../shared/protocol/control.ts';
import type { ServerStats } from './metrics.ts';
import type { SendQueue } from './send-queue.ts';
import type { Conn, Session } from './sessions.ts';
import { StreamFlush, type StreamLink } from './spectator-stream.ts';

/** What outbound needs from the session life cycle (inbound.ts). */
export interface OutboundHost {
  /** A session's unacknowledged reliable messages exceeded their bound. */
  onResendOverflow(s: Session): void;
  /** A reliable send was refused for backpressure: the client is not reading. */
  onBackpressure(s: Session): void;
}

/** Sizes the reliable resend buffer counts per kept message (msgpack bodies are small). */
const KEPT_MESSAGE_BYTES = 64;

/** The outbound side of every session. */
export class Outbound {
  private host: OutboundHost | undefined;
  /** The spectator streams whose packets wait for the end of the tick (with the send queue); none: they leave at once. */
  readonly streams: StreamFlush | undefined;

  /**
   * @param queue where snapshot packets wait for the end of the timed tick (sendsAfterTick);
   *   none: each is sent at once
   */
  constructor(
    private readonly stats: ServerStats,
    private readonly queue?: SendQueue,
  ) {
    this.streams = queue ? new StreamFlush() : undefined;
  }

  /** Hands the queued snapshot packets (and the spectator streams') to the transports, after the timed part of a tick. Returns how many. */
  flushQueued(): number {
    return this.queue ? this.queue.drain(this.sendQueued) + (this.streams as StreamFlush).flush() : 0;
  }

  private readonly sendQueued = (s: Session, bytes: Uint8Array): void => this.sendUnreliable(s, bytes);

  /** Connects the session life cycle (set once at wiring). */
  attach(host: OutboundHost): void {
    this.host = host;
  }

  /**
   * Sends a control message on the reliable channel. Sequenced types (chat, event, joined, left,
   * error) are numbered and kept until acknowledged, so they survive a reconnect; while a session
   * is resuming they are only kept. Past the resend bound the session ends.
   */
  sendControl(s: Session, msg: ServerControl): void {
    if (s.state === 'gone') return;
    if (SEQUENCED_TYPES.has(msg.t)) {
      const seq = s.reliableOut.push(msg, KEPT_MESSAGE_BYTES);
      if (seq === 0) {
        this.host?.onResendOverflow(s);
        return;
      }
      msg.s = seq;
    }
    if (s.reliable) this.transmit(s, msg);
  }

  /** Sends a control message now, with the session's cumulative reliable ack. */
  transmit(s: Session, msg: ServerControl): void {
    msg.a = s.reliableIn.lastDelivered;
    const c = s.reliable;
    if (c) this.sendOn(s, c, encodeControl(msg));
  }

  /** Sends a control message on a connection that has no session (a refused handshake). */
  sendToConn(c: Conn, msg: ServerControl): void {
    const bytes = encodeControl(msg);
    const kind = c.transport.kind;
    if (c.transport.send(c.id, bytes) !== 'sent') {
      this.stats.sendFailures[kind]++;
      return;
    }
    this.stats.messagesOut[kind]++;
    this.stats.bytesOut[kind] += bytes.length;
  }

  /** Sends an unreliable packet on the session's datagram channel, falling back to its reliable one. */
  sendUnreliable(s: Session, bytes: Uint8Array): void {
    const dg = s.unreliable;
    if (dg) {
      const r = dg.transport.send(dg.id, bytes);
      if (r === 'sent') {
        this.stats.messagesOut[dg.transport.kind]++;
        this.stats.bytesOut[dg.transport.kind] += bytes.length;
        s.bytesOut += bytes.length;
        return;
      }
      this.stats.sendFailures[dg.transport.kind]++;
    }
    const c = s.reliable;
    if (c) this.sendOn(s, c, bytes);
  }

  /**
   * Binds the session's player to its unreliable sender (once per session; no closure per
   * snapshot): the send queue when there is one, else the transport at once.
   */
  bindPlayer(s: Session): void {
    const q = this.queue;
    if (!s.player) return;
    if (q) s.player.send = (bytes) => q.push(s, bytes);
    else s.player.send = (bytes) => this.sendUnreliable(s, bytes);
  }

  /** What a spectator stream needs of the session's reliable connection (bound once, when it joins the stream). */
  streamLink(s: Session): StreamLink {
    return {
      send: (bytes) => {
        const c = s.reliable;
        if (!c) return 'closed';
        return this.sendOn(s, c, bytes) ? 'sent' : 'dropped';
      },
      backlog: () => {
        const c = s.reliable;
        return c ? c.transport.bufferedAmount(c.id) : -1;
      },
      stalled: () => this.host?.onBackpressure(s),
    };
  }

  private sendOn(s: Session, c: Conn, bytes: Uint8Array): boolean {
    const r = c.transport.send(c.id, bytes);
    if (r !== 'sent') {
      this.stats.sendFailures[c.transport.kind]++;
      if (r === 'dropped') this.host?.onBackpressure(s);
      return false;
    }
    this.stats.messagesOut[c.transport.kind]++;
    this.stats.bytesOut[c.transport.kind] += bytes.length;
    s.bytesOut += bytes.length;
    return true;
  }
}
