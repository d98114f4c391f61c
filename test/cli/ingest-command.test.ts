import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Lake } from '../../src/storage/lake.js';
import { runCli } from '../support/child.js';
import { runCliInProcess } from '../support/cli-in-process.js';

// The example source of examples/ through `ibpipe ingest --source`: once in a real child process
// (the entry point loads a .ts module named relative to the config), then in this process.
const dir = mkdtempSync(join(tmpdir(), 'ibpipe-ingest-source-'));
const lakeDir = join(dir, 'lake');
const cfg = join(dir, 'ibpipe.yaml');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const example = relative(dir, resolve(import.meta.dirname, '../../examples/sources/random-walk-source.ts'));
writeFileSync(
  cfg,
  `lake: { root: ./lake }
logging: { level: warn }
instruments:
  - { key: AAPL, sec_type: STK, symbol: AAPL, exchange: SMART, currency: USD, calendar: XNYS }
  - { key: MSFT, sec_type: STK, symbol: MSFT, exchange: SMART, currency: USD, calendar: XNYS }
sources:
  - type: module
    name: walk
    module: ${example}
    options: { seed: 7 }
  - { type: file, name: drop, paths: [./incoming] }
`,
);
mkdirSync(join(dir, 'incoming'));
writeFileSync(join(dir, 'incoming', 'bars.csv'), 'symbol,ts,open,high,low,close,volume\nAAPL,2024-03-06T14:30:00Z,10,11,9,10.5,100\nAAPL,2024-03-06T14:31:00Z,10,11,9,10.5,101\n');
const WINDOW = ['--start', '2024-03-04', '--end', '2024-03-05'];

async function lakeFacts(): Promise<{ raw: number; ledger: string; curated: { symbol: string; n: number; imputed: number; same: number }[] }> {
  const lake = await Lake.open({ root: join(dir, 'scratch') });
  try {
    const rawRows = await lake.query<{ n: number }>(`SELECT count(*)::INTEGER AS n FROM read_parquet('${lakeDir}/raw/tws_bars/bar_size=1min/*/*.parquet')`);
    let curated: { symbol: string; n: number; imputed: number; same: number }[] = [];
    try {
      // Curated bars are the raw bars (no gaps to fill in a whole synthetic session): same closes, none imputed.
      curated = await lake.query(
        `SELECT c.symbol, count(*)::INTEGER AS n, count(*) FILTER (WHERE c.is_imputed)::INTEGER AS imputed, count(*) FILTER (WHERE c.close = r.close)::INTEGER AS same
         FROM read_parquet('${lakeDir}/curated/bars_1min/*/data.parquet') c
         LEFT JOIN read_parquet('${lakeDir}/raw/tws_bars/bar_size=1min/*/*.parquet') r USING (symbol, ts)
         GROUP BY c.symbol ORDER BY c.symbol`,
      );
    } catch {
      // No curated files yet.
    }
    return { raw: rawRows[0]?.n ?? 0, ledger: readFileSync(join(lakeDir, 'state/raw_batches.jsonl'), 'utf8'), curated };
  } finally {
    await lake.close();
  }
}

describe('ibpipe ingest --source: one command for every source type', () => {
  it('drains the example module source twice with nothing added the second time; the transform curates its rows', async () => {
    // Through tsx: the example source is a TypeScript module, which only the sources can load.
    const first = await runCli(['ingest', '--config', cfg, '--source', 'walk', ...WINDOW, '--format', 'json'], {}, { tsx: true });
    expect(first.code, first.stderr).toBe(0);
    // Two XNYS sessions x two symbols, 390 one-minute bars each.
    expect(JSON.parse(first.stdout)).toEqual([
      { source: 'walk', type: 'module', batches: 4, batches_written: 4, rows_read: 1560, rows_written: 1560, unfinished: 0, complete: true },
    ]);
    const before = await lakeFacts();
    expect(before.raw).toBe(1560);
    expect(before.ledger.trim().split('\n')).toHaveLength(4);

    const second = await runCliInProcess(['ingest', '--config', cfg, '--source', 'walk', ...WINDOW, '--format', 'json']);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual([
      { source: 'walk', type: 'module', batches: 4, batches_written: 0, rows_read: 1560, rows_written: 0, unfinished: 0, complete: true },
    ]);
    // The same job through `ibpipe run ingest`: also nothing new.
    const job = await runCliInProcess(['run', 'ingest', '--config', cfg, '--source', 'walk', ...WINDOW, '--format', 'json']);
    expect(job.code, job.stderr).toBe(0);
    expect(JSON.parse(job.stdout)).toMatchObject([{ job: 'ingest', status: 'ok', sources: 1, batches: 4, batches_written: 0, written: 0 }]);
    const after = await lakeFacts();
    expect(after.raw).toBe(before.raw);
    expect(after.ledger).toBe(before.ledger);

    const dry = await runCliInProcess(['ingest', '--config', cfg, '--source', 'walk', '--symbols', 'MSFT', ...WINDOW, '--dry-run', '--format', 'json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toEqual([
      { source: 'walk', item: 'MSFT 2024-03-04', symbols: 'MSFT', start: '2024-03-04T14:30:00Z', end: '2024-03-04T21:00:00Z', rows: null },
      { source: 'walk', item: 'MSFT 2024-03-05', symbols: 'MSFT', start: '2024-03-05T14:30:00Z', end: '2024-03-05T21:00:00Z', rows: null },
    ]);

    const transform = await runCliInProcess(['run', 'transform', '--config', cfg, '--start', '2024-03-04', '--end', '2024-03-05', '--format', 'json']);
    expect(transform.code, transform.stderr).toBe(0);
    expect((await lakeFacts()).curated).toEqual([
      { symbol: 'AAPL', n: 780, imputed: 0, same: 780 },
      { symbol: 'MSFT', n: 780, imputed: 0, same: 780 },
    ]);

    // A file source through the same command: its folder is found next to the config (this process runs elsewhere).
    const files = await runCliInProcess(['ingest', '--config', cfg, '--source', 'drop', '--format', 'json']);
    expect(files.code, files.stderr).toBe(0);
    expect(JSON.parse(files.stdout)).toEqual([{ source: 'drop', type: 'file', batches: 1, batches_written: 1, rows_read: 2, rows_written: 2, unfinished: 0, complete: true }]);

    // The shipped example config is valid (its module path resolves next to it).
    const example = await runCliInProcess(['config', 'check', resolve(import.meta.dirname, '../../examples/sources/ibpipe-walk.yaml')]);
    expect(example.code, example.stderr).toBe(0);

    const unknown = await runCliInProcess(['ingest', '--config', cfg, '--source', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--source: no source named "nope"');
  });
});
