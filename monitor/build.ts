// Bundles the monitor page with esbuild, in memory: monitor/page.ts (with the admin API's types
// and paths from shared/protocol/admin.ts) into one ES module, beside monitor/index.html. The
// server builds it once per process, on the first GET /monitor (server/admin.ts).
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));

/** The built page: its HTML and its script (served at /monitor and /monitor/monitor.js). */
export interface MonitorBuild {
  readonly html: string;
  readonly js: string;
}

/** Builds the monitor page; rejects when the sources do not build. */
export async function buildMonitor(): Promise<MonitorBuild> {
  const result = await build({
    entryPoints: [join(here, 'page.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: ['es2020'],
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const js = result.outputFiles[0]?.text;
  if (js === undefined) throw new Error('esbuild wrote no monitor bundle');
  return { html: await readFile(join(here, 'index.html'), 'utf8'), js };
}
