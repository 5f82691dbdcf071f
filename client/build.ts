// Bundles the browser client with esbuild: client/main.ts (and the shared code it imports) into
// one ES module beside a copy of index.html. `npm run build:client` writes client/dist/.
import { copyFile, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

/** Result of a build. */
export interface ClientBuild {
  /** Directory written. */
  outDir: string;
  /** Size of the bundle, bytes. */
  bundleBytes: number;
}

/** Builds the client into `outDir` (default client/dist): main.js, main.js.map and index.html. */
export async function buildClient(outDir: string = join(here, 'dist')): Promise<ClientBuild> {
  await mkdir(outDir, { recursive: true });
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
  });
  await copyFile(join(here, 'index.html'), join(outDir, 'index.html'));
  const bundleBytes = Object.entries(result.metafile.outputs).find(([f]) => f.endsWith('main.js'))?.[1].bytes ?? 0;
  return { outDir: resolve(outDir), bundleBytes };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  buildClient().then(
    (b) => console.log(`client built: ${b.outDir} (main.js ${(b.bundleBytes / 1024).toFixed(0)} KiB)`),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
