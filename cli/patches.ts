// Tickwire's dependency fixes in a game project: applies patches/ (patch-package files) to the copies of the patched packages this package loads, wherever npm put them, checks that they are applied, and checks the version pins of package.json "overrides".
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the tickwire package (a checkout of the repository, or node_modules/tickwire in a game project). */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** One patch file of patches/. */
export interface PatchFile {
  /** Absolute path of the .patch file. */
  readonly path: string;
  /** Package it patches, e.g. '@geckos.io/server'. */
  readonly pkg: string;
  /** Version it was made against. */
  readonly version: string;
}

/** True when `root` lies inside a node_modules folder (installed as a dependency), false in a checkout of the repository. */
export function isDependencyInstall(root: string = PACKAGE_ROOT): boolean {
  return root.split(sep).includes('node_modules');
}

/** The patch files of `root`/patches (patch-package names: `@scope+name+version.patch`). */
export function listPatches(root: string = PACKAGE_ROOT): PatchFile[] {
  const dir = join(root, 'patches');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.patch')).sort().map((f) => {
    const parts = f.slice(0, -'.patch'.length).split('+');
    if (parts.includes('') || parts.length < 2) throw new Error(`patches/${f}: only top-level package patches are supported`);
    const version = parts.pop()!;
    return { path: join(dir, f), pkg: parts.join('/'), version };
  });
}

/** Directory of package `name` as Node finds it from `fromDir` (the nearest node_modules/name up the tree), or undefined. */
export function findPackageDir(name: string, fromDir: string): string | undefined {
  let dir = resolve(fromDir);
  for (;;) {
    const candidate = join(dir, 'node_modules', ...name.split('/'));
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** Version in the package.json of the package at `dir`. */
function versionAt(dir: string): string {
  return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version;
}

/** The lines each patch adds, by file path inside the package. */
function addedLines(patchText: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of patchText.split('\n')) {
    const header = /^\+\+\+ b\/node_modules\/((?:@[^/]+\/)?[^/]+)\/(.+)$/.exec(line);
    if (header) {
      current = out.get(header[2]) ?? [];
      out.set(header[2], current);
      continue;
    }
    if (line.startsWith('diff --git ')) current = undefined;
    else if (current && line.startsWith('+') && line.slice(1).trim() !== '') current.push(line.slice(1).trim());
  }
  return out;
}

/**
 * What is wrong with the patched packages this package loads: one line per package that is
 * missing or lacks a line its patch adds. Empty when every patch is in place.
 */
export function patchProblems(root: string = PACKAGE_ROOT): string[] {
  const problems: string[] = [];
  for (const p of listPatches(root)) {
    const dir = findPackageDir(p.pkg, root);
    if (!dir) {
      problems.push(`${p.pkg} is not installed`);
      continue;
    }
    for (const [file, lines] of addedLines(readFileSync(p.path, 'utf8'))) {
      const target = join(dir, file);
      const text = existsSync(target) ? readFileSync(target, 'utf8') : undefined;
      if (text === undefined || lines.some((l) => !text.includes(l))) {
        problems.push(`${p.pkg}: ${relative(process.cwd(), target)} lacks its patch`);
        break;
      }
    }
  }
  return problems;
}

/** Outcome of applying the patches. */
export interface ApplyResult {
  ok: boolean;
  /** patch-package's output (and ours). */
  output: string;
}

/**
 * Applies the patches with patch-package. In a checkout of the repository: `patch-package
 * --error-on-fail` at its root, as before. In a game project: for each patched package, at the
 * folder whose node_modules holds the copy this package loads (the project root when npm hoisted
 * it, node_modules/tickwire when it nested it), so the copy that runs is the one patched.
 * Re-running is harmless: patch-package skips a patch already applied.
 */
export function applyPatches(root: string = PACKAGE_ROOT): ApplyResult {
  const bin = findPackageDir('patch-package', root);
  if (!bin) return { ok: false, output: 'patch-package is not installed' };
  const run = (cwd: string, args: string[]): ApplyResult => {
    const r = spawnSync(process.execPath, [join(bin, 'index.js'), '--error-on-fail', ...args], { cwd, encoding: 'utf8', env: { ...process.env, FORCE_COLOR: '0' } });
    return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
  };
  if (!isDependencyInstall(root)) return run(root, []);
  // group the patches by the folder that holds each package's node_modules
  const groups = new Map<string, PatchFile[]>();
  const missing: string[] = [];
  for (const p of listPatches(root)) {
    const dir = findPackageDir(p.pkg, root);
    if (!dir) {
      missing.push(`${p.pkg} is not installed (needed by tickwire)`);
      continue;
    }
    const base = resolve(dir, ...p.pkg.split('/').map(() => '..'), '..');
    groups.set(base, [...(groups.get(base) ?? []), p]);
  }
  let ok = missing.length === 0;
  let output = missing.join('\n');
  for (const [base, patches] of groups) {
    const tmp = mkdtempSync(join(tmpdir(), 'tickwire-patches-'));
    try {
      for (const p of patches) copyFileSync(p.path, join(tmp, p.path.split(sep).pop()!));
      const r = run(base, ['--patch-dir', relative(base, tmp)]);
      ok &&= r.ok;
      output += `${output ? '\n' : ''}${relative(process.cwd(), base) || '.'}: ${r.output.trim()}`;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  return { ok, output };
}

/**
 * Checks the pins of this package's "overrides" (e.g. node-datachannel 0.33.4, which
 * @geckos.io/server would otherwise take at 0.32.1): overrides in a dependency do not reach the
 * project that installs it, so a game project declares the same ones. Returns one line per
 * dependency of this package that loads another version than the pin.
 */
export function pinProblems(root: string = PACKAGE_ROOT): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; overrides?: Record<string, unknown> };
  const problems: string[] = [];
  for (const [name, want] of Object.entries(pkg.overrides ?? {})) {
    if (typeof want !== 'string') continue;
    for (const dep of Object.keys(pkg.dependencies ?? {})) {
      const depDir = findPackageDir(dep, root);
      if (!depDir) continue;
      const depPkg = JSON.parse(readFileSync(join(depDir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
      if (!depPkg.dependencies?.[name]) continue;
      const got = findPackageDir(name, depDir);
      const version = got ? versionAt(got) : 'none';
      if (version !== want) problems.push(`${dep} loads ${name} ${version}, tickwire pins ${want}`);
    }
  }
  return problems;
}

/** The "overrides" a game project needs (this package's own). */
export function requiredOverrides(root: string = PACKAGE_ROOT): Record<string, unknown> {
  return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { overrides?: Record<string, unknown> }).overrides ?? {};
}
