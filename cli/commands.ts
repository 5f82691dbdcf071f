// The commands of `tickwire` for a game project: start (bundle the client with the project's games, then serve them), dev (start, restarted on changes), build-client, bots, create, patch (replay: cli/replay.ts).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildClient, DEFAULT_GAMES_MODULE } from '../client/build.ts';
import type { AnyGame } from '../shared/sim/game.ts';
import { runServer } from '../server/start.ts';
import { applyPatches, findPackageDir, PACKAGE_ROOT, patchProblems, pinProblems, requiredOverrides } from './patches.ts';

/** Usage of the command. */
export const USAGE = `usage: tickwire <command> [options]

  start [--games FILE] [--client-out DIR]   bundle the browser client with the games of FILE and start
                                            the server (configured as in tickwire's README: PORT, HOST,
                                            TICKWIRE_GAME, TICKWIRE_CONFIG, ...)
  dev [--games FILE] [--client-out DIR]     start, restarted whenever a file it loaded changes
  build-client [--games FILE] [--out DIR]   bundle the browser client only (default out: .tickwire/client)
  bots [--games FILE] [bots options]        headless bots against a server (tickwire bots --help)
  create DIR [--tickwire SPEC]              a new game project in DIR from the template
  patch                                     apply tickwire's dependency patches (a game project's postinstall)
  replay info FILE [--json]                 summary of a replay file: game, version, duration, ticks,
                                            keyframes, players, events, bytes per minute

  --games FILE   the registry module (it exports GAMES); default ./games.ts when it exists, else
                 tickwire's own demo games`;

/** Client bundle folder of a project, relative to its root. */
export const CLIENT_OUT = '.tickwire/client';

/** The registry module to use: `given`, else ./games.ts in `cwd` when it exists, else tickwire's own games/index.ts. Absolute. */
export function resolveRegistry(given: string | undefined, cwd: string = process.cwd()): string {
  if (given !== undefined) {
    const p = resolve(cwd, given);
    if (!existsSync(p)) throw new Error(`--games ${given}: no such file`);
    return p;
  }
  const local = resolve(cwd, 'games.ts');
  return existsSync(local) ? local : DEFAULT_GAMES_MODULE;
}

/** Imports a registry module and returns its GAMES; throws when it exports none or an empty one. */
export async function loadRegistry(path: string): Promise<Readonly<Record<string, AnyGame>>> {
  const mod = (await import(pathToFileURL(path).href)) as { GAMES?: unknown };
  const games = mod.GAMES;
  if (typeof games !== 'object' || games === null || Object.keys(games).length === 0) {
    throw new Error(`${path} must export GAMES, a registry of one game or more (defineGames([...]) from tickwire/game)`);
  }
  return games as Readonly<Record<string, AnyGame>>;
}

function fail(message: string, code = 2): never {
  console.error(`tickwire: ${message}`);
  process.exit(code);
}

function options(args: string[], extra: Record<string, { type: 'string' }>): { games?: string; [k: string]: string | undefined } {
  try {
    return parseArgs({ args, options: { games: { type: 'string' }, ...extra }, strict: true }).values as { games?: string };
  } catch (err) {
    fail(`${(err as Error).message}\n${USAGE}`);
  }
}

/** Refuses to go on when a patched dependency lacks its patch. */
function requirePatches(): void {
  const problems = patchProblems();
  if (problems.length > 0) fail(`dependency patches are missing (${problems.join('; ')}); run \`npx tickwire patch\``, 1);
}

/** `tickwire start`: bundles the client with the registry, then runs the server until a signal. */
export async function start(args: string[]): Promise<void> {
  const o = options(args, { 'client-out': { type: 'string' } });
  requirePatches();
  let registry: string;
  let games: Readonly<Record<string, AnyGame>>;
  try {
    registry = resolveRegistry(o.games);
    games = await loadRegistry(registry);
  } catch (err) {
    fail((err as Error).message);
  }
  const built = await buildClient(resolve(o['client-out'] ?? CLIENT_OUT), { registry });
  console.error(`tickwire: client bundled with ${registry} into ${built.outDir}`);
  await runServer({ games, config: { clientDir: built.outDir } });
}

/** Runs `node args` with this terminal, forwarding SIGINT and SIGTERM; exits with its code. */
function runChild(args: string[]): void {
  const child = spawn(process.execPath, args, { stdio: 'inherit' });
  const forward = (signal: NodeJS.Signals): void => {
    child.kill(signal);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

/** `tickwire dev`: `start` under tsx watch (restarted when a loaded file of the project changes). */
export function dev(args: string[]): void {
  options(args, { 'client-out': { type: 'string' } });
  const tsx = findPackageDir('tsx', PACKAGE_ROOT);
  if (!tsx) fail('tsx is not installed', 1);
  runChild([join(tsx, 'dist/cli.mjs'), 'watch', '--clear-screen=false', join(PACKAGE_ROOT, 'cli/main.ts'), 'start', ...args]);
}

/** `tickwire build-client`: bundles the client with the registry. */
export async function buildClientCommand(args: string[]): Promise<void> {
  const o = options(args, { out: { type: 'string' } });
  let registry: string;
  try {
    registry = resolveRegistry(o.games);
  } catch (err) {
    fail((err as Error).message);
  }
  const b = await buildClient(resolve(o.out ?? CLIENT_OUT), { registry });
  console.log(`client built with ${registry}: ${b.outDir} (main.js ${(b.bundleBytes / 1024).toFixed(0)} KiB)`);
}

/** `tickwire bots`: the bots CLI (tools/bots/cli.ts) with the project's registry. */
export function bots(args: string[]): void {
  const rest = [...args];
  const i = rest.indexOf('--games');
  let given: string | undefined;
  if (i >= 0) {
    given = rest[i + 1];
    rest.splice(i, 2);
  }
  let registry: string;
  try {
    registry = resolveRegistry(given);
  } catch (err) {
    fail((err as Error).message);
  }
  const games = registry === DEFAULT_GAMES_MODULE ? [] : ['--games', registry];
  runChild(['--import', import.meta.resolve('tsx'), join(PACKAGE_ROOT, 'tools/bots/cli.ts'), ...rest, ...games]);
}

/** `tickwire create`: the creator (create/index.mjs, also published as create-tickwire). */
export async function create(args: string[]): Promise<void> {
  const mod = (await import(pathToFileURL(join(PACKAGE_ROOT, 'create/index.mjs')).href)) as { main(argv: string[]): Promise<number> };
  process.exitCode = await mod.main(args);
}

/** `tickwire patch`: applies the dependency patches and checks the version pins. */
export function patch(): void {
  const r = applyPatches();
  console.log(r.output.trim());
  if (!r.ok) fail('applying patches/ to the dependencies failed', 1);
  const pins = pinProblems();
  if (pins.length > 0) console.warn(`tickwire: ${pins.join('; ')}. Add to package.json and install again:\n  "overrides": ${JSON.stringify(requiredOverrides())}`);
}
