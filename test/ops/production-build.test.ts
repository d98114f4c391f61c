import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { distFreshness, sourceSnapshot, STAMP_FILE } from '../../bin/dist-freshness.js';
import { REPO } from '../support/child.js';

// Docker cannot run here, so this replays what scripts/Dockerfile does with real files and real
// processes: `npm run build` (scripts/build.js) in a copy of the checkout, then the runtime
// stage's COPY lines and production-only node_modules, then its ENTRYPOINT.

const work = mkdtempSync(join(tmpdir(), 'ibpipe-build-'));
const checkout = join(work, 'checkout');
const image = join(work, 'image');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };

function run(cmd: string, args: string[], cwd: string, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  mkdirSync(join(checkout, 'scripts'), { recursive: true });
  for (const f of ['bin', 'src', 'config', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'scripts/build.js', 'scripts/bundle-options.js']) cpSync(join(REPO, f), join(checkout, f), { recursive: true });
  symlinkSync(join(REPO, 'node_modules'), join(checkout, 'node_modules'));
  const r = await run(process.execPath, ['scripts/build.js'], checkout); // = npm run build
  expect(r.code, r.stderr + r.stdout).toBe(0);
}, 180_000);

describe('npm run build and bin/ibpipe.js (real build, real processes)', () => {
  it('runs dist/ while src/ is as built, the sources through tsx once src/ changes; the stamp is the snapshot of src/', async () => {
    expect(readFileSync(join(checkout, 'dist', STAMP_FILE), 'utf8')).toBe(sourceSnapshot(checkout));
    const built = await run(process.execPath, ['bin/ibpipe.js', '--help'], checkout, { NODE_DEBUG: 'ibpipe' });
    expect(built.code, built.stderr).toBe(0);
    expect(built.stdout).toContain('Usage: ibpipe');
    expect(built.stderr).toContain('running dist/');

    // An edit after the build must run: the entry point falls back to the sources.
    const program = join(checkout, 'src/cli/program.ts');
    const original = readFileSync(program, 'utf8');
    writeFileSync(program, original.replace("'Interactive Brokers market data → ", "'EDITED AFTER THE BUILD: "));
    const edited = await run(process.execPath, ['bin/ibpipe.js', '--help'], checkout, { NODE_DEBUG: 'ibpipe' });
    expect(edited.code, edited.stderr).toBe(0);
    expect(edited.stdout).toContain('EDITED AFTER THE BUILD');
    expect(edited.stderr).toContain('running src/ through tsx');

    // What "current" means, case by case (in process: the same function the entry point calls).
    writeFileSync(program, original);
    expect(distFreshness(checkout).current).toBe(false); // same text back, but rewritten after the build
    writeFileSync(join(checkout, 'dist', STAMP_FILE), sourceSnapshot(checkout)); // as `npm run build` would
    expect(distFreshness(checkout)).toEqual({ current: true, reason: expect.any(String) });
    const extra = join(checkout, 'src/core/added-after-build.ts');
    writeFileSync(extra, 'export const x = 1;\n');
    expect(distFreshness(checkout).current).toBe(false);
    rmSync(extra);
    expect(distFreshness(checkout).current).toBe(true);
    const errors = join(checkout, 'src/core/errors.ts');
    renameSync(errors, `${errors}.moved`);
    expect(distFreshness(checkout).current).toBe(false);
    renameSync(`${errors}.moved`, errors);
    expect(distFreshness(checkout).current).toBe(true);
    // A copy that keeps an older modification time (rsync -a, tar) is still a change.
    const { mtime } = statSync(errors);
    utimesSync(errors, mtime, new Date(mtime.getTime() - 86_400_000));
    expect(distFreshness(checkout).current).toBe(false);
    writeFileSync(join(checkout, 'dist', STAMP_FILE), sourceSnapshot(checkout));
    writeFileSync(join(checkout, 'tsconfig.build.json'), readFileSync(join(checkout, 'tsconfig.build.json'), 'utf8'));
    expect(distFreshness(checkout).current).toBe(false);
  });

  it("the runtime image of scripts/Dockerfile (its COPY lines, production dependencies only) runs dist/ through its ENTRYPOINT", async () => {
    const dockerfile = readFileSync(join(REPO, 'scripts/Dockerfile'), 'utf8');
    const stages = dockerfile.split(/^FROM /m);
    const runtime = (stages.at(-1) ?? '').split('\n');
    const workdir = runtime.find((l) => l.startsWith('WORKDIR '))?.slice('WORKDIR '.length).trim() ?? '';
    expect(workdir).toMatch(/^\//);
    const at = (p: string): string => join(image, posix.relative(workdir, posix.resolve(workdir, p)));
    mkdirSync(image);
    for (const line of runtime) {
      const copy = /^COPY\s+(.+)$/.exec(line);
      if (copy) {
        const words = (copy[1] ?? '').split(/\s+/);
        const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
        const [dest, ...sources] = words.filter((w) => !w.startsWith('--')).reverse();
        for (const s of sources) {
          // From the build stage: the build of this checkout (its WORKDIR is the same folder).
          const origin = from === 'build' ? join(checkout, posix.relative(workdir, s)) : join(REPO, s);
          const target = sources.length > 1 || dest!.endsWith('/') ? join(at(dest!), posix.basename(s)) : at(dest!);
          cpSync(origin, target, { recursive: true });
        }
      }
      if (/^RUN npm ci --omit=dev\b/.test(line)) {
        // `npm ci --omit=dev`: the production dependencies only (their own dependencies resolve from their real path).
        for (const dep of Object.keys(pkg.dependencies)) {
          mkdirSync(join(image, 'node_modules', dep, '..'), { recursive: true });
          symlinkSync(join(REPO, 'node_modules', dep), join(image, 'node_modules', dep));
        }
      }
    }
    expect(existsSync(join(image, 'src'))).toBe(false);
    expect(existsSync(join(image, 'node_modules', 'tsx'))).toBe(false);
    expect(existsSync(join(image, 'dist', STAMP_FILE))).toBe(true);

    const entry = JSON.parse(/^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
    expect(entry[0]).toBe('node');
    const entryArgs = entry.slice(1).map((a) => (a.startsWith(`${workdir}/`) ? at(a) : a));
    const ibpipe = (args: string[]): ReturnType<typeof run> => run(process.execPath, [...entryArgs, ...args], image, { NODE_DEBUG: 'ibpipe', NODE_ENV: 'production', XDG_CACHE_HOME: join(work, 'cache') });

    const help = await ibpipe(['--help']);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain('Usage: ibpipe');
    expect(help.stderr).toContain('running dist/');
    const check = await ibpipe(['config', 'check', 'config/demo.yaml']);
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout).toContain('config/demo.yaml: ok');
    writeFileSync(join(work, 'lake.yaml'), `lake: { root: ${join(work, 'lake')} }\ninstruments:\n  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, currency: USD, calendar: XNYS }\n`);
    const sql = await ibpipe(['sql', '--config', join(work, 'lake.yaml'), '--format', 'json', 'SELECT 6 * 7 AS answer']);
    expect(sql.code, sql.stderr).toBe(0);
    expect(JSON.parse(sql.stdout)).toEqual([{ answer: 42 }]);
    // The built sql remembers the validated config (src/config/settings-cache.ts) and answers the same from it.
    expect(readdirSync(join(work, 'cache', 'ibpipe', 'settings')).filter((f) => f.endsWith('.json'))).toHaveLength(1);
    const again = await ibpipe(['sql', '--config', join(work, 'lake.yaml'), '--format', 'json', 'SELECT 6 * 7 AS answer']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual([{ answer: 42 }]);

    // Every package the built code imports or requires is a production dependency (or a Node built-in):
    // no TypeScript loader either (user modules in .ts need a checkout; built code says so).
    const imported = new Set<string>();
    const scan = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) scan(join(dir, e.name));
        else if (e.name.endsWith('.js')) {
          for (const m of readFileSync(join(dir, e.name), 'utf8').matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s+|\brequire(?:\.resolve)?\s*\(\s*|\)\(\s*)['"](@?[a-z0-9][a-z0-9._-]*(?:\/[a-z0-9._-]+)*)['"]/gm)) {
            const spec = m[1]!;
            const pkgName = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
            imported.add(pkgName);
          }
        }
      }
    };
    scan(join(image, 'dist'));
    expect(imported).toContain('@duckdb/node-bindings');
    const builtins = new Set(builtinModules);
    expect([...imported].filter((p) => !p.startsWith('node:') && !builtins.has(p) && !(p in pkg.dependencies))).toEqual([]);

    // The bundle stays lazy: what `ibpipe --help` evaluates is dist/cli/main.js and the chunks it
    // imports statically; none of them holds DuckDB, the config schema's zod and yaml, the lake or
    // the IB side (esbuild marks each bundled module with a `// <path>` line; a package's path may run through the symlinked node_modules). The sql chunks do.
    const cli = join(image, 'dist', 'cli');
    const staticClosure = new Set<string>();
    const visit = (file: string): void => {
      if (staticClosure.has(file)) return;
      staticClosure.add(file);
      for (const m of readFileSync(join(cli, file), 'utf8').matchAll(/^(?:import|export)\s(?:[^;]*?\sfrom\s*)?"\.\/([\w.-]+\.js)";?$/gm)) visit(m[1]!);
    };
    visit('main.js');
    const bundledIn = (files: Iterable<string>): Set<string> =>
      new Set([...files].flatMap((f) => [...readFileSync(join(cli, f), 'utf8').matchAll(/^\/\/ (?:[^\n]*\/)?(node_modules\/(?:@[^/\n]+\/)?[^/\n]+|src\/[^\n]+)/gm)].map((m) => m[1]!)));
    const atHelp = bundledIn(staticClosure);
    expect(atHelp).toContain('node_modules/commander');
    expect(atHelp).toContain('src/cli/sql-command.ts');
    expect([...atHelp].filter((m) => /^(node_modules\/(@duckdb\/|zod|yaml|croner)|src\/(storage|config|sim|ops\/dashboard|data-sources)\/)/.test(m))).toEqual([]);
    const everything = bundledIn(readdirSync(cli).filter((f) => f.endsWith('.js')));
    for (const m of ['node_modules/@duckdb/node-api', 'node_modules/zod', 'node_modules/yaml', 'src/storage/lake.ts', 'src/config/settings.ts']) expect(everything).toContain(m);
    expect(staticClosure.size).toBeLessThan(readdirSync(cli).filter((f) => f.endsWith('.js')).length / 4);

    // An unfinished build (no stamp) never runs; without tsx the entry point says what to do.
    rmSync(join(image, 'dist', STAMP_FILE));
    const unstamped = await ibpipe(['--help']);
    expect(unstamped.code).toBe(1);
    expect(unstamped.stderr).toContain('npm run build');
  });
});
