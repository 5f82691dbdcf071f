// Entry of the `tickwire` command (cli/tickwire.mjs imports it with tsx registered): dispatches to cli/commands.ts.
import { bots, buildClientCommand, create, dev, patch, start, USAGE } from './commands.ts';
import { replayCommand } from './replay.ts';

const [command, ...args] = process.argv.slice(2);

/** Runs one command. */
async function main(): Promise<void> {
  switch (command) {
    case 'start':
      return start(args);
    case 'dev':
      return dev(args);
    case 'build-client':
      return buildClientCommand(args);
    case 'bots':
      return bots(args);
    case 'create':
      return create(args);
    case 'patch':
      return patch();
    case 'replay':
      process.exitCode = replayCommand(args);
      return;
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      console.log(USAGE);
      return;
    default:
      console.error(`tickwire: unknown command ${JSON.stringify(command)}\n${USAGE}`);
      process.exit(2);
  }
}

main().catch((err: unknown) => {
  console.error(`tickwire ${command}: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
