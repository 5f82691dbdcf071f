// The client netcode SDK (`tickwire/client`): the connection, the full client (clock sync, prediction, interpolation), the I/O contract and the link conditioner wrapper.
export { ClientNetcode } from './netcode.ts';
export type { NetcodeOptions, NetcodeToggles, NetStats, RemoteSampler } from './netcode.ts';
export { Connection, DEFAULT_WEBRTC_TIMEOUT_MS } from './connection.ts';
export type { ConnectionCounters, ConnectionEvents, ConnectionOptions, ConnectionState } from './connection.ts';
export type { ClientIO, DatagramLike, DatagramOpenOptions, WebSocketLike } from './io.ts';
export { conditionClientIO } from './conditioned-io.ts';
export type { ConditionedIO, ConditionedIOOptions } from './conditioned-io.ts';
export { EntityView } from './interpolation.ts';
export type { InterpolationOptions } from './interpolation.ts';
export type { PredictionOptions } from './prediction.ts';
