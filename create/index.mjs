#!/usr/bin/env node
// Creates a Tickwire game project from a template: `npm create tickwire@latest DIR` (this folder is the create-tickwire package) or `npx tickwire create DIR`.
import { cpSync, existsSync, readdirSync, readFileSync, realpathSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));

/** Version of this creator: the tickwire version a new project depends on unless told otherwise (the two are released together). */
export const VERSION = JSON.parse(readFileSync(join(here, 'package.json'), 'utf8')).version;

/** The name the template's files use for the project and its game; replaced by the new project's name. */
export const TEMPLATE_NAME = 'my-game';

/** Entries of a template never copied (left by installing or running it in place). */
const SKIP = new Set(['node_modules', 'package-lock.json', '.tickwire']);

/** Files whose text gets the project's name. */
const TEXT = /\.(ts|json|md)$/;

const USAGE = `usage: create-tickwire DIR [--tickwire SPEC] [--template NAME] [--name NAME]

  DIR         the new project's folder (must not exist, or be empty)
  --tickwire  the tickwire dependency: a version, a range, or a tarball (path to a .tgz or file:...)
              default ${VERSION}
  --template  template to copy (${templates().join(', ')})                  default game
  --name      package and game name                                  default: from DIR`;

/** Names of the templates shipped. */
export function templates() {
  return readdirSync(join(here, 'templates')).sort();
}

/**
 * A package name from a folder name: lower case, runs of anything but letters, digits and dashes
 * made one dash, no leading or trailing dash.
 * @param {string} dir
 * @returns {string}
 */
export function projectName(dir) {
  const n = basename(resolve(dir)).toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  return n || TEMPLATE_NAME;
}

/**
 * The dependency spec for `tickwire`: a path to an existing .tgz becomes `file:` and its absolute path; anything else is kept.
 * @param {string} spec
 * @returns {string}
 */
export function tickwireSpec(spec) {
  if (spec.endsWith('.tgz') && !spec.startsWith('file:') && existsSync(spec)) return `file:${resolve(spec)}`;
  return spec;
}

/**
 * Copies a template into a new project and sets its name and tickwire dependency.
 * @param {{ dir: string, tickwire?: string, template?: string, name?: string }} o
 * @returns {{ dir: string, name: string, tickwire: string }}
 */
export function createProject(o) {
  const templateName = o.template ?? 'game';
  const template = join(here, 'templates', templateName);
  if (!existsSync(join(template, 'package.json'))) throw new Error(`no template ${JSON.stringify(templateName)}; known: ${templates().join(', ')}`);
  const dir = resolve(o.dir);
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`${dir} exists and is not empty`);
  const name = o.name ?? projectName(dir);
  if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) throw new Error(`name ${JSON.stringify(name)}: use lower-case letters, digits and dashes`);
  cpSync(template, dir, { recursive: true, filter: (src) => !SKIP.has(basename(src)) });
  // npm never packs a file named .gitignore, so the template carries it as _gitignore
  if (existsSync(join(dir, '_gitignore'))) renameSync(join(dir, '_gitignore'), join(dir, '.gitignore'));
  const rename = (folder) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const p = join(folder, entry.name);
      if (entry.isDirectory()) rename(p);
      else if (TEXT.test(entry.name)) {
        const text = readFileSync(p, 'utf8');
        if (text.includes(TEMPLATE_NAME)) writeFileSync(p, text.split(TEMPLATE_NAME).join(name));
      }
    }
  };
  rename(dir);
  const tickwire = tickwireSpec(o.tickwire ?? VERSION);
  const pkgPath = join(dir, 'package.json');
  const pkg = JSON.parse(readFileSync(pkgPath, 'utf8'));
  pkg.name = name;
  pkg.dependencies = { ...pkg.dependencies, tickwire };
  writeFileSync(pkgPath, `${JSON.stringify(pkg, null, 2)}\n`);
  return { dir, name, tickwire };
}

/**
 * The command line: creates the project and prints the next steps. Returns the exit code.
 * @param {string[]} argv
 * @returns {Promise<number>}
 */
export async function main(argv) {
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      options: { tickwire: { type: 'string' }, template: { type: 'string' }, name: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    }));
  } catch (err) {
    console.error(`${err.message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) {
    console.error(USAGE);
    return 2;
  }
  try {
    const r = createProject({ dir: positionals[0], tickwire: values.tickwire, template: values.template, name: values.name });
    console.log(`Created ${r.name} in ${r.dir} (tickwire ${r.tickwire}).

  cd ${positionals[0]}
  npm install
  npm start        # the server and the browser client on http://127.0.0.1:8080/
  npm test         # typecheck + the game's tests
  npm run dev      # start, restarted when a file changes
  npm run bots -- --url http://127.0.0.1:8080 --count 5 --seconds 10`);
    return 0;
  } catch (err) {
    console.error(`create-tickwire: ${err.message}`);
    return 1;
  }
}

// run when executed (npm puts a symlink in node_modules/.bin: compare real paths)
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
