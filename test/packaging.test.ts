// The published packages without installing them: the exports map and the files list, the template's pins and versions against this package's, the client build's registry option, the server entry's game choice, and the dependency patches applied where npm put the patched package (hoisted or nested), idempotently.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_GAMES_MODULE, gamesRegistryPlugin } from '../client/build.ts';
import { applyPatches, findPackageDir, isDependencyInstall, listPatches, patchProblems, pinProblems } from '../cli/patches.ts';
import { resolveRegistry } from '../cli/commands.ts';
import { GAMES } from '../games/index.ts';
import { configFor, pickGame } from '../server/start.ts';
import { defineGames } from '../shared/game-api.ts';
import { orbit } from '../games/orbit.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string; private?: boolean; exports: Record<string, string | { types: string; default: string }>; bin: Record<string, string>; files: string[];
  overrides: Record<string, string>; scripts: Record<string, string>;
};
const types = JSON.parse(readFileSync(join(ROOT, 'tsconfig.types.json'), 'utf8')) as { files: string[] };
const template = JSON.parse(readFileSync(join(ROOT, 'create/templates/game/package.json'), 'utf8')) as { dependencies: Record<string, string>; overrides: Record<string, string>; scripts: Record<string, string> };
const creator = JSON.parse(readFileSync(join(ROOT, 'create/package.json'), 'utf8')) as { name: string; version: string };

const temps: string[] = [];
const temp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'tickwire-packaging-'));
  temps.push(d);
  return d;
};
afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Whether `path` (relative to the root) is shipped by the files list (entries: folders ending in /, files, or dir/*.ext). */
function shipped(path: string): boolean {
  return pkg.files.some((f) => (f.endsWith('/') ? path.startsWith(f) : f.includes('*') ? new RegExp(`^${f.replace('.', '\\.').replace('*', '[^/]+')}$`).test(path) : path === f));
}

describe('the tickwire package', () => {
  it('is publishable, and every export and the bin exist and are shipped, each export with its generated declarations', () => {
    expect(pkg.private).toBeUndefined();
    const sources: Record<string, string> = { ...pkg.bin };
    for (const [entry, target] of Object.entries(pkg.exports)) {
      if (typeof target === 'string') {
        expect(entry).toBe('./package.json');
        continue;
      }
      sources[entry] = target.default;
      const src = target.default.replace(/^\.\//, '');
      expect(target.types, entry).toBe(`./types/${src.replace(/\.ts$/, '.d.ts')}`);
      expect(types.files, `${src} is not in tsconfig.types.json`).toContain(src);
    }
    expect(types.files).toHaveLength(Object.keys(pkg.exports).length - 1);
    expect(pkg.scripts.prepack).toContain('tsc -p tsconfig.types.json');
    for (const [entry, file] of Object.entries(sources)) {
      const rel = file.replace(/^\.\//, '');
      expect(existsSync(join(ROOT, rel)), entry).toBe(true);
      expect(shipped(rel), `${entry} -> ${rel} is not in "files"`).toBe(true);
    }
    for (const f of ['cli/postinstall.ts', 'patches/', 'create/index.mjs', 'create/package.json', 'create/templates/', 'client/index.html', 'tsconfig.json', 'types/']) expect(shipped(f), f).toBe(true);
  });

  it('the template and the creator carry this version and its pins', () => {
    expect(creator.name).toBe('create-tickwire');
    expect(creator.version).toBe(pkg.version);
    expect(template.dependencies.tickwire).toBe(pkg.version);
    expect(template.overrides).toEqual(pkg.overrides);
    expect(template.scripts.postinstall).toBe('tickwire patch');
  });
});

describe('client build: the registry option', () => {
  it('bundles the given registry wherever games/index.ts is imported', async () => {
    const dir = temp();
    const registry = join(dir, 'games.ts');
    writeFileSync(registry, "export const GAMES = { 'project-game': { name: 'project-game' } };\n");
    const entry = join(dir, 'entry.ts');
    writeFileSync(entry, `import { GAMES } from ${JSON.stringify(DEFAULT_GAMES_MODULE)};\nconsole.log(Object.keys(GAMES).join(','));\n`);
    const r = await build({ entryPoints: [entry], bundle: true, write: false, format: 'esm', platform: 'browser', logLevel: 'silent', plugins: [gamesRegistryPlugin(registry)] });
    const text = r.outputFiles[0].text;
    expect(text).toContain('project-game');
    expect(text).not.toContain('arena-v1');
  });

  it('the command line finds ./games.ts, else the demo games', () => {
    const dir = temp();
    expect(resolveRegistry(undefined, dir)).toBe(DEFAULT_GAMES_MODULE);
    writeFileSync(join(dir, 'games.ts'), '');
    expect(resolveRegistry(undefined, dir)).toBe(join(dir, 'games.ts'));
    expect(() => resolveRegistry('nope.ts', dir)).toThrow(/no such file/);
  });
});

describe('server entry: the hosted game', () => {
  const own = defineGames([{ ...orbit, name: 'own' }]);

  it('hosts the registry\'s first game when nothing names one and the default is not registered', () => {
    expect(configFor(own, {}).game).toBe('own');
    // this package's registry holds the default (tag, the demo)
    expect(configFor(GAMES, {}).game).toBe('tag');
  });

  it('keeps a game named by TICKWIRE_GAME or an override, and refuses one not registered', () => {
    const cfg = configFor(own, { TICKWIRE_GAME: 'arena-v1' });
    expect(cfg.game).toBe('arena-v1');
    expect(() => pickGame(own, cfg)).toThrow(/unknown game "arena-v1"; known: own/);
    expect(configFor(GAMES, {}, { game: 'orbit' }).game).toBe('orbit');
  });

  it('defineGames refuses two games with one name', () => {
    expect(() => defineGames([orbit, orbit])).toThrow(/two games are named "orbit"/);
  });
});

describe('dependency patches', () => {
  it('lists patches/ by package and version', () => {
    expect(listPatches(ROOT).map((p) => `${p.pkg}@${p.version}`)).toEqual(['@geckos.io/client@3.1.0', '@geckos.io/server@3.1.0']);
    expect(isDependencyInstall(ROOT)).toBe(false);
    expect(patchProblems(ROOT)).toEqual([]);
    expect(pinProblems(ROOT)).toEqual([]);
  });

  /** A game project with a fake patched package, hoisted to its root or nested under node_modules/tickwire. */
  function project(nested: boolean): { app: string; tickwire: string; target: string } {
    const app = temp();
    const tickwire = join(app, 'node_modules/tickwire');
    mkdirSync(join(tickwire, 'patches'), { recursive: true });
    writeFileSync(join(app, 'package.json'), '{"name":"app","version":"1.0.0"}');
    writeFileSync(join(tickwire, 'package.json'), JSON.stringify({ name: 'tickwire', version: '1.0.0', dependencies: { '@fake/lib': '1.0.0' }, overrides: { 'fake-native': '2.0.0' } }));
    const lib = join(nested ? tickwire : app, 'node_modules/@fake/lib');
    mkdirSync(lib, { recursive: true });
    writeFileSync(join(lib, 'package.json'), JSON.stringify({ name: '@fake/lib', version: '1.0.0', dependencies: { 'fake-native': '1.0.0' } }));
    writeFileSync(join(lib, 'index.js'), 'export const a = 1;\nexport const b = 2;\n');
    writeFileSync(join(tickwire, 'patches/@fake+lib+1.0.0.patch'), [
      'diff --git a/node_modules/@fake/lib/index.js b/node_modules/@fake/lib/index.js',
      'index 1111111..2222222 100644',
      '--- a/node_modules/@fake/lib/index.js',
      '+++ b/node_modules/@fake/lib/index.js',
      '@@ -1,2 +1,3 @@',
      ' export const a = 1;',
      '+export const patched = true;',
      ' export const b = 2;',
      '',
    ].join('\n'));
    const native = join(app, 'node_modules/fake-native');
    mkdirSync(native, { recursive: true });
    writeFileSync(join(native, 'package.json'), JSON.stringify({ name: 'fake-native', version: '1.0.0' }));
    symlinkSync(findPackageDir('patch-package', ROOT)!, join(app, 'node_modules/patch-package'));
    return { app, tickwire, target: join(lib, 'index.js') };
  }

  for (const nested of [false, true]) {
    it(`applies them to the copy tickwire loads (${nested ? 'nested under node_modules/tickwire' : 'hoisted to the project'}), once`, () => {
      const p = project(nested);
      expect(isDependencyInstall(p.tickwire)).toBe(true);
      expect(patchProblems(p.tickwire)).toEqual([expect.stringMatching(/^@fake\/lib: .*index\.js lacks its patch$/)]);
      const first = applyPatches(p.tickwire);
      expect(first.ok, first.output).toBe(true);
      expect(readFileSync(p.target, 'utf8')).toBe('export const a = 1;\nexport const patched = true;\nexport const b = 2;\n');
      expect(patchProblems(p.tickwire)).toEqual([]);
      const again = applyPatches(p.tickwire);
      expect(again.ok, again.output).toBe(true);
      expect(readFileSync(p.target, 'utf8').match(/patched/g)).toHaveLength(1);
      expect(pinProblems(p.tickwire)).toEqual(['@fake/lib loads fake-native 1.0.0, tickwire pins 2.0.0']);
    });
  }
});
