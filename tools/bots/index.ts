// The bots as a library (`tickwire/bots`): run headless bots against a server, register bot scripts, and the Node client I/O (WebSocket and WebRTC) for the client netcode.
export { fetchServerConfig, parseBotsArgs, runBots } from './cli.ts';
export type { BotsCliOptions, BotsRunResult } from './cli.ts';
export { BotPool } from './pool.ts';
export type { BotRunOptions } from './pool.ts';
export { getScript, registerScript, scriptNames } from './scripts.ts';
export type { BotBrain, BotScript, BotScriptContext, ScriptWorld } from './scripts.ts';
export type { BotSummary } from '../measure/summary.ts';
export { nodeClientIO } from '../node-client/io.ts';
