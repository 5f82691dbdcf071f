// Process entry point: read config, pick the game, start the server, stop gracefully on signals.
// No game logic here.
import pino from 'pino';
import { GAMES } from '../games/index.ts';
import { loadServerConfig } from './config.ts';
import { TickwireServer } from './server.ts';

const bootLog = pino({ base: { service: 'tickwire' } });

async function main(): Promise<void> {
  let config;
  try {
    config = loadServerConfig();
  } catch (err) {
    bootLog.fatal({ err: (err as Error).message }, 'configuration rejected');
    process.exit(2);
  }
  const game = GAMES[config.game];
  if (!game) {
    bootLog.fatal({ game: config.game, known: Object.keys(GAMES) }, 'unknown game');
    process.exit(2);
  }
  const server = new TickwireServer(config, { game });
  try {
    await server.start();
  } catch (err) {
    server.log.fatal({ err: (err as Error).message }, 'server failed to start');
    process.exit(1);
  }
  let stopping = false;
  const shutdown = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    server.log.info({ signal }, 'shutting down');
    const hard = setTimeout(() => {
      server.log.error('shutdown took too long; exiting');
      process.exit(1);
    }, config.shutdownMs + 500);
    hard.unref();
    server.stop(`server received ${signal}`).then(
      () => process.exit(0),
      (err: unknown) => {
        server.log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

void main();
