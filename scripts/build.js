// `npm run build [-- --out-dir DIR]`: compiles src/ to dist/ (tsconfig.build.json) and stamps the build with the
// snapshot of the sources it was made from, which is how bin/ibpipe.js knows the build is current.
// The old build goes first and the stamp comes last, so a half-written build never looks current.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import process from 'node:process';
import { STAMP_FILE, sourceSnapshot } from '../bin/dist-freshness.js';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
if (!(args.length === 0 || (args.length === 2 && args[0] === '--out-dir'))) {
  process.stderr.write('usage: node scripts/build.js [--out-dir DIR]\n');
  process.exit(2);
}
const outDir = args.length === 2 ? resolve(args[1]) : join(root, 'dist');

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
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', outDir], { stdio: 'inherit' });
if (r.status !== 0) {
  process.stderr.write(`build: tsc failed (exit ${r.status ?? r.signal}); ${outDir} has no stamp and will not run\n`);
  process.exit(1);
}
writeFileSync(join(outDir, `${STAMP_FILE}.tmp`), snapshot);
renameSync(join(outDir, `${STAMP_FILE}.tmp`), join(outDir, STAMP_FILE));
