import { existsSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from './errors.js';

const TS_EXTENSIONS = new Set(['.ts', '.mts', '.cts']);

/**
 * One named export of a user's module (a source, a feature function …): `file` is an absolute
 * path to a .js / .mjs file, or a .ts file when the process runs the TypeScript sources (a
 * checkout through bin/ibpipe.js or tsx; tests). Every way it can be
 * missing is a ConfigError naming `what` (the config entry) and the file: no file, a module that
 * does not load (syntax error, a throw at top level, a missing import), no such export.
 */
export async function loadUserExport(file: string, exportName: string, what: string): Promise<unknown> {
  if (!existsSync(file) || !statSync(file).isFile()) throw new ConfigError(`${what}: module ${file} does not exist`, [`${what}: module ${file} does not exist`]);
  const url = pathToFileURL(file).href;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    const ts = typeScriptLoadIssue(err, file, what);
    if (ts !== null) throw new ConfigError(ts, [ts], { cause: err });
    throw loadFailure(what, file, err);
  }
  if (!(exportName in mod) || mod[exportName] === undefined) {
    const have = Object.keys(mod).filter((k) => mod[k] !== undefined);
    const issue = `${what}: module ${file} has no export ${JSON.stringify(exportName)} (exports: ${have.join(', ') || 'none'})`;
    throw new ConfigError(issue, [issue]);
  }
  return mod[exportName];
}

/**
 * The message for a TypeScript module that this process cannot import (built JavaScript —
 * dist/, production images — carries no TypeScript loader, by design), or null when `err` is
 * another failure. Shared by every loader of users' modules (sources, feature functions).
 */
export function typeScriptLoadIssue(err: unknown, file: string, what: string): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (code !== 'ERR_UNKNOWN_FILE_EXTENSION' || !TS_EXTENSIONS.has(extname(file))) return null;
  return `${what}: module ${file} is TypeScript, which this process (built JavaScript) cannot load; compile it to .js, or run ibpipe from a checkout without a current build (the sources then run through tsx)`;
}

function loadFailure(what: string, file: string, err: unknown): ConfigError {
  const reason = err instanceof Error ? err.message.split('\n')[0] : String(err);
  const issue = `${what}: module ${file} failed to load: ${reason}`;
  return new ConfigError(issue, [issue], { cause: err });
}
