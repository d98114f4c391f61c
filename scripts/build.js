// `npm run build [-- --out-dir DIR]`: type-checks src/ (tsconfig.build.json), bundles it into dist/ with esbuild and
// stamps the build with the snapshot of the sources it was made from, which is how bin/ibpipe.js knows the build is
// current. The old build goes first and the stamp comes last, so a half-written build never looks current.
//
// Why a bundle and not tsc's one file per module: a start of `ibpipe sql` loaded about 430 files (80 of ours, 95 of
// zod, 72 of yaml, 181 of @duckdb/node-api), and resolving, reading and compiling them one by one was the largest
// part of its start-up. The bundle keeps start-up lazy: `dist/cli/main.js` holds commander and the command files,
// and each `await import()` of a command's implementation becomes a chunk loaded only when that command runs
// (BUNDLE_LAYOUT below). Packages that load native code or files by path stay outside (scripts/bundle-options.js).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import process from 'node:process';
import { STAMP_FILE, sourceSnapshot } from '../bin/dist-freshness.js';
import { bundleOptions } from './bundle-options.js';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
if (!(args.length === 0 || (args.length === 2 && args[0] === '--out-dir'))) {
  process.stderr.write('usage: node scripts/build.js [--out-dir DIR]\n');
  process.exit(2);
}
const outDir = args.length === 2 ? resolve(args[1]) : join(root, 'dist');

/**
 * Every output lands in dist/cli/: the entry `main.js`, the feature worker (feature-batch-runner.ts starts
 * `./feature-batch-worker.js` next to itself) and the chunks. dist/cli/ is as deep as src/<dir>/, so paths a
 * module resolves from its own folder (`../../config/demo.yaml` in src/ops/demo.ts) land on the same file.
 */
const BUNDLE_LAYOUT = {
  entryPoints: [
    { in: 'src/cli/main.ts', out: 'cli/main' },
    { in: 'src/pipelines/features/feature-batch-worker.ts', out: 'cli/feature-batch-worker' },
  ],
  chunkNames: 'cli/[name]-[hash]',
};

// Only ever delete a previous build (or an empty folder), never a folder given by mistake.
if (existsSync(outDir)) {
  const entries = readdirSync(outDir);
  if (entries.length > 0 && !entries.includes(STAMP_FILE) && !existsSync(join(outDir, 'cli', 'main.js'))) {
    process.stderr.write(`build: ${outDir} exists and is not an ibpipe build; refusing to replace it\n`);
    process.exit(2);
  }
  rmSync(join(outDir, STAMP_FILE), { force: true });
  rmSync(outDir, { recursive: true, force: true });
}

// Taken before compiling: a source edited during the compile leaves the stamp stale, not wrong.
const snapshot = sourceSnapshot(root);
const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
const check = spawnSync(process.execPath, [tsc, '--noEmit', '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (check.status !== 0) {
  process.stderr.write(`build: type check failed (tsc exit ${check.status ?? check.signal}); nothing built\n`);
  process.exit(1);
}
const esbuild = await import('esbuild');
try {
  await esbuild.build({ ...bundleOptions(root, { ...BUNDLE_LAYOUT, outdir: outDir }), sourcemap: true });
} catch {
  process.stderr.write(`build: esbuild failed; ${outDir} has no stamp and will not run\n`);
  process.exit(1);
}
writeFileSync(join(outDir, `${STAMP_FILE}.tmp`), snapshot);
renameSync(join(outDir, `${STAMP_FILE}.tmp`), join(outDir, STAMP_FILE));
