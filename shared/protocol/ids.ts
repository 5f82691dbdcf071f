// Message type ids (first byte of every message on either channel) and reject / close reason codes.

/** First byte of every binary message. */
export const MsgType = {
  /** Reliable control message: msgpack body follows (WebSocket only). */
  Control: 1,
  /** Client -> server input packet (unreliable channel, or WebSocket fallback). */
  Input: 2,
  /** Server -> client snapshot (unreliable channel, or WebSocket fallback). */
  Snapshot: 3,
  /** Client -> server snapshot acknowledgement (unreliable channel, or WebSocket fallback). */
  SnapshotAck: 4,
  /** Client -> server: what the client was drawing when it made recent inputs (lag compensation; shared/protocol/view-claim.ts). */
  ViewClaim: 5,
  /** Client -> server: where a spectator's camera looks (games with interest rules; shared/protocol/camera.ts). */
  Camera: 6,
} as const;
export type MsgTypeId = (typeof MsgType)[keyof typeof MsgType];

/** Why the server refused a hello. */
export const RejectCode = {
  BadMessage: 1,
  ProtocolVersion: 2,
  ConfigMismatch: 3,
  AuthFailed: 4,
  RoomFull: 5,
  ServerFull: 6,
  ShuttingDown: 7,
  BadRoomName: 8,
  /** A resume named an unknown, expired or already used token. */
  ResumeFailed: 9,
  /** Too many connections or sessions from the client's address (maxSessionsPerAddress). */
  AddressLimit: 10,
  /** Too many new rooms from this address, or on the whole server, just now; try again shortly. */
  RoomCreateLimit: 11,
  /** The hello asked for room parameters the game does not let clients set, or out of range. */
  BadRoomParams: 12,
  /** The seat in the hello is unknown, used, expired or for another room, or this server no longer owns its room (POST /matchmake again). */
  SeatRefused: 13,
  /** This server is a fleet member: a hello needs a seat from POST /matchmake. */
  SeatRequired: 14,
  /** The fleet registry cannot be reached to check the seat just now; try again shortly. */
  FleetUnavailable: 15,
} as const;
export type RejectCodeId = (typeof RejectCode)[keyof typeof RejectCode];

/** Why the server ended a session (sent in a `bye` control message before closing). */
export const CloseCode = {
  Shutdown: 1,
  TooManyBadMessages: 2,
  Kicked: 3,
  Timeout: 4,
  Backpressure: 5,
  // 6 is reserved: it was RoomClosed, which no server sent. Ids are wire values; do not reuse it.
  /** Sent messages far faster than allowed. */
  RateLimited: 7,
  /** Too many reliable messages went unacknowledged. */
  ResendOverflow: 8,
  /** The session was resumed on another connection. */
  Replaced: 9,
  /** An operator closed the room (POST /admin/close-room); the room is disposed. */
  RoomClosed: 10,
  /** The process drained (SIGTERM or POST /admin/drain) and its drain limit passed: join again through the matchmaker. */
  Drained: 11,
} as const;
export type CloseCodeId = (typeof CloseCode)[keyof typeof CloseCode];
