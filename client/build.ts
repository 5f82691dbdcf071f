// Bundles the browser client with esbuild: client/main.ts (and the shared code it imports) into
// one ES module beside a copy of index.html. `npm run build:client` writes client/dist/; a game
// project's build bundles its own registry in place of games/index.ts (BuildOptions.games).
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build, type Plugin } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
/** The game registry the client bundles unless BuildOptions.games names another. */
export const DEFAULT_GAMES_MODULE = resolve(here, '../games/index.ts');

/** Result of a build. */
export interface ClientBuild {
  /** Directory written. */
  outDir: string;
  /** Size of the bundle, bytes. */
  bundleBytes: number;
}

/** Options of a client build. */
export interface BuildOptions {
  /**
   * Module bundled wherever the client imports games/index.ts: a game project's registry (it must
   * export `GAMES`). Default: this package's games/index.ts.
   */
  games?: string;
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
export async function buildClient(outDir: string = join(here, 'dist'), o: BuildOptions = {}): Promise<ClientBuild> {
  await mkdir(outDir, { recursive: true });
  const registry = o.games !== undefined ? resolve(o.games) : undefined;
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
    plugins: registry !== undefined && registry !== DEFAULT_GAMES_MODULE ? [gamesRegistryPlugin(registry)] : [],
  });
  await copyFile(join(here, 'index.html'), join(outDir, 'index.html'));
  const bundleBytes = Object.entries(result.metafile.outputs).find(([f]) => f.endsWith('main.js'))?.[1].bytes ?? 0;
  return { outDir: resolve(outDir), bundleBytes };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  // tsx client/build.ts [--games REGISTRY_MODULE] [--out DIR]
  const arg = (name: string): string | undefined => {
    const i = process.argv.indexOf(name);
    return i > 1 ? process.argv[i + 1] : undefined;
  };
  const games = arg('--games');
  buildClient(arg('--out'), games !== undefined ? { games } : {}).then(
    (b) => console.log(`client built: ${b.outDir} (main.js ${(b.bundleBytes / 1024).toFixed(0)} KiB)`),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
