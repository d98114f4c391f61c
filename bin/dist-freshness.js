// Decides whether dist/ (the output of `npm run build`) may run instead of the TypeScript sources.
// Plain JavaScript with no dependencies: it runs before anything is compiled or loaded.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Written by scripts/build.js after a successful compile; holds the source snapshot the build was made from. */
export const STAMP_FILE = '.build-stamp';

/** Files besides src/ whose change changes the emitted JavaScript. */
const BUILD_INPUTS = ['tsconfig.json', 'tsconfig.build.json'];

function listFiles(dir, rel, out) {
  for (const entry of readdirSync(join(dir, rel), { withFileTypes: true })) {
    const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
    if (entry.isDirectory()) listFiles(dir, path, out);
    else out.push(path);
  }
}

/**
 * One line per build input — `path<TAB>size<TAB>mtime in ns` for every file under src/ and the
 * tsconfig files — sorted. Equal snapshots mean unchanged inputs by the quick check rsync and
 * make rely on (size and modification time), at the cost of one stat per file: no file is read.
 */
export function sourceSnapshot(root) {
  const files = [];
  listFiles(root, 'src', files);
  for (const f of BUILD_INPUTS) if (existsSync(join(root, f))) files.push(f);
  files.sort();
  return files
    .map((f) => {
      const st = statSync(join(root, f), { bigint: true });
      return `${f}\t${st.size}\t${st.mtimeNs}`;
    })
    .join('\n');
}

/**
 * Whether `<root>/dist` is current: it holds a finished build (`cli/main.js` and the stamp) and
 * either there are no sources to compare with (a deployed image ships dist/ alone) or the
 * stamp's snapshot equals the sources' snapshot now — any edit, added, removed or renamed file
 * since the build (a checkout or pull included) makes dist/ stale.
 */
export function distFreshness(root) {
  const dist = join(root, 'dist');
  if (!existsSync(join(dist, 'cli', 'main.js'))) return { current: false, reason: 'dist/ has no build (run `npm run build`)' };
  let stamp;
  try {
    stamp = readFileSync(join(dist, STAMP_FILE), 'utf8');
  } catch {
    return { current: false, reason: `dist/${STAMP_FILE} is missing (an unfinished or foreign build; run \`npm run build\`)` };
  }
  if (!existsSync(join(root, 'src'))) return { current: true, reason: 'no src/ to compare with' };
  if (stamp !== sourceSnapshot(root)) return { current: false, reason: 'src/ changed since the last `npm run build`' };
  return { current: true, reason: 'dist/ was built from src/ as it is now' };
}
