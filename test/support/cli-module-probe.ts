// Child process for test/cli/lazy-commands.test.ts: runs `ibpipe <command> --help` for every
// command of the real command tree, then `config check`, `sql "SELECT 1"` and `run transform`,
// all in this one process, and prints (as JSON) the modules each phase added to those before it.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [workDir, configFile, configToCheck] = process.argv.slice(2) as [string, string, string];
const logFile = join(workDir, 'modules.log');
writeFileSync(logFile, '');
register(pathToFileURL(join(import.meta.dirname, 'module-log-hooks.mjs')), { data: { file: logFile } });

const requireCache = createRequire(import.meta.url).cache;
const seen = new Set<string>();
/** Modules loaded since the previous call: resolved by an import, or loaded by require(). */
function newModules(): string[] {
  const loaded = [...readFileSync(logFile, 'utf8').split('\n').filter(Boolean), ...Object.keys(requireCache).map((f) => pathToFileURL(f).href)];
  const added = [...new Set(loaded)].filter((u) => !seen.has(u));
  for (const u of added) seen.add(u);
  return added;
}

const realWrite = process.stdout.write.bind(process.stdout);
async function runCapturing(run: () => Promise<number>): Promise<{ code: number; out: string }> {
  let out = '';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    out += chunk.toString();
    return true;
  }) as typeof process.stdout.write;
  try {
    return { code: await run(), out };
  } finally {
    process.stdout.write = realWrite;
  }
}

newModules(); // this file's own imports
const { buildProgram, main } = await import('../../src/cli/program.js');
type Cmd = ReturnType<typeof buildProgram>;
const paths: string[][] = [];
const walk = (cmd: Cmd, path: string[]): void => {
  paths.push(path);
  for (const sub of cmd.commands) walk(sub, [...path, sub.name()]);
};
walk(buildProgram(), []);
const helps: { path: string[]; code: number; out: string }[] = [];
for (const path of paths) helps.push({ path, ...(await runCapturing(() => main([...path, '--help']))) });
const help = newModules();
const check = await runCapturing(() => main(['config', 'check', configToCheck]));
const configCheck = newModules();
const sql = await runCapturing(() => main(['sql', '--config', configFile, '--format', 'json', 'SELECT 1 AS one']));
const sqlModules = newModules();
const run = await runCapturing(() => main(['run', 'transform', '--config', configFile, '--date', '2024-03-05', '--format', 'json']));
const runModules = newModules();
realWrite(`${JSON.stringify({ helps, help, check, configCheck, sql, sqlModules, run, runModules })}\n`);
