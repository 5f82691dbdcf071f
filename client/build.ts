// Bundles the browser client with esbuild: client/main.ts (and the shared code and games it imports)
// into one ES module beside a copy of index.html. Two ways to bring games of one's own:
// - `registry`: a module exporting `GAMES` bundled wherever the client imports games/index.ts (a
//   game project's games.ts; `--games path` on the command line);
// - `games`: more game modules bundled beside the registry (`--game path`, repeatable): every game
//   definition they export becomes playable, one of the same name replaces the registry's.
// `npm run build:client [-- --game path/to/game.ts ...] [--games registry.ts] [--out dir]` writes client/dist/.
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build, type Plugin } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const EXTRA_GAMES_FILE = join(here, 'extra-games.ts');
/** The game registry the client bundles unless ClientBuildOptions.registry names another. */
export const DEFAULT_GAMES_MODULE = resolve(here, '../games/index.ts');

/** Result of a build. */
export interface ClientBuild {
  /** Absolute output directory. */
  outDir: string;
  /** Size of main.js in bytes. */
  bundleBytes: number;
}

/** Options of buildClient. */
export interface ClientBuildOptions {
  /**
   * More game modules to bundle (paths, relative to the working directory, or absolute): every
   * game definition a module exports (default or named, or an array of them) becomes playable, as
   * if games/index.ts registered it; one of the same name replaces the registry's.
   */
  games?: readonly string[];
  /**
   * Module bundled wherever the client imports games/index.ts: a game project's registry (it must
   * export `GAMES`). Default: this package's games/index.ts.
   */
  registry?: string;
}

/** Replaces client/extra-games.ts with a module importing the given game modules. */
function extraGames(modules: readonly string[]): Plugin {
  return {
    name: 'tickwire-extra-games',
    setup(b) {
      b.onResolve({ filter: /extra-games\.ts$/ }, (args) => {
        const path = resolve(args.resolveDir, args.path);
        return path === EXTRA_GAMES_FILE ? { path, namespace: 'tickwire-extra-games' } : undefined;
      });
      b.onLoad({ filter: /.*/, namespace: 'tickwire-extra-games' }, () => ({
        contents: [
          ...modules.map((m, i) => `import * as m${i} from ${JSON.stringify(m)};`),
          `export const EXTRA_GAME_MODULES = [${modules.map((_, i) => `m${i}`).join(', ')}];`,
        ].join('\n'),
        resolveDir: here,
        loader: 'ts',
      }));
    },
  };
}

/** An esbuild plugin that resolves every import of games/index.ts to `registry` (an absolute path). */
export function gamesRegistryPlugin(registry: string): Plugin {
  return {
    name: 'tickwire-games-registry',
    setup(b) {
      b.onResolve({ filter: /(^|[\\/])index(\.ts)?$/ }, (args) => {
        if (!args.resolveDir) return undefined;
        const p = resolve(args.resolveDir, args.path);
        return p === DEFAULT_GAMES_MODULE || `${p}.ts` === DEFAULT_GAMES_MODULE ? { path: registry } : undefined;
      });
    },
  };
}

/** Builds the client into `outDir` (default client/dist): main.js, main.js.map and index.html. */
export async function buildClient(outDir: string = join(here, 'dist'), o: ClientBuildOptions = {}): Promise<ClientBuild> {
  await mkdir(outDir, { recursive: true });
  const games = (o.games ?? []).map((g) => resolve(g));
  const registry = o.registry !== undefined ? resolve(o.registry) : undefined;
  const plugins: Plugin[] = [];
  if (games.length > 0) plugins.push(extraGames(games));
  if (registry !== undefined && registry !== DEFAULT_GAMES_MODULE) plugins.push(gamesRegistryPlugin(registry));
  const result = await build({
    entryPoints: [join(here, 'main.ts')],
    outfile: join(outDir, 'main.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2020'],
    minify: true,
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
    metafile: true,
    plugins,
  });
  await copyFile(join(here, 'index.html'), join(outDir, 'index.html'));
  const bundleBytes = Object.entries(result.metafile.outputs).find(([f]) => f.endsWith('main.js'))?.[1].bytes ?? 0;
  return { outDir: resolve(outDir), bundleBytes };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  let values: { game?: string[]; games?: string; out?: string };
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: { game: { type: 'string', multiple: true }, games: { type: 'string' }, out: { type: 'string' } },
      strict: true,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\nusage: npm run build:client -- [--game path/to/game.ts ...] [--games registry.ts] [--out dir]`);
    process.exit(2);
  }
  const o: ClientBuildOptions = { games: values.game ?? [], ...(values.games !== undefined ? { registry: values.games } : {}) };
  buildClient(values.out ?? join(here, 'dist'), o).then(
    (b) => console.log(`client built: ${b.outDir} (main.js ${(b.bundleBytes / 1024).toFixed(0)} KiB)${values.game?.length ? ` with ${values.game.join(', ')}` : ''}`),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
