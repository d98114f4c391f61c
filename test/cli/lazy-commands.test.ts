import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO, spawnTs, waitForExit } from '../support/child.js';

interface ProbeResult {
  helps: { path: string[]; code: number; out: string }[];
  help: string[];
  check: { code: number; out: string };
  configCheck: string[];
  sql: { code: number; out: string };
  sqlModules: string[];
  run: { code: number; out: string };
  runModules: string[];
}

const dir = mkdtempSync(join(tmpdir(), 'ibpipe-lazy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Modules of this repo (`src/…`) and packages (`pkg:<name>`) among resolved URLs; node: builtins dropped. */
function names(urls: readonly string[]): string[] {
  return urls
    .filter((u) => !u.startsWith('node:'))
    .map((u) => {
      const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u);
      if (pkg) return `pkg:${pkg[1]}`;
      const src = /\/(src\/.+)$/.exec(u);
      return src ? src[1]! : u;
    });
}

/** What a command that does not need it must not load: DuckDB and the lake, the IB client, the simulator, pg, the dashboard. */
const HEAVY = /^(pkg:@duckdb\/|pkg:@stoqey\/ib$|pkg:pg$|pkg:prom-client$|src\/storage\/lake\.ts$|src\/data-sources\/tws\/tws-client\.ts$|src\/sim\/sim-server\.ts$|src\/ops\/dashboard\/)/;

describe('lazy commands: the CLI parses first and loads only what the command runs', () => {
  it('--help of every command loads no DuckDB, IB client, database driver, config schema, simulator or dashboard; each command loads only what it runs', async () => {
    const cfg = join(dir, 'ibpipe.yaml');
    writeFileSync(cfg, 'lake: { root: ./lake }\nlogging: { level: error }\ninstruments:\n  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, currency: USD, calendar: XNYS }\n');
    const child = spawnTs('test/support/cli-module-probe.ts', [dir, cfg, 'config/demo.yaml']);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await waitForExit(child), stderr).toBe(0);
    const r = JSON.parse(stdout) as ProbeResult;

    // The walk covered the whole command tree, and each help really printed.
    const paths = r.helps.map((h) => h.path.join(' '));
    expect(paths).toEqual(expect.arrayContaining(['', 'sql', 'run', 'daemon', 'sim', 'dashboard', 'demo', 'backfill', 'ingest', 'ingest-db', 'config check', 'features latest', 'calendar sessions']));
    for (const h of r.helps) {
      expect(h.code, h.path.join(' ')).toBe(0);
      expect(h.out, h.path.join(' ')).toContain(`Usage: ibpipe${h.path.length > 0 ? ` ${h.path.join(' ')}` : ''}`);
    }
    expect(r.helps.find((h) => h.path.join(' ') === 'run')?.out).toContain('transform | align | features');

    // Help: commander and the command files only (plus the dependency-free core they validate with).
    const help = names(r.help);
    expect(help.filter((m) => !/^(src\/cli\/|src\/core\/|src\/ops\/job-kinds\.ts$|pkg:commander$)/.test(m))).toEqual([]);
    expect(help).toContain('src/cli/sql-command.ts');
    expect(help).toContain('pkg:commander');

    // config check: the config schema, nothing of the lake or the IB side.
    expect(r.check.code).toBe(0);
    expect(r.check.out).toContain('config/demo.yaml: ok');
    const check = names(r.configCheck);
    expect(check).toEqual(expect.arrayContaining(['src/config/settings.ts', 'pkg:zod', 'pkg:yaml']));
    expect(check.filter((m) => HEAVY.test(m) || m === 'pkg:pino')).toEqual([]);

    // sql: DuckDB is loaded now (so the probe sees packages loaded by require) — but still no IB client or simulator.
    expect(r.sql.code).toBe(0);
    expect(JSON.parse(r.sql.out)).toEqual([{ one: 1 }]);
    const sql = names(r.sqlModules);
    expect(sql).toContain('pkg:@duckdb/node-api');
    expect(sql).toContain('src/storage/lake.ts');
    expect(sql.filter((m) => HEAVY.test(m) && !m.startsWith('pkg:@duckdb/') && m !== 'src/storage/lake.ts')).toEqual([]);

    // run transform (what an orchestrator starts per job and date): the job, not the drivers of other jobs.
    expect(r.run.code).toBe(0);
    expect(JSON.parse(r.run.out)).toMatchObject([{ date: '2024-03-05', job: 'transform', status: 'ok' }]);
    const run = names(r.runModules);
    expect(run).toContain('src/jobs/transform-job.ts');
    expect(run.filter((m) => ['pkg:@stoqey/ib', 'pkg:pg'].includes(m) || /^src\/(sim\/|ops\/dashboard\/|data-sources\/tws\/tws-client\.ts$)/.test(m))).toEqual([]);
  });

  it('still reads .env from the working directory before a command runs (config overrides; --help does not load dotenv, above)', () => {
    const cwd = join(dir, 'with-dotenv');
    mkdirSync(cwd);
    writeFileSync(join(cwd, '.env'), 'IBPIPE_TWS__PORT=99999\n');
    const r = spawnSync(process.execPath, [join(REPO, 'bin/ibpipe.js'), 'config', 'check', join(REPO, 'config/demo.yaml')], { cwd, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('tws.port');
    expect(r.stderr).toContain('IBPIPE_TWS__PORT');
  });
});
