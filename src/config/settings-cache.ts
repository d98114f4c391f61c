import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { deepFreeze } from '../core/deep-freeze.js';
import type { LoadedSettings, Settings } from './settings.js';

/**
 * Where validated configs are remembered, and the identity of the code that validated them. A
 * remembered result is used only for the same config bytes at the same path, the same `IBPIPE_*`
 * variables, the same Node and the same `build` — so only when validating again would give the
 * same settings: validation reads nothing but the file and those variables (src/config/settings.ts).
 */
export interface SettingsCacheOptions {
  /** A folder only this user can write; created (mode 0700) when missing. */
  readonly dir: string;
  /** Changes whenever the validating code may have changed (a new build); null turns the cache off. */
  readonly build: string | null;
}

/** Bump when what is stored changes shape. */
const FORMAT = 1;

/**
 * The cache of the running CLI: `$XDG_CACHE_HOME/ibpipe/settings` (default `~/.cache/…`), keyed on
 * the build (its stamp, the snapshot of the sources it was made from, and the file holding this
 * code, which every `npm run build` writes anew). Off when running the TypeScript sources.
 */
export function defaultSettingsCache(env: Readonly<Record<string, string | undefined>>): SettingsCacheOptions {
  const base = env.XDG_CACHE_HOME && isAbsolute(env.XDG_CACHE_HOME) ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  const self = import.meta.filename;
  let build: string | null = null;
  if (self.endsWith('.js')) {
    try {
      // dist/cli/<chunk>.js beside dist/.build-stamp: the snapshot of the sources it was built from.
      const stamp = readFileSync(join(dirname(dirname(self)), '.build-stamp'));
      const st = statSync(self, { bigint: true });
      build = createHash('sha256').update(stamp).update(`\0${self}\t${st.size}\t${st.mtimeNs}`).digest('hex');
    } catch {
      build = null;
    }
  }
  return { dir: join(base, 'ibpipe', 'settings'), build };
}

/** True when `dir` is a real folder owned by this user that others cannot write. */
function privateDir(dir: string): boolean {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    return st.isDirectory() && (process.getuid === undefined || st.uid === process.getuid()) && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/**
 * `loadSettings(file, env)` for commands that start often (`ibpipe sql`): a config validated before
 * with the same inputs is read back from the cache instead of loading zod, the schema tree and yaml
 * again (most of their start-up). A miss, or any problem with the cache, validates as
 * `loadSettings` does — same settings, same errors (a config that fails is never stored) — and
 * stores the result for next time when it survives a JSON round trip unchanged.
 */
export async function loadSettingsCached(
  file: string,
  env: Readonly<Record<string, string | undefined>>,
  cache: SettingsCacheOptions = defaultSettingsCache(env),
): Promise<LoadedSettings> {
  const path = resolve(file);
  let entry: string | null = null;
  // Another user who can write the folder could hand us any settings: then it is not used at all.
  if (cache.build !== null && privateDir(cache.dir)) {
    try {
      const bytes = readFileSync(path);
      const overrides = Object.entries(env)
        .filter(([k, v]) => k.startsWith('IBPIPE_') && v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      const key = createHash('sha256')
        .update(JSON.stringify([FORMAT, cache.build, process.version, path, overrides]))
        .update('\0')
        .update(bytes)
        .digest('hex');
      entry = join(cache.dir, `${key}.json`);
      const settings = JSON.parse(readFileSync(entry, 'utf8')) as Settings;
      return { settings: deepFreeze(settings), file: path };
    } catch {
      // No entry yet, or an unreadable one: validate.
    }
  }
  const { loadSettings } = await import('./settings.js');
  const loaded = loadSettings(file, env);
  if (entry !== null) {
    try {
      const text = JSON.stringify(loaded.settings);
      if (isDeepStrictEqual(JSON.parse(text), loaded.settings)) {
        const tmp = `${entry}.${process.pid}.tmp`;
        writeFileSync(tmp, text, { mode: 0o600 });
        renameSync(tmp, entry);
      }
    } catch {
      rmSync(`${entry}.${process.pid}.tmp`, { force: true });
    }
  }
  return loaded;
}
