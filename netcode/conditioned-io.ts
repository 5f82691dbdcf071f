// Runs a client connection under a bad network: wraps a ClientIO so every message crosses a
// seeded LinkConditioner per direction (the browser client's netcode panel, the bots, the tests).
import { MsgType } from '../shared/protocol/ids.ts';
import { LinkConditioner, type ConditionerTimers, type Deliver, type LinkSettings } from '../shared/net/link-conditioner.ts';
import type { ClientIO, DatagramLike, WebSocketLike } from './io.ts';

const EMPTY = new Uint8Array(0);

/** Options of conditionClientIO. */
export interface ConditionedIOOptions {
  /** Live settings shared by both directions. */
  settings: LinkSettings;
  /** PRNG seed; the downstream direction uses seed + 1. */
  seed: number;
  /** Timers; without setTimer the owner must call `pump()` of the returned handle. */
  timers: ConditionerTimers;
  /**
   * Treat binary non-control messages on the WebSocket (inputs, snapshots, acks when the
   * datagram channel is not used) as datagrams: lossy, duplicable, reorderable. Lets a test put
   * WebSocket-only clients under loss. Default false: the WebSocket is an ordered, lossless stream
   * (loss shows up as delay there).
   */
  lossyWebSocket?: boolean;
}

/** A conditioned ClientIO and its two directions. */
export interface ConditionedIO {
  readonly io: ClientIO;
  /** Client to server. */
  readonly up: LinkConditioner;
  /** Server to client. */
  readonly down: LinkConditioner;
  /** Delivers everything due now in both directions (for fake-clock tests). */
  pump(): void;
}

/**
 * Wraps a ClientIO so every message of the Connection built on it crosses a conditioned link.
 * The WebSocket keeps its order (control messages are never lost); the datagram channel gets the
 * full treatment. Open and close events travel in order with the WebSocket's messages.
 */
export function conditionClientIO(inner: ClientIO, o: ConditionedIOOptions): ConditionedIO {
  const up = new LinkConditioner(o.settings, o.seed >>> 0, o.timers);
  const down = new LinkConditioner(o.settings, (o.seed + 1) >>> 0, o.timers);
  const lossyWs = o.lossyWebSocket === true;
  const reliableOnWs = (bytes: Uint8Array): boolean => !lossyWs || bytes.length === 0 || bytes[0] === MsgType.Control;
  const io: ClientIO = {
    nowMs: () => inner.nowMs(),
    openWebSocket(url: string): WebSocketLike {
      const ws = inner.openWebSocket(url);
      const proxy: WebSocketLike = {
        get binaryType() {
          return ws.binaryType;
        },
        set binaryType(v: string) {
          ws.binaryType = v;
        },
        get readyState() {
          return ws.readyState;
        },
        send(data: Uint8Array): void {
          up.send(data, reliableOnWs(data), sendWs);
        },
        close: (code?: number, reason?: string) => {
          up.clear();
          down.clear();
          ws.close(code, reason);
        },
        onopen: null,
        onmessage: null,
        onclose: null,
        onerror: null,
      };
      const sendWs: Deliver = (bytes) => {
        if (ws.readyState === 1) ws.send(bytes);
      };
      const msg = { data: EMPTY as unknown };
      const deliverWs: Deliver = (bytes) => {
        msg.data = bytes;
        proxy.onmessage?.(msg);
      };
      ws.onopen = (ev) => down.sendEvent(() => proxy.onopen?.(ev));
      ws.onmessage = (ev) => {
        const bytes = toBytes(ev.data);
        down.send(bytes, reliableOnWs(bytes), deliverWs);
      };
      ws.onclose = (ev) => down.sendEvent(() => proxy.onclose?.(ev));
      ws.onerror = (ev) => down.sendEvent(() => proxy.onerror?.(ev));
      return proxy;
    },
  };
  const openDatagram = inner.openDatagram;
  if (openDatagram) {
    io.openDatagram = async (opts): Promise<DatagramLike> => {
      const onMessage = opts.onMessage;
      const dg = await openDatagram({ ...opts, onMessage: (bytes) => down.send(bytes, false, onMessage) });
      let open = true;
      const sendDg: Deliver = (bytes) => {
        if (open) dg.send(bytes);
      };
      return {
        send: (bytes) => up.send(bytes, false, sendDg),
        close: () => {
          open = false;
          dg.close();
        },
      };
    };
  }
  return {
    io, up, down,
    pump: () => {
      up.pump();
      down.pump();
    },
  };
}

function toBytes(data: unknown): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return EMPTY;
}
