// Sessions: one per connected client, from WebSocket open to close. Holds identity, the room and
// entity, the input buffer, snapshot acks, channel choice and per-client counters.
import { randomBytes } from 'node:crypto';
import type { ChannelKind } from './net/transport.ts';
import { InputBuffer } from './inputs.ts';
import type { SnapshotClient } from './snapshots.ts';
import type { Room } from './rooms.ts';

/** Life cycle: handshake (WebSocket open, no hello yet), authenticating, active in a room, gone. */
export type SessionState = 'handshake' | 'authenticating' | 'active' | 'gone';

/** A connected client. */
export class Session implements SnapshotClient {
  state: SessionState = 'handshake';
  /** 128-bit random token (hex) binding the WebRTC channel (and later resumes) to this session. */
  readonly token: string = randomBytes(16).toString('hex');
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

/** All sessions by id and by token. */
export class SessionTable {
  private readonly byId = new Map<number, Session>();
  private readonly byToken = new Map<string, Session>();
  private nextId = 1;

  /** Creates a session with a fresh id. */
  create(remoteAddress: string): Session {
    const id = this.nextId;
    this.nextId = this.nextId >= 0xfffffffe ? 1 : this.nextId + 1;
    const s = new Session(id, remoteAddress);
    this.byId.set(id, s);
    this.byToken.set(s.token, s);
    return s;
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
