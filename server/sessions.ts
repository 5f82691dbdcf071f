// Sessions: one per connected client, from WebSocket open to close. Holds identity, the room and
// entity, the input buffer, snapshot acks, channel choice and per-client counters.
import { randomBytes } from 'node:crypto';
import type { ChannelKind } from './net/transport.ts';
import type { ServerControl } from '../shared/protocol/control.ts';
import { ReliableReceiver, ReliableSender } from '../shared/reliable.ts';
import { InputBuffer } from './inputs.ts';
import type { SnapshotClient } from './snapshots.ts';
import type { Room } from './rooms.ts';

/**
 * Life cycle: handshake (WebSocket open, no hello yet), authenticating, active in a room,
 * resuming (connection lost; entity kept for the grace window), gone.
 */
export type SessionState = 'handshake' | 'authenticating' | 'active' | 'resuming' | 'gone';

/** A connected client. */
export class Session implements SnapshotClient {
  state: SessionState = 'handshake';
  /** 128-bit random token (hex) binding the WebRTC channel and resuming the session; rotated on each resume. */
  token: string = newToken();
  /** Id of the WebSocket currently carrying this session (0 = none, e.g. while resuming). */
  socketId = 0;
  /** When a resuming session is given up (server clock, ms). */
  resumeDeadlineMs = 0;
  /** Reliable control messages sent and not yet acknowledged (resent after a resume). */
  readonly reliableOut = new ReliableSender<ServerControl>();
  /** Reliable control messages received (exactly once, in order). */
  readonly reliableIn = new ReliableReceiver();
  /** Message budget of the rate limiter (token bucket). */
  rateTokens = 0;
  rateRefillMs = -1;
  /** Messages dropped by the rate limiter in the current one-second window, and the window start. */
  rateDropped = 0;
  rateWindowMs = 0;
  name = '';
  room: Room | undefined;
  /** The player's entity id, or -1 before joining. */
  eid = -1;
  /** The client asked never to use WebRTC. */
  wsOnly = false;
  /** A WebRTC channel is open for this session. */
  rtcOpen = false;
  /** Channel the client currently wants unreliable traffic on. */
  unreliable: ChannelKind = 'ws';
  inputs: InputBuffer | undefined;
  ackedTick = -1;
  /** When the last snapshot ack arrived (server clock, ms; 0 = not yet watched). */
  lastAckMs = 0;
  ackedBits = 0;
  inputAck = 0;
  hasInputAck = false;
  /** Malformed messages received; past the configured limit the client is disconnected. */
  badMessages = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** Bound sender for unreliable packets, created once (no per-snapshot closure). */
  sendUnreliable: (bytes: Uint8Array) => void = () => undefined;

  constructor(
    readonly id: number,
    readonly remoteAddress: string,
  ) {}
}

/** A fresh 128-bit random token, hex. */
export function newToken(): string {
  return randomBytes(16).toString('hex');
}

/** All sessions by id, by token and by the WebSocket carrying them. */
export class SessionTable {
  private readonly byId = new Map<number, Session>();
  private readonly byToken = new Map<string, Session>();
  private readonly bySocket = new Map<number, Session>();
  private nextId = 1;

  /** Creates a session with a fresh id. */
  create(remoteAddress: string): Session {
    const id = this.nextId;
    this.nextId = this.nextId >= 0xfffffffe ? 1 : this.nextId + 1;
    const s = new Session(id, remoteAddress);
    this.byId.set(id, s);
    this.byToken.set(s.token, s);
    this.bindSocket(s, id);
    return s;
  }

  /** The session carried by WebSocket `socketId`. */
  bySocketId(socketId: number): Session | undefined {
    return this.bySocket.get(socketId);
  }

  /** Makes `socketId` carry `s`. */
  bindSocket(s: Session, socketId: number): void {
    if (s.socketId) this.bySocket.delete(s.socketId);
    s.socketId = socketId;
    this.bySocket.set(socketId, s);
  }

  /** Detaches `s` from its WebSocket (events of that socket are ignored from now on). */
  unbindSocket(s: Session): void {
    if (s.socketId && this.bySocket.get(s.socketId) === s) this.bySocket.delete(s.socketId);
    s.socketId = 0;
  }

  /** Replaces a session's token (the old one stops working). */
  rotateToken(s: Session): void {
    this.byToken.delete(s.token);
    s.token = newToken();
    this.byToken.set(s.token, s);
  }

  get(id: number): Session | undefined {
    return this.byId.get(id);
  }

  byTokenValue(token: string): Session | undefined {
    return this.byToken.get(token);
  }

  /** Forgets a session. */
  delete(s: Session): void {
    s.state = 'gone';
    this.unbindSocket(s);
    this.byId.delete(s.id);
    this.byToken.delete(s.token);
  }

  get size(): number {
    return this.byId.size;
  }

  values(): IterableIterator<Session> {
    return this.byId.values();
  }

  /** Sessions whose unreliable traffic goes over `channel`. */
  countOn(channel: ChannelKind): number {
    let n = 0;
    for (const s of this.byId.values()) if (s.state === 'active' && s.unreliable === channel) n++;
    return n;
  }
}
