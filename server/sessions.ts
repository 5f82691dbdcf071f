// Sessions and connections: a connection is one transport's link to a client (a WebSocket, a
// WebRTC datachannel); a session is a client that completed the handshake, with its token, its
// reliable and unreliable channel handles, its reliable-message state and its player in a room.
import { randomBytes } from 'node:crypto';
import type { ServerControl } from '../shared/protocol/control.ts';
import { ReliableReceiver, ReliableSender } from '../shared/reliable.ts';
import type { InputBuffer } from './inputs.ts';
import { TokenBucket } from './limits.ts';
import type { Player } from './player.ts';
import type { Room } from './rooms.ts';
import type { ChannelKind, Transport } from './net/transport.ts';

/** Per-client limiter state: the message token bucket and the malformed-message count. */
export class ClientLimits {
  /** Message budget of the rate limiter (token bucket). */
  rateTokens = 0;
  /** When the bucket was last refilled (ms), -1 before the first message. */
  rateRefillMs = -1;
  /** Messages dropped by the rate limiter in the current one-second window, and the window start. */
  rateDropped = 0;
  rateWindowMs = 0;
  /** Malformed messages received; past the configured limit the client is disconnected. */
  badMessages = 0;
}

/**
 * Life cycle of a connection: admitted (the transport is opening it), open, closed. A reliable
 * connection without a session is still in the handshake (no hello or resume accepted yet).
 */
export type ConnState = 'admitted' | 'open' | 'closed';

/** One transport connection. */
export class Conn {
  state: ConnState = 'admitted';
  /** The session this connection carries, once the handshake bound it. */
  session: Session | undefined;
  /** Limits this connection counts against: its own in the handshake, its session's afterwards. */
  limits = new ClientLimits();
  /** A hello or resume was accepted on this connection and is being processed. */
  helloSeen = false;
  /** Counted as a handshake (reliable, no session yet) in the per-address and global counts. */
  inHandshake = false;
  /** Counted as a pending datagram channel of its session's address. */
  pendingCounted = false;

  /**
   * @param id connection id (unique across every transport of the process)
   * @param transport the transport carrying it
   * @param remoteAddress peer address as the transport saw it
   * @param addressKey the key the address is counted under (server/limits.ts addressKey)
   * @param admittedMs when it was admitted (server clock, ms)
   */
  constructor(
    readonly id: number,
    readonly transport: Transport,
    readonly remoteAddress: string,
    readonly addressKey: string,
    readonly admittedMs: number,
  ) {}
}

/**
 * Life cycle of a session: authenticating (hello accepted, authenticate hook running), active in a
 * room, resuming (connection lost; the player is kept for the grace window), gone.
 */
export type SessionState = 'authenticating' | 'active' | 'resuming' | 'gone';

/** A client that completed (or is completing) the handshake. */
export class Session {
  state: SessionState = 'authenticating';
  /** 128-bit random token (hex) binding the WebRTC channel and resuming the session; rotated on each resume. */
  token: string = newToken();
  /** The reliable connection carrying control messages (a WebSocket); undefined while resuming. */
  reliable: Conn | undefined;
  /** The open datagram connection carrying unreliable traffic; undefined = the reliable one carries it. */
  unreliable: Conn | undefined;
  /** A datagram connection admitted and still opening (one at a time). */
  pendingDatagram: Conn | undefined;
  /** The client accepts a datagram channel (its hello did not ask for the WebSocket only). */
  datagramsWanted = true;
  /** The client takes the room's players as `roster` messages (hello.roster), else one `joined` each. */
  rosterWanted = false;
  /** A spectator: its player has no entity, its inputs are ignored. */
  spectator = false;
  /** When a resuming session is given up (server clock, ms). */
  resumeDeadlineMs = 0;
  /** Reliable control messages sent and not yet acknowledged (resent after a resume). */
  readonly reliableOut: ReliableSender<ServerControl>;
  /** Reliable control messages received (exactly once, in order). */
  readonly reliableIn = new ReliableReceiver();
  name = '';
  /** The player this session controls, once it joined a room. */
  player: Player | undefined;
  room: Room | undefined;
  /** Payload bytes received from and sent to the client, both channels. */
  bytesIn = 0;
  bytesOut = 0;
  /** Bytes per second in and out between the last two sampleRates calls (housekeeping: once a second). */
  bytesInPerSec = 0;
  bytesOutPerSec = 0;
  private rateAtMs = -1;
  private rateBytesIn = 0;
  private rateBytesOut = 0;
  /** Chat and game-event budgets (chatPerSec, eventsPerSec). */
  readonly chatBucket: TokenBucket;
  readonly eventBucket: TokenBucket;

  /**
   * @param id session id (the id games see)
   * @param remoteAddress address of the connection that said hello
   * @param addressKey the key that address is counted under
   * @param limits the limiter state, shared by every connection of the session
   * @param o the resend bounds and the chat and event rates
   */
  constructor(
    readonly id: number,
    readonly remoteAddress: string,
    readonly addressKey: string,
    readonly limits: ClientLimits,
    o: SessionLimits,
  ) {
    this.reliableOut = new ReliableSender<ServerControl>(o.maxUnackedMessages, o.maxUnackedBytes);
    this.chatBucket = new TokenBucket(o.chatPerSec, CHAT_BURST_SECONDS * o.chatPerSec);
    this.eventBucket = new TokenBucket(o.eventsPerSec, CHAT_BURST_SECONDS * o.eventsPerSec);
  }

  /** The player's entity id, or -1 when not in a room. */
  get eid(): number {
    return this.player?.eid ?? -1;
  }

  /** The player's input buffer, when in a room. */
  get inputs(): InputBuffer | undefined {
    return this.player?.inputs;
  }

  /** Turns the byte counters into per-second rates since the previous call. */
  sampleRates(nowMs: number): void {
    if (this.rateAtMs >= 0 && nowMs > this.rateAtMs) {
      const perMs = 1000 / (nowMs - this.rateAtMs);
      this.bytesInPerSec = (this.bytesIn - this.rateBytesIn) * perMs;
      this.bytesOutPerSec = (this.bytesOut - this.rateBytesOut) * perMs;
    }
    this.rateAtMs = nowMs;
    this.rateBytesIn = this.bytesIn;
    this.rateBytesOut = this.bytesOut;
  }

  /** Which channel carries this session's unreliable traffic now. */
  unreliableKind(): ChannelKind {
    return (this.unreliable ?? this.reliable)?.transport.kind ?? 'ws';
  }
}

/** Seconds of chat or events a session may send at once (the buckets' burst): a pasted paragraph, a quick exchange. */
export const CHAT_BURST_SECONDS = 4;

/** Per-session bounds from the config. */
export interface SessionLimits {
  readonly maxUnackedMessages: number;
  readonly maxUnackedBytes: number;
  readonly chatPerSec: number;
  readonly eventsPerSec: number;
}

/** A fresh 128-bit random token, hex. */
export function newToken(): string {
  return randomBytes(16).toString('hex');
}

/** All sessions by id and by token. */
export class SessionTable {
  private readonly byId = new Map<number, Session>();
  private readonly byToken = new Map<string, Session>();
  private nextId = 1;

  /**
   * Hands out ids from `id` on (a fleet member on Redis starts at a random one, so a session moved
   * here from another member rarely finds its id taken).
   */
  startIdsAt(id: number): void {
    this.nextId = Math.min(0xfffffffe, Math.max(1, Math.floor(id)));
  }

  /** Creates a session with a fresh id for the client behind `conn`. */
  create(conn: Conn, o: SessionLimits): Session {
    let id = this.nextId;
    while (this.byId.has(id)) id = id >= 0xfffffffe ? 1 : id + 1;
    this.nextId = id >= 0xfffffffe ? 1 : id + 1;
    const s = new Session(id, conn.remoteAddress, conn.addressKey, conn.limits, o);
    this.byId.set(id, s);
    this.byToken.set(s.token, s);
    return s;
  }

  /**
   * Registers a session moved here from another process of the fleet, with its id and the resume
   * token that process handed its client. Undefined when the id or the token is in use here.
   */
  adopt(id: number, token: string, remoteAddress: string, key: string, o: SessionLimits): Session | undefined {
    if (this.byId.has(id) || this.byToken.has(token)) return undefined;
    const s = new Session(id, remoteAddress, key, new ClientLimits(), o);
    s.token = token;
    this.byId.set(id, s);
    this.byToken.set(token, s);
    return s;
  }

  /** Replaces a session's token (the old one stops working). */
  rotateToken(s: Session): void {
    this.byToken.delete(s.token);
    s.token = newToken();
    this.byToken.set(s.token, s);
  }

  /** The session with this id. */
  get(id: number): Session | undefined {
    return this.byId.get(id);
  }

  /** The session holding this token. */
  byTokenValue(token: string): Session | undefined {
    return this.byToken.get(token);
  }

  /** Forgets a session. */
  delete(s: Session): void {
    s.state = 'gone';
    this.byId.delete(s.id);
    this.byToken.delete(s.token);
  }

  get size(): number {
    return this.byId.size;
  }

  values(): IterableIterator<Session> {
    return this.byId.values();
  }

  /** Active sessions whose unreliable traffic goes over `channel`. */
  countOn(channel: ChannelKind): number {
    let n = 0;
    for (const s of this.byId.values()) if (s.state === 'active' && s.unreliableKind() === channel) n++;
    return n;
  }
}

/** All connections by id; ids are unique across transports. */
export class ConnTable {
  private readonly byId = new Map<number, Conn>();
  private nextId = 1;

  /** Registers a new connection of `transport`. */
  admit(transport: Transport, remoteAddress: string, addressKey: string, nowMs: number): Conn {
    let id = this.nextId;
    while (this.byId.has(id)) id = id >= 0xfffffffe ? 1 : id + 1;
    this.nextId = id >= 0xfffffffe ? 1 : id + 1;
    const c = new Conn(id, transport, remoteAddress, addressKey, nowMs);
    this.byId.set(id, c);
    return c;
  }

  /** The connection with this id. */
  get(id: number): Conn | undefined {
    return this.byId.get(id);
  }

  /** Forgets a connection (its transport reported it closed). */
  delete(c: Conn): void {
    c.state = 'closed';
    this.byId.delete(c.id);
  }

  get size(): number {
    return this.byId.size;
  }

  values(): IterableIterator<Conn> {
    return this.byId.values();
  }
}
