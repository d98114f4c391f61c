import { existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { bundleOptions } from '../../scripts/bundle-options.js';

const REPO = resolve(import.meta.dirname, '../..');

/**
 * Where the test run's child-process entry points are bundled. Two levels under the checkout, like
 * dist/cli/, so a module that resolves a file from its own folder (`../../config/demo.yaml` in
 * src/ops/demo.ts) finds the same file; inside node_modules, so packages resolve as from src/ and
 * git ignores it. No `.build-stamp` beside it: to the code it is not a build (src/config/
 * settings-cache.ts stays off, as when the sources run through tsx).
 */
export const CHILD_BUNDLE_DIR = join(REPO, 'node_modules', '.ibpipe-test-children');

/**
 * The TypeScript files tests start as child processes, by the name of their bundle. The feature
 * worker sits beside the CLI because src/pipelines/features/feature-batch-runner.ts starts
 * `./feature-batch-worker.js` next to itself when it is not a .ts file.
 */
export const CHILD_ENTRIES: Readonly<Record<string, string>> = {
  'src/cli/main.ts': 'cli-main',
  'src/pipelines/features/feature-batch-worker.ts': 'feature-batch-worker',
  'test/support/crash-writer.ts': 'crash-writer',
  'test/support/temp-writer.ts': 'temp-writer',
};

/** The bundled JavaScript of a child entry point, or null when the file is not bundled (or no bundle was made). */
export function childBundleFor(file: string): string | null {
  const name = CHILD_ENTRIES[file];
  if (name === undefined) return null;
  const out = join(CHILD_BUNDLE_DIR, `${name}.js`);
  return existsSync(out) ? out : null;
}

/**
 * vitest's globalSetup: bundles the child entry points once per test run (esbuild, the transformer
 * tsx and vitest use on the same sources, about a second), so a child process starts as plain
 * JavaScript: no TypeScript loader thread and no per-file resolution of a few hundred modules,
 * which cost about a second of CPU per process.
 */
export default async function setup(): Promise<void> {
  rmSync(CHILD_BUNDLE_DIR, { recursive: true, force: true });
  // The build's options (scripts/bundle-options.js: the same packages inlined, the same lazy chunks).
  await build(bundleOptions(REPO, { entryPoints: Object.entries(CHILD_ENTRIES).map(([from, name]) => ({ in: from, out: name })), outdir: CHILD_BUNDLE_DIR }));
}
