// Test runner settings: node environment, forked workers so a native abort fails one file, not the run.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 20_000,
    fileParallelism: true,
    maxWorkers: 2,
  },
});
