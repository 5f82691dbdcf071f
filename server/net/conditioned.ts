// The seeded link conditioner as a wrapper around a transport (soak tests, ServerOptions.conditioner):
// on every connection, inputs and snapshot acks in and snapshots out cross one LinkConditioner per
// direction, on either channel; control messages pass straight through, as the WebSocket never
// loses or reorders them.
import { MsgType } from '../../shared/protocol/ids.ts';
import { LinkConditioner, type Deliver, type LinkSettings } from '../../shared/net/link-conditioner.ts';
import type { SendResult, Transport, TransportEvents } from './transport.ts';

interface Link {
  up: LinkConditioner;
  down: LinkConditioner;
  deliverIn: Deliver;
  deliverOut: Deliver;
  /** Where delayed inbound messages go, and the transport delayed outbound ones leave by. */
  events: TransportEvents | undefined;
  out: Transport | undefined;
}

/** Totals over live connections, both directions. */
export interface ConditionerTotals {
  dropped: number;
  duplicated: number;
  reordered: number;
}

/** True for the messages a real network may lose: everything but control messages. */
function isDatagram(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] !== MsgType.Control;
}

/**
 * Conditions every transport it wraps with the same live settings; each connection's two links
 * derive their seeds from `seed` and the connection id, so a run is repeatable. Deliveries run on
 * real timers and never throw out of them.
 */
export class TransportConditioner {
  private readonly links = new Map<number, Link>();
  private readonly timers = { nowMs: () => this.nowMs(), setTimer: (fn: () => void, ms: number) => setTimeout(fn, ms) };

  /** `settings` is read live, so a run may change or heal the link. */
  constructor(
    private readonly settings: LinkSettings,
    private readonly seed: number,
    private readonly nowMs: () => number,
    private readonly onDeliveryError: (err: unknown, connId: number) => void,
  ) {}

  /** Events whose inbound datagrams cross the connection's upstream link first. */
  wrapEvents(inner: TransportEvents): TransportEvents {
    return {
      admit: (req) => inner.admit(req),
      onOpen: (connId) => inner.onOpen(connId),
      onMessage: (connId, bytes) => {
        if (!isDatagram(bytes)) return inner.onMessage(connId, bytes);
        const link = this.linkOf(connId);
        link.events = inner;
        link.up.send(bytes, false, link.deliverIn);
      },
      onClose: (connId) => {
        this.drop(connId);
        inner.onClose(connId);
      },
    };
  }

  /** A transport whose outbound datagrams cross the connection's downstream link (sends answer 'sent'). */
  wrap<T extends Transport>(inner: T): T {
    const send = (connId: number, bytes: Uint8Array): SendResult => {
      if (!isDatagram(bytes)) return inner.send(connId, bytes);
      const link = this.linkOf(connId);
      link.out = inner;
      link.down.send(bytes, false, link.deliverOut);
      return 'sent';
    };
    return new Proxy(inner, { get: (target, key, receiver) => (key === 'send' ? send : Reflect.get(target, key, receiver)) });
  }

  /** Datagrams dropped, duplicated and reordered, both directions, live connections only. */
  totals(): ConditionerTotals {
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

  private drop(connId: number): void {
    const l = this.links.get(connId);
    if (!l) return;
    l.up.clear();
    l.down.clear();
    this.links.delete(connId);
  }

  /** The links of a connection, created on first use. */
  private linkOf(connId: number): Link {
    let l = this.links.get(connId);
    if (l) return l;
    const guard = (fn: Deliver): Deliver => (b) => {
      try {
        if (this.links.get(connId) === l) fn(b);
      } catch (err) {
        this.onDeliveryError(err, connId);
      }
    };
    const link: Link = {
      up: new LinkConditioner(this.settings, (this.seed + connId) >>> 0, this.timers),
      down: new LinkConditioner(this.settings, (this.seed + connId + 0x5bd1e995) >>> 0, this.timers),
      deliverIn: guard((b) => link.events?.onMessage(connId, b)),
      deliverOut: guard((b) => void link.out?.send(connId, b)),
      events: undefined,
      out: undefined,
    };
    l = link;
    this.links.set(connId, link);
    return link;
  }
}
