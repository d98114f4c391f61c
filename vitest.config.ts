import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Bundles the TypeScript entry points that tests start as child processes, once per run.
    globalSetup: ['test/support/child-bundle.ts'],
    globals: false,
    // Real DuckDB, sockets and child processes. Tests wait on observable conditions, never on
    // time windows, so this only bounds a hang: generous enough for a test that starts several
    // child processes on two cores that other work keeps busy (load 10+).
    testTimeout: 240_000,
    hookTimeout: 240_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1, isolate: false } },
  },
});
