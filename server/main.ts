// Process entry point: read config, pick the game, start the server, stop gracefully on signals.
// Logs are readable lines on a terminal, JSON otherwise (server/log.ts).
// No game logic here.
import { GAMES } from '../games/index.ts';
import { ConfigError, loadServerConfig } from './config.ts';
import { createLogger } from './log.ts';
import { TickwireServer } from './server.ts';
import { handleSignals } from './signals.ts';

const bootLog = createLogger('info');

/**
 * Stops before starting: on a terminal the problem as plain lines on stderr, otherwise one fatal
 * JSON log line (for log collectors), then exit code 2.
 */
function refuse(text: string, fields: Record<string, unknown>, msg: string): never {
  if (process.stdout.isTTY) process.stderr.write(`tickwire: ${text}\n`);
  else bootLog.fatal(fields, msg);
  process.exit(2);
}

async function main(): Promise<void> {
  let config;
  try {
    config = loadServerConfig();
  } catch (err) {
    const errors = err instanceof ConfigError ? err.errors : undefined;
    refuse((err as Error).message, { err: (err as Error).message, ...(errors ? { errors } : {}) }, 'configuration rejected');
  }
  const game = GAMES[config.game];
  if (!game) refuse(`unknown game ${JSON.stringify(config.game)} (TICKWIRE_GAME); known: ${Object.keys(GAMES).join(', ')}`, { game: config.game, known: Object.keys(GAMES) }, 'unknown game');
  const server = new TickwireServer(config, { game, logger: createLogger(config.logLevel) });
  try {
    await server.start();
  } catch (err) {
    server.log.fatal({ err: (err as Error).message }, 'server failed to start');
    process.exit(1);
  }
  handleSignals(server);
}

void main();
