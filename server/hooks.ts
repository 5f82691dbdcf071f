// What a game server plugs into Tickwire (authenticate, game events) and the server API those
// hooks may call. Kept apart from the server class so inbound dispatch can call hooks without
// importing the server.
import type { ServerControl } from '../shared/protocol/control.ts';
import type { CloseCodeId } from '../shared/protocol/ids.ts';
import type { Logger } from 'pino';
import type { RoomManager } from './rooms.ts';
import type { Session, SessionTable } from './sessions.ts';

/** What an authenticate hook may answer: refuse, accept, or accept with a name to use. */
export type AuthResult = boolean | { name?: string };

/** What a hook may do with the server. */
export interface ServerApi {
  readonly sessions: SessionTable;
  readonly rooms: RoomManager;
  readonly log: Logger;
  /** Sends a control message to a session (reliable ones are sequenced and survive a resume). */
  sendControl(s: Session, msg: ServerControl): void;
  /** Tells the client why, then closes its connections and ends its session. */
  disconnect(s: Session, code: CloseCodeId, reason: string): void;
}

/** Hooks a game server can plug in. */
export interface ServerHooks {
  /** Checks a hello's auth token (undefined when none was sent). Default: accept everyone. */
  authenticate?(token: string | undefined, info: { name: string; remoteAddress: string }): AuthResult | Promise<AuthResult>;
  /** A client sent a game event (reliable); runs at the start of a tick, before inputs. */
  onEvent?(server: ServerApi, session: Session, name: string, data: unknown): void;
}
