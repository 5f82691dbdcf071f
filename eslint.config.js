// Lint rules, including the import boundaries that keep the data flow one-way:
// shared/ is pure and imports nothing from server/ or client/; server/ and client/ never import each other.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const boundary = (forbidden, message) => ({
  'no-restricted-imports': ['error', { patterns: forbidden.map((group) => ({ group: [group], message })) }],
});

export default tseslint.config(
  { ignores: ['**/node_modules/**', 'client/dist/**', 'bench/results/**', 'test/artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: 'readonly', process: 'readonly', globalThis: 'readonly' } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/ban-ts-comment': ['error', { 'ts-nocheck': true, 'ts-ignore': true, 'ts-expect-error': 'allow-with-description' }],
      'no-console': 'off',
    },
  },
  { files: ['**/*.mjs'], languageOptions: { globals: { setTimeout: 'readonly', setInterval: 'readonly', clearTimeout: 'readonly', URL: 'readonly', performance: 'readonly' } } },
  { files: ['shared/**/*.ts'], rules: boundary(['**/server/**', '**/client/**', '../server/*', '../client/*', 'node:*', 'uWebSockets.js', 'pino'], 'shared/ is pure: it imports nothing from server/, client/ or Node I/O.') },
  { files: ['server/**/*.ts'], rules: boundary(['**/client/**', '../client/*'], 'server/ never imports client/.') },
  { files: ['client/**/*.ts'], rules: boundary(['**/server/**', '../server/*'], 'client/ never imports server/.') },
);
