// Lint rules, including the import boundaries that keep the data flow one-way. Each top-level
// folder lists the folders and packages it may import; relative imports are resolved against the
// importing file, so a boundary is about where the imported file lives, not how its path is spelled.
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ROOT = dirname(fileURLToPath(import.meta.url));

/**
 * Who may import what. `folders`: top-level folders whose files may be imported (relative
 * imports); `packages`: bare specifiers allowed (`node:` covers every Node built-in), or '*' for any.
 */
const BOUNDARIES = {
  shared: { why: 'shared/ is the pure code both sides run: it imports only shared/ and its codec/ECS packages', folders: ['shared'], packages: ['bitecs', 'msgpackr'] },
  netcode: { why: 'netcode/ is the client netcode library (browser client and bots): shared/ and netcode/ only, no I/O', folders: ['shared', 'netcode'], packages: [] },
  games: { why: 'games/ are written on the public game API (shared/) only', folders: ['shared', 'games'], packages: ['bitecs'] },
  client: { why: 'client/ is the browser client: it never imports server/ or tools/', folders: ['client', 'netcode', 'shared', 'games'], packages: ['@geckos.io/client'] },
  server: { why: 'server/ never imports the client side (client/, netcode/) or the tools; it builds the monitor page (monitor/build.ts)', folders: ['server', 'shared', 'games', 'monitor'], packages: ['*'] },
  monitor: { why: 'monitor/ is the operator page the server serves: browser code on the admin API (shared/protocol/admin.ts), no server/, client/ or netcode/', folders: ['monitor', 'shared'], packages: [] },
  tools: { why: 'tools/ (bots, measurement) run clients against a server process: no server/ internals, no tests', folders: ['tools', 'netcode', 'shared', 'games'], packages: ['*'] },
  bench: { why: 'bench/ holds benchmarks; tests never depend on it and it does not depend on tests', folders: ['bench', 'tools', 'netcode', 'shared', 'games', 'server'], packages: ['*'] },
  test: { why: 'tests must not depend on bench/', folders: ['test', 'tools', 'netcode', 'shared', 'games', 'server', 'client', 'cli', 'testing'], packages: ['*'] },
  testing: { why: 'testing/ is the published test kit: the server and the client netcode in one process, no tools or tests', folders: ['testing', 'server', 'netcode', 'shared', 'games'], packages: ['*'] },
  cli: { why: 'cli/ is the tickwire command: it drives the server, the client build, the bots and the creator, never tests or benchmarks', folders: ['cli', 'server', 'client', 'tools', 'shared', 'games', 'create'], packages: ['*'] },
  create: { why: 'create/ is the create-tickwire package and its templates: Node built-ins and tickwire\'s public entry points (tickwire/...) only', folders: ['create'], packages: ['node:', 'tickwire'] },
};
/** Files that run in Node to build or serve a folder, with extra packages they may use. */
const EXTRA_PACKAGES = { 'client/build.ts': ['node:', 'esbuild'], 'monitor/build.ts': ['node:', 'esbuild'] };

function topFolder(absPath) {
  const rel = relative(ROOT, absPath);
  if (rel.startsWith('..')) return undefined;
  return rel.split(sep)[0];
}

const boundaryRule = {
  meta: { type: 'problem', schema: [], messages: { folder: '{{file}} may not import {{target}}: {{why}}.', pkg: '{{file}} may not import package {{target}}: {{why}}.' } },
  create(context) {
    const file = context.filename;
    const from = topFolder(file);
    const b = BOUNDARIES[from];
    if (!b) return {};
    const fileRel = relative(ROOT, file).split(sep).join('/');
    const extra = EXTRA_PACKAGES[fileRel] ?? [];
    const check = (node, spec) => {
      if (typeof spec !== 'string') return;
      if (spec.startsWith('.') || spec.startsWith('/')) {
        const target = topFolder(resolve(dirname(file), spec));
        if (target !== undefined && !b.folders.includes(target) && !(target === from)) {
          context.report({ node, messageId: 'folder', data: { file: fileRel, target: `${target}/ (${spec})`, why: b.why } });
        }
        return;
      }
      const allowed = [...b.packages, ...extra];
      if (allowed.includes('*')) return;
      const ok = allowed.some((p) => (p === 'node:' ? spec.startsWith('node:') : spec === p || spec.startsWith(`${p}/`)));
      if (!ok) context.report({ node, messageId: 'pkg', data: { file: fileRel, target: spec, why: b.why } });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value),
      ExportAllDeclaration: (node) => check(node, node.source.value),
      ImportExpression: (node) => node.source.type === 'Literal' && check(node, node.source.value),
    };
  },
};

export default tseslint.config(
  { ignores: ['**/node_modules/**', 'client/dist/**', 'bench/results/**', 'bench/compare/**/node_modules/**', 'test/artifacts/**', 'templates/**/node_modules/**', '**/.tickwire/**', 'types/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { tickwire: { rules: { boundaries: boundaryRule } } },
    languageOptions: { globals: { console: 'readonly', process: 'readonly', globalThis: 'readonly' } },
    rules: {
      'tickwire/boundaries': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/ban-ts-comment': ['error', { 'ts-nocheck': true, 'ts-ignore': true, 'ts-expect-error': 'allow-with-description' }],
      'no-console': 'off',
    },
  },
  { files: ['**/*.mjs'], languageOptions: { globals: { setTimeout: 'readonly', setInterval: 'readonly', clearTimeout: 'readonly', URL: 'readonly', performance: 'readonly' } } },
);
