// The seeded link conditioner on the server's end of every session (ServerOptions.conditioner, used
// by the soak): inputs and snapshot acks in, and unreliable packets out, on either channel, cross
// one LinkConditioner per direction per session. Reliable (control) messages pass straight through.
import { MsgType } from '../../shared/protocol/ids.ts';
import { LinkConditioner, type Deliver, type LinkSettings } from '../../shared/net/link-conditioner.ts';
import { NetEvent, type NetEventKind } from './queue.ts';

/** What a conditioned link needs of the server. */
export interface LinkHost<S extends { id: number; socketId: number; state: string }> {
  nowMs(): number;
  /** Queues an inbound message for the tick (the unconditioned path). */
  inbox(kind: NetEventKind, id: number, bytes: Uint8Array): void;
  /** Sends an unreliable packet now (the unconditioned path). */
  sendNow(s: S, bytes: Uint8Array): void;
  session(id: number): S | undefined;
  sessionBySocket(socketId: number): S | undefined;
  onDeliveryError(err: unknown, sessionId: number): void;
}

interface Link {
  up: LinkConditioner;
  down: LinkConditioner;
  deliverWs: Deliver;
  deliverRtc: Deliver;
  deliverOut: Deliver;
}

/** Per-session conditioned links, created on first use; delivery runs on real timers. */
export class ConditionedLinks<S extends { id: number; socketId: number; state: string }> {
  private readonly links = new Map<number, Link>();
  private readonly timers = { nowMs: () => this.host.nowMs(), setTimer: (fn: () => void, ms: number) => setTimeout(fn, ms) };

  /** `settings` is read live, so a run may change or heal the link; each session's seeds derive from `seed` and its id. */
  constructor(
    private readonly settings: LinkSettings,
    private readonly seed: number,
    private readonly host: LinkHost<S>,
  ) {}

  /** An inbound message: inputs and snapshot acks cross the session's link, the rest goes straight in. */
  receive(kind: NetEventKind, id: number, bytes: Uint8Array): void {
    const datagram = bytes.length > 0 && (bytes[0] === MsgType.Input || bytes[0] === MsgType.SnapshotAck);
    const s = datagram ? (kind === NetEvent.WsMessage ? this.host.sessionBySocket(id) : this.host.session(id)) : undefined;
    const link = s && this.linkOf(s);
    if (link) link.up.send(bytes, false, kind === NetEvent.WsMessage ? link.deliverWs : link.deliverRtc);
    else this.host.inbox(kind, id, bytes);
  }

  /** An outbound unreliable packet. */
  send(s: S, bytes: Uint8Array): void {
    const link = this.linkOf(s);
    link.down.send(bytes, false, link.deliverOut);
  }

  /** Datagrams dropped, duplicated and reordered, both directions, live sessions only. */
  totals(): { dropped: number; duplicated: number; reordered: number } {
    const t = { dropped: 0, duplicated: 0, reordered: 0 };
    for (const l of this.links.values()) {
      for (const c of [l.up.stats, l.down.stats]) {
        t.dropped += c.dropped;
        t.duplicated += c.duplicated;
        t.reordered += c.reordered;
      }
    }
    return t;
  }

  /** Drops the links of ended sessions (their pending messages go nowhere). */
  prune(): void {
    for (const [id, l] of this.links) {
      if (this.host.session(id)) continue;
      l.up.clear();
      l.down.clear();
      this.links.delete(id);
    }
  }

  private linkOf(s: S): Link {
    let l = this.links.get(s.id);
    if (l) return l;
    // Deliveries run from timers: nothing may throw out of them.
    const guard = (fn: Deliver): Deliver => (b) => {
      try {
        if (s.state !== 'gone') fn(b);
      } catch (err) {
        this.host.onDeliveryError(err, s.id);
      }
    };
    l = {
      up: new LinkConditioner(this.settings, (this.seed + s.id) >>> 0, this.timers),
      down: new LinkConditioner(this.settings, (this.seed + s.id + 0x5bd1e995) >>> 0, this.timers),
      deliverWs: guard((b) => {
        if (s.socketId) this.host.inbox(NetEvent.WsMessage, s.socketId, b);
      }),
      deliverRtc: guard((b) => this.host.inbox(NetEvent.RtcMessage, s.id, b)),
      deliverOut: guard((b) => this.host.sendNow(s, b)),
    };
    this.links.set(s.id, l);
    return l;
  }
}
