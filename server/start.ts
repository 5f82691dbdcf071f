// Programmatic server entry (`tickwire/server`): start a server for a registry of games (startServer), or run one as the process with exit codes and graceful signals (runServer).
import pino, { type Logger } from 'pino';
import type { AnyGame } from '../shared/sim/game.ts';
import { DEFAULT_SERVER_CONFIG, loadServerConfig, OTHER_ENV, type ServerConfig } from './config.ts';
import { TickwireServer, type ServerOptions } from './server.ts';
import { handleSignals } from './signals.ts';

export { TickwireServer } from './server.ts';
export type { AuthResult, ServerApi, ServerHooks, ServerOptions, ServerState } from './server.ts';
export { DEFAULT_SERVER_CONFIG, loadServerConfig, type ServerConfig } from './config.ts';
export { LoopbackTransport, loopbackClientIO } from './net/loopback.ts';
export type { Session } from './sessions.ts';

/** Games by name (a registry module's `GAMES`). */
export type Games = Readonly<Record<string, AnyGame>>;

/** How to start a server besides its game. */
export interface StartOptions extends Omit<ServerOptions, 'game'> {
  /** The games this server can host; the config's `game` picks one (see pickGame). */
  games: Games;
  /** Environment the config is read from. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Config options over the environment and the config file (e.g. `{ port: 0 }`). */
  config?: Partial<ServerConfig>;
}

/**
 * The config for a registry: defaults, TICKWIRE_CONFIG's file, the environment, then `overrides`.
 * When nothing chose a game (no TICKWIRE_GAME, no `game` override) and the default game is not in
 * the registry, the registry's first game is hosted. Throws listing every problem.
 */
export function configFor(games: Games, env: NodeJS.ProcessEnv = process.env, overrides: Partial<ServerConfig> = {}): ServerConfig {
  const names = Object.keys(games);
  if (names.length === 0) throw new Error('the game registry is empty');
  const config = loadServerConfig(env, overrides);
  const chosen = Boolean(env[OTHER_ENV.game]) || overrides.game !== undefined;
  if (!chosen && config.game === DEFAULT_SERVER_CONFIG.game && !Object.hasOwn(games, config.game)) return loadServerConfig(env, { ...overrides, game: names[0] });
  return config;
}

/** The game `config.game` names in `games`; throws naming the known ones. */
export function pickGame(games: Games, config: ServerConfig): AnyGame {
  const game = Object.hasOwn(games, config.game) ? games[config.game] : undefined;
  if (!game) throw new Error(`unknown game ${JSON.stringify(config.game)}; known: ${Object.keys(games).join(', ')}`);
  return game;
}

/** Builds the config, picks the game and starts a server (transports and loop). Resolves once it listens. */
export async function startServer(o: StartOptions): Promise<TickwireServer> {
  const { games, env, config: overrides, ...options } = o;
  const config = configFor(games, env ?? process.env, overrides);
  const server = new TickwireServer(config, { ...options, game: pickGame(games, config) });
  await server.start();
  return server;
}

/**
 * Runs a server as this process: a rejected config or an unknown game exits with code 2, a failed
 * start with 1; SIGTERM drains it (server/signals.ts), SIGINT stops it gracefully (every client
 * told) within shutdownMs; then the process exits 0.
 */
export async function runServer(o: StartOptions): Promise<TickwireServer> {
  const bootLog: Logger = o.logger ?? pino({ base: { service: 'tickwire' } });
  let config: ServerConfig;
  let game: AnyGame;
  try {
    config = configFor(o.games, o.env ?? process.env, o.config);
    game = pickGame(o.games, config);
  } catch (err) {
    bootLog.fatal({ err: (err as Error).message }, 'configuration rejected');
    process.exit(2);
  }
  const { games: _games, env: _env, config: _config, ...options } = o;
  const server = new TickwireServer(config, { ...options, game });
  try {
    await server.start();
  } catch (err) {
    server.log.fatal({ err: (err as Error).message }, 'server failed to start');
    process.exit(1);
  }
  handleSignals(server);
  return server;
}
