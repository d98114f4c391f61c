import { defineConfig } from 'vitest/config';
import { testTmpdir } from './test/support/test-tmpdir.js';

const tmp = testTmpdir();

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Bundles the TypeScript entry points that tests start as child processes, once per run.
    globalSetup: ['test/support/child-bundle.ts'],
    globals: false,
    // Temp folders (every test lake) on tmpfs when there is one with room: test/support/test-tmpdir.ts.
    env: tmp === undefined ? {} : { TMPDIR: tmp },
    // Real DuckDB, sockets and child processes. Tests wait on observable conditions, never on
    // time windows, so this only bounds a hang: generous enough for a test that starts several
    // child processes on two cores that other work keeps busy (load 10+).
    testTimeout: 240_000,
    hookTimeout: 240_000,
    pool: 'forks',
    // isolate: false: the files a fork runs share one module graph (each file's own module is
    // evaluated afresh), so src/ and its packages are loaded once per fork instead of once per file:
    // that loading ("collect") was a quarter of the suite's wall time. Tests restore what they patch.
    poolOptions: { forks: { maxForks: 2, minForks: 1, isolate: false } },
  },
});
